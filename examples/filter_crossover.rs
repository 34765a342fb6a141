//! # Where does the exact path beat the graph for filtered search?
//!
//! `cargo run --release -p embedrec-examples --example filter_crossover [n]` (default n = 100,000, dim 64, cosine).
//!
//! Items carry a `bucket` attribute uniform in 0..1000, so `bucket < 10 * p` passes `p` % of
//! them. For each selectivity we time (median over 200 queries, k = 10, cache off):
//! - the **graph** path: HNSW with `exact_filter_fraction = 0` (widened to `k / fraction`
//!   candidates, then filtered);
//! - the **exact** path: a scan of the allowed subset;
//!
//! and report the graph path's recall@10 against the exact answer. The engine's default
//! `exact_filter_fraction` is chosen from this table (see README).

use embedrec::ndarray::Array2;
use embedrec::{Engine, EngineConfig, Filter, IndexKind, ItemAttrs, Metric};
use std::time::Instant;

use embedrec::SplitMix64 as Rng;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), embedrec::Error> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let dim = 64;
    let mut r = Rng(7);
    let centres: Vec<Vec<f32>> = (0..100)
        .map(|_| (0..dim).map(|_| r.normal()).collect())
        .collect();
    let mut v = Array2::zeros((n + 200, dim));
    for i in 0..n + 200 {
        let c = (r.next_u64() % 100) as usize;
        for d in 0..dim {
            v[[i, d]] = centres[c][d] + 0.5 * r.normal();
        }
    }
    let ids: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
    let attrs: Vec<ItemAttrs> = (0..n)
        .map(|_| ItemAttrs::default().number("bucket", (r.next_u64() % 1000) as f64))
        .collect();
    let items = v.slice(embedrec::ndarray::s![..n, ..]);

    let mut graph_cfg = EngineConfig::new(dim)
        .with_metric(Metric::Cosine)
        .with_cache(0, 0, None);
    graph_cfg.exact_filter_fraction = 0.0;
    let graph = Engine::new(graph_cfg)?;
    let t = Instant::now();
    graph.upsert_items(&ids, items, Some(&attrs))?;
    eprintln!("HNSW build of {n} x {dim}: {:.1?}", t.elapsed());
    let exact = Engine::new(
        EngineConfig::new(dim)
            .with_metric(Metric::Cosine)
            .with_index(IndexKind::Exact)
            .with_cache(0, 0, None),
    )?;
    exact.upsert_items(&ids, items, Some(&attrs))?;

    println!(
        "n = {n}, dim = {dim}, k = 10, ef_search = 128, threads = {}",
        graph.stats().threads
    );
    println!("| pass fraction | graph path median µs | exact path median µs | graph recall@10 |");
    println!("|---|---|---|---|");
    for pct in [0.5f64, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0] {
        let f = Filter::new().range("bucket", None, Some(pct * 10.0 - 1.0));
        let (mut tg, mut te, mut found, mut total) = (vec![], vec![], 0usize, 0usize);
        for q in 0..200 {
            let query = v.row(n + q).to_vec();
            let t = Instant::now();
            let g = graph.search(&query, 10, Some(&f))?;
            tg.push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            let e = exact.search(&query, 10, Some(&f))?;
            te.push(t.elapsed().as_secs_f64() * 1e6);
            found += g.iter().filter(|h| e.iter().any(|x| x.id == h.id)).count();
            total += e.len();
        }
        println!(
            "| {pct}% | {:.0} | {:.0} | {:.3} |",
            median(tg),
            median(te),
            found as f64 / total.max(1) as f64
        );
    }
    Ok(())
}
