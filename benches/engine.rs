//! Criterion benches on a synthetic catalog (default 100,000 x 64, cosine, native HNSW m=16,
//! ef_construction=200, ef_search=128; set EMBEDREC_BENCH_N to change the size).
//!
//! `cargo bench -p embedrec --bench engine` runs them; `-- --test` runs each once (CI smoke).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use embedrec::ndarray::Array2;
use embedrec::{Engine, EngineConfig, Filter, IndexKind, ItemAttrs, Metric, RecommendOptions};
use std::hint::black_box;
use std::time::Instant;

const DIM: usize = 64;

use embedrec::SplitMix64 as Rng;

fn n_items() -> usize {
    std::env::var("EMBEDREC_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

/// Gaussian mixture (100 clusters), genre tags by cluster, a `year` attribute.
fn data(n: usize, seed: u64) -> (Vec<String>, Array2<f32>, Vec<ItemAttrs>) {
    let mut r = Rng(seed);
    let centres: Vec<Vec<f32>> = (0..100)
        .map(|_| (0..DIM).map(|_| r.normal()).collect())
        .collect();
    let mut v = Array2::zeros((n, DIM));
    let mut attrs = Vec::with_capacity(n);
    for i in 0..n {
        let c = (r.next_u64() % 100) as usize;
        for d in 0..DIM {
            v[[i, d]] = centres[c][d] + 0.5 * r.normal();
        }
        attrs.push(
            ItemAttrs::tags([format!("g{}", c % 20)]).number("year", 1950.0 + (i % 75) as f64),
        );
    }
    ((0..n).map(|i| format!("item{i}")).collect(), v, attrs)
}

fn build(index: IndexKind, n: usize, cache: usize) -> Engine {
    let e = Engine::new(
        EngineConfig::new(DIM)
            .with_metric(Metric::Cosine)
            .with_index(index)
            .with_cache(cache, 256 << 20, None),
    )
    .unwrap();
    let (ids, v, a) = data(n, 1);
    e.upsert_items(&ids, v.view(), Some(&a)).unwrap();
    e
}

fn add_users(e: &Engine, users: usize, n: usize) -> Vec<String> {
    let mut r = Rng(5);
    let (mut u, mut it) = (Vec::new(), Vec::new());
    for user in 0..users {
        for _ in 0..30 {
            u.push(format!("user{user}"));
            it.push(format!("item{}", r.next_u64() as usize % n));
        }
    }
    e.add_interactions(&u, &it, None, None).unwrap();
    (0..users).map(|i| format!("user{i}")).collect()
}

fn benches(c: &mut Criterion) {
    let n = n_items();
    let t = Instant::now();
    let hnsw = build(IndexKind::Native, n, 0);
    eprintln!(
        "setup: HNSW build of {n} x {DIM} took {:.2?} on {} threads",
        t.elapsed(),
        hnsw.stats().threads
    );
    let exact = build(IndexKind::Exact, n, 0);
    let users = add_users(&hnsw, 1_000, n);
    // Held-out queries from the same mixture (the same seed generates the same centres).
    let (_, all, _) = data(n + 1_000, 1);
    let queries = all.slice(embedrec::ndarray::s![n.., ..]).to_owned();

    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    let small = (n / 10).max(1_000);
    let (ids, v, a) = data(small, 1);
    g.throughput(Throughput::Elements(small as u64));
    g.bench_function(BenchmarkId::new(hnsw.stats().index, small), |b| {
        b.iter(|| {
            let e = Engine::new(EngineConfig::new(DIM)).unwrap();
            e.upsert_items(&ids, v.view(), Some(&a)).unwrap();
            e
        })
    });
    g.finish();

    let mut g = c.benchmark_group("search_k10");
    let mut qi = 0usize;
    let mut next_q = || {
        qi = (qi + 1) % 1_000;
        queries.row(qi).to_vec()
    };
    g.bench_function(BenchmarkId::new(hnsw.stats().index, n), |b| {
        b.iter(|| black_box(hnsw.search(&next_q(), 10, None).unwrap()))
    });
    g.bench_function(BenchmarkId::new("exact", n), |b| {
        b.iter(|| black_box(exact.search(&next_q(), 10, None).unwrap()))
    });
    // Filters of decreasing selectivity: 5% (one tag of 20) and ~1% (tag + 1/75 of years).
    let f5 = Filter::new().tags_any(["g3"]);
    let f1 = Filter::new()
        .tags_any(["g3"])
        .range("year", Some(2000.0), Some(2003.0));
    g.bench_function(BenchmarkId::new("filter_5pct", n), |b| {
        b.iter(|| black_box(hnsw.search(&next_q(), 10, Some(&f5)).unwrap()))
    });
    g.bench_function(BenchmarkId::new("filter_1pct", n), |b| {
        b.iter(|| black_box(hnsw.search(&next_q(), 10, Some(&f1)).unwrap()))
    });
    g.finish();

    let mut g = c.benchmark_group("recommend_k10");
    let opts = RecommendOptions::default();
    let mut ui = 0usize;
    g.bench_function("cache_miss", |b| {
        b.iter(|| {
            ui = (ui + 1) % users.len();
            black_box(hnsw.recommend(&users[ui], 10, &opts).unwrap())
        })
    });
    let cached = build(IndexKind::Native, (n / 10).max(1_000), 10_000);
    let cu = add_users(&cached, 10, (n / 10).max(1_000));
    g.bench_function("cache_hit", |b| {
        b.iter(|| black_box(cached.recommend(&cu[0], 10, &opts).unwrap()))
    });
    g.finish();

    let mut g = c.benchmark_group("batch");
    g.sample_size(10);
    g.throughput(Throughput::Elements(users.len() as u64));
    g.bench_function(BenchmarkId::new("recommend_batch", users.len()), |b| {
        b.iter(|| black_box(hnsw.recommend_batch(&users, 10, &opts).unwrap()))
    });
    g.throughput(Throughput::Elements(queries.nrows() as u64));
    g.bench_function(BenchmarkId::new("search_batch", queries.nrows()), |b| {
        b.iter(|| black_box(hnsw.search_batch(queries.view(), 10, None).unwrap()))
    });
    g.finish();
}

criterion_group!(engine, benches);
criterion_main!(engine);
