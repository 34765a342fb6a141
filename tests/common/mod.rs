//! Shared helpers for the integration tests: a seeded generator and small catalogs.
#![allow(dead_code)]

use embedrec::ndarray::Array2;
use embedrec::{Engine, EngineConfig, IndexKind, ItemAttrs, Metric};

pub use embedrec::SplitMix64 as Rng;

pub const GENRES: [&str; 5] = ["rock", "jazz", "pop", "techno", "folk"];

/// `n` clustered vectors with a genre tag (by cluster), a `year` and a `popularity`.
pub fn catalog(n: usize, dim: usize, seed: u64) -> (Vec<String>, Array2<f32>, Vec<ItemAttrs>) {
    let mut r = Rng(seed);
    let centers: Vec<Vec<f32>> = (0..GENRES.len())
        .map(|_| (0..dim).map(|_| r.normal()).collect())
        .collect();
    let mut v = Array2::<f32>::zeros((n, dim));
    let mut attrs = Vec::with_capacity(n);
    for i in 0..n {
        let g = i % GENRES.len();
        for d in 0..dim {
            v[[i, d]] = centers[g][d] + 0.6 * r.normal();
        }
        attrs.push(
            ItemAttrs::tags([GENRES[g]])
                .number("year", 1960.0 + (i % 60) as f64)
                .number("popularity", (i % 100) as f64),
        );
    }
    ((0..n).map(|i| format!("t{i}")).collect(), v, attrs)
}

pub fn engine(n: usize, dim: usize, metric: Metric, index: IndexKind) -> Engine {
    let e = Engine::new(
        EngineConfig::new(dim)
            .with_metric(metric)
            .with_index(index)
            .with_threads(2),
    )
    .unwrap();
    let (ids, v, a) = catalog(n, dim, 42);
    e.upsert_items(&ids, v.view(), Some(&a)).unwrap();
    e
}

pub fn ids(hits: &[embedrec::Hit]) -> Vec<String> {
    hits.iter().map(|h| h.id.to_string()).collect()
}

/// Every index kind this build has: the native graph (f32 and int8 walks), exact, and the
/// hnsw_rs reference when the `hnsw-rs` feature is on.
pub fn index_kinds() -> Vec<IndexKind> {
    let mut kinds = vec![IndexKind::Exact, IndexKind::Native, IndexKind::NativeInt8];
    if cfg!(feature = "hnsw-rs") {
        kinds.push(IndexKind::Hnsw);
    }
    kinds
}

/// The second graph index recall is checked on: hnsw_rs when the feature is on, else the
/// native graph walked on int8 codes.
pub fn reference_index() -> IndexKind {
    if cfg!(feature = "hnsw-rs") {
        IndexKind::Hnsw
    } else {
        IndexKind::NativeInt8
    }
}

// ---- building damaged files: the container's table and checksums (docs/format.md)

pub fn fix_header_crc(b: &mut [u8]) {
    let c = crc32(&b[..28]);
    b[28..32].copy_from_slice(&c.to_le_bytes());
}

pub fn crc_table_fix(b: &mut [u8]) -> u32 {
    let n = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    let c = crc32(&b[32..32 + 32 * n]);
    b[24..28].copy_from_slice(&c.to_le_bytes());
    fix_header_crc(b);
    c
}

/// Bitwise CRC-32 (IEEE), independent of the crate's implementation.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= byte as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Finds a section's (offset, length) in the table by kind.
pub fn section(b: &[u8], kind: u32) -> Option<(usize, usize)> {
    let n = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    (0..n).find_map(|i| {
        let e = &b[32 + i * 32..32 + (i + 1) * 32];
        (u32::from_le_bytes(e[0..4].try_into().unwrap()) == kind).then(|| {
            let off = u64::from_le_bytes(e[8..16].try_into().unwrap()) as usize;
            let len = u64::from_le_bytes(e[16..24].try_into().unwrap()) as usize;
            (off, len)
        })
    })
}

/// Rewrites the checksum of section `kind` and then the table and header checksums.
pub fn fix_section_crc(b: &mut [u8], kind: u32) {
    let n = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    for i in 0..n {
        let e0 = 32 + i * 32;
        if u32::from_le_bytes(b[e0..e0 + 4].try_into().unwrap()) == kind {
            let off = u64::from_le_bytes(b[e0 + 8..e0 + 16].try_into().unwrap()) as usize;
            let len = u64::from_le_bytes(b[e0 + 16..e0 + 24].try_into().unwrap()) as usize;
            let c = crc32(&b[off..off + len]);
            b[e0 + 24..e0 + 28].copy_from_slice(&c.to_le_bytes());
        }
    }
    crc_table_fix(b);
}
