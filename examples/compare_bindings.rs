//! Rust side of `scripts/compare_bindings.sh`: loads the engines the Python script saved and
//! times the same calls the Python and Node scripts time, printing one JSON line.
//!
//! `cargo run --release -p embedrec-examples --example compare_bindings -- small.embedrec big.embedrec`

use embedrec::{Engine, RecommendOptions};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), embedrec::Error> {
    let args: Vec<String> = std::env::args().collect();
    let (small, big) = (Engine::load(&args[1])?, Engine::load(&args[2])?);
    let opts = RecommendOptions::default();
    // Per-call cost of a cache hit (the smallest real call).
    small.recommend("u0", 10, &opts)?;
    let mut per_call = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        for _ in 0..1000 {
            std::hint::black_box(small.recommend("u0", 10, &opts)?);
        }
        per_call.push(t.elapsed().as_secs_f64() * 1e6 / 1000.0);
    }
    // recommend_batch on the big engine (cache disabled in its config).
    let users: Vec<String> = (0..1000).map(|u| format!("u{u}")).collect();
    let mut batch = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        std::hint::black_box(big.recommend_batch(&users, 10, &opts)?);
        batch.push(t.elapsed().as_secs_f64());
    }
    let b = median(batch);
    println!(
        "{{\"lang\": \"rust\", \"cache_hit_call_us\": {:.3}, \"recommend_batch_s\": {:.4}, \"users_per_s\": {:.0}}}",
        median(per_call),
        b,
        1000.0 / b
    );
    Ok(())
}
