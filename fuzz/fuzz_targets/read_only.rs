//! Any bytes served read-only in place yield an engine or an error, never a panic, an abort
//! or a read out of bounds: the rows, ids and norms are used in place without being checked
//! one by one, so queries on hostile bytes must stay in bounds, and `verify` must report
//! damage as an error. Every other input goes through a file opened memory-mapped (the same
//! decode over a mapping instead of a buffer).
#![no_main]

use embedrec::{Engine, OpenOptions, RecommendOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opened = if data.len() % 2 == 0 {
        Engine::from_bytes_read_only(data.to_vec())
    } else {
        let dir = std::env::temp_dir().join(format!("embedrec-fuzz-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("input.embedrec");
        std::fs::write(&path, data).expect("temp file");
        Engine::open(&path, None, OpenOptions::default().with_read_only(true))
    };
    let Ok(e) = opened else {
        return;
    };
    let dim = e.dim();
    let _ = e.search(&vec![0.5; dim], 5, None);
    let _ = e.search(&vec![-1.0; dim], 50, None);
    for id in e.item_ids().iter().take(3) {
        let _ = e.similar(id, 5, None);
        let _ = e.recommend_for_items(&[id.as_ref()], None, 5, &RecommendOptions::default());
    }
    let _ = e.verify();
    assert!(e.add_interactions(&["u"], &["i"], None, None).is_err());
});
