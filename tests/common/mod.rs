//! Shared helpers for the integration tests: a seeded generator and small catalogs.
#![allow(dead_code)]

use embedrec::ndarray::Array2;
use embedrec::{Engine, EngineConfig, IndexKind, ItemAttrs, Metric};

/// SplitMix64: deterministic, dependency-free.
pub struct Rng(pub u64);
impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^ (z >> 31)
    }
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    pub fn normal(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

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
