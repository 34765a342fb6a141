//! # Native HNSW vs hnsw_rs vs exact, on the same engine data
//!
//! `cargo run --release -p embedrec-examples --example index_compare [n] [dim]` (default 100,000 x 64): a Gaussian
//! mixture of 1,000 clusters (seeded), 1,000 held-out queries, L2. Prints build time, index
//! memory, and recall@10 vs single-thread queries per second for ef in {16, 32, 64, 128, 256}.

use embedrec::ndarray::{Array2, s};
use embedrec::{Engine, EngineConfig, IndexKind, Metric, SplitMix64};
use std::time::Instant;

fn main() -> Result<(), embedrec::Error> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (n, dim) = (
        args.first().copied().unwrap_or(100_000),
        args.get(1).copied().unwrap_or(64),
    );
    let nq = 1_000;
    let mut r = SplitMix64(11);
    let centres: Vec<Vec<f32>> = (0..1000)
        .map(|_| (0..dim).map(|_| r.normal()).collect())
        .collect();
    let mut v = Array2::<f32>::zeros((n + nq, dim));
    for i in 0..n + nq {
        let c = r.below(1000);
        for d in 0..dim {
            v[[i, d]] = centres[c][d] + 0.3 * r.normal();
        }
    }
    let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let data = v.slice(s![..n, ..]);
    let exact = Engine::new(
        EngineConfig::new(dim)
            .with_metric(Metric::L2)
            .with_index(IndexKind::Exact)
            .with_cache(0, 0, None),
    )?;
    exact.upsert_items(&ids, data, None)?;
    let truth: Vec<Vec<String>> = (0..nq)
        .map(|q| {
            exact
                .search(v.row(n + q).as_slice().unwrap(), 10, None)
                .map(|h| h.into_iter().map(|x| x.id.to_string()).collect())
        })
        .collect::<Result<_, _>>()?;
    println!(
        "n = {n}, dim = {dim}, L2, m = 16, ef_construction = 200, queries = {nq}, 1 search thread"
    );
    println!("| index | build s | index MB | ef | recall@10 | QPS |");
    println!("|---|---|---|---|---|---|");
    for kind in [IndexKind::Native, IndexKind::Hnsw] {
        let mut cfg = EngineConfig::new(dim)
            .with_metric(Metric::L2)
            .with_index(kind)
            .with_hnsw(16, 200, 64)
            .with_cache(0, 0, None);
        cfg.exact_below = 0;
        let graph = match Engine::new(cfg) {
            Ok(g) => g,
            Err(e) => {
                // hnsw_rs is a benchmark reference behind the `hnsw-rs` cargo feature.
                println!("{}: skipped ({e})", kind.name());
                continue;
            }
        };
        let t = Instant::now();
        graph.upsert_items(&ids, data, None)?;
        let build = t.elapsed().as_secs_f64();
        let mem = graph.stats().index_memory_bytes;
        let bytes = graph.to_bytes()?;
        let t = Instant::now();
        let loaded = Engine::from_bytes(&bytes)?;
        println!(
            "{}: build {build:.1} s, file {:.1} MB, load {:.2} s",
            kind.name(),
            bytes.len() as f64 / 1e6,
            t.elapsed().as_secs_f64()
        );
        drop(loaded);
        for ef in [16usize, 32, 64, 128, 256] {
            graph.set_ef_search(ef)?;
            let t = Instant::now();
            let mut found = 0usize;
            for (q, want) in truth.iter().enumerate() {
                let hits = graph.search(v.row(n + q).as_slice().unwrap(), 10, None)?;
                found += hits
                    .iter()
                    .filter(|h| want.iter().any(|t| **t == *h.id))
                    .count();
            }
            let secs = t.elapsed().as_secs_f64();
            println!(
                "| {} | {:.1} | {:.1} | {ef} | {:.3} | {:.0} |",
                kind.name(),
                build,
                mem as f64 / 1e6,
                found as f64 / (10 * nq) as f64,
                nq as f64 / secs
            );
        }
    }
    Ok(())
}
