//! Any journal beside a valid snapshot yields an engine or an error when opened: never a
//! panic or an abort. The input is a list of records the target frames with valid
//! checksums (so the fuzzer reaches the record decoder: `kind u8 | length u16 | payload`
//! repeated), and whatever bytes are left become a torn tail.
#![no_main]

use embedrec::{Engine, EngineConfig, OpenOptions, RecommendOptions, SyncMode};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// A snapshot of a small engine (dim 2, a few items and interactions), written once.
fn snapshot() -> &'static (PathBuf, [u8; 32]) {
    static S: OnceLock<(PathBuf, [u8; 32])> = OnceLock::new();
    S.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("embedrec-fuzz-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("e.embedrec");
        let e = Engine::new(EngineConfig::new(2).with_threads(1)).unwrap();
        let v = embedrec::ndarray::arr2(&[[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0]]);
        e.upsert_items(&["a", "b", "c"], v.view(), None).unwrap();
        e.add_interactions(&["u", "u", "v"], &["a", "b", "c"], None, None).unwrap();
        e.save(&path).unwrap();
        let head: [u8; 32] = std::fs::read(&path).unwrap()[..32].try_into().unwrap();
        (path, head)
    })
}

fuzz_target!(|data: &[u8]| {
    let (path, head) = snapshot();
    let mut wal = Vec::with_capacity(48 + data.len() + 64);
    wal.extend_from_slice(b"EMBEDWAL");
    wal.extend_from_slice(&1u16.to_le_bytes());
    wal.extend_from_slice(&[0; 6]);
    wal.extend_from_slice(head);
    let mut rest = data;
    while rest.len() >= 3 {
        let kind = u32::from(rest[0] % 6);
        let len = (u16::from_le_bytes([rest[1], rest[2]]) as usize).min(rest.len() - 3);
        let payload = &rest[3..3 + len];
        let mut h = crc32fast::Hasher::new();
        h.update(&kind.to_le_bytes());
        h.update(payload);
        wal.extend_from_slice(&(len as u32).to_le_bytes());
        wal.extend_from_slice(&h.finalize().to_le_bytes());
        wal.extend_from_slice(&kind.to_le_bytes());
        wal.extend_from_slice(payload);
        rest = &rest[3 + len..];
    }
    wal.extend_from_slice(rest);
    std::fs::write(embedrec::persist::journal_path(path), &wal).unwrap();
    let options = OpenOptions::default().with_sync(SyncMode::Off);
    if let Ok(e) = Engine::open(path, None, options) {
        let _ = e.search(&[0.5, 0.5], 3, None);
        let _ = e.recommend("u", 3, &RecommendOptions::default());
        e.close().unwrap();
    }
});
