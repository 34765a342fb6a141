//! Any bytes given to `Engine::from_bytes` yield an engine or an error: never a panic, an
//! abort or memory beyond the input's size. A loaded engine answers queries and saves a file
//! that loads again.
#![no_main]

use embedrec::{Engine, RecommendOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(e) = Engine::from_bytes(data) else {
        return;
    };
    let dim = e.dim();
    let _ = e.search(&vec![0.5; dim], 5, None);
    if let Some(id) = e.item_ids().first() {
        let _ = e.similar(id, 5, None);
        let _ = e.recommend_for_items(&[id.as_ref()], None, 5, &RecommendOptions::default());
    }
    let again = e.to_bytes().expect("a loaded engine encodes");
    let back = Engine::from_bytes(&again).expect("what a loaded engine saves loads again");
    assert_eq!(back.len(), e.len());
});
