//! Writes the engine file of this directory and the answers it must give: a `native_1bit`
//! index saved by the last build whose one-bit codes held the signs of the raw residual
//! (graph codes part `B1C1`, no rotation). It was run once, as an example of that build
//! (`cargo run --release --example generate -- tests/data/native-1bit-b1c1`); the file is
//! kept so that every later build proves it still loads it (tests/persistence.rs).

use embedrec::*;
use embedrec::ndarray::Array2;
use std::fmt::Write;

/// A small deterministic generator (xorshift), so the file is the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("output directory"));
    let (n, dim) = (400, 8);
    let mut config = EngineConfig::new(dim)
        .with_metric(Metric::Dot)
        .with_index(IndexKind::Native1Bit)
        .with_threads(1);
    // Every search walks the graph (no exact path for a small catalog).
    config.exact_below = 0;
    let e = Engine::new(config).unwrap();
    let mut r = Rng(11);
    let v = Array2::from_shape_fn((n, dim), |_| r.next());
    let ids: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
    let genres = ["rock", "jazz", "folk"];
    let attrs: Vec<ItemAttrs> = (0..n)
        .map(|i| ItemAttrs::tags([genres[i % 3]]).number("year", 1960.0 + (i % 60) as f64))
        .collect();
    e.upsert_items(&ids, v.view(), Some(&attrs)).unwrap();
    e.remove_items(&["i5", "i6"]).unwrap();
    let q = [0.3, -0.2, 0.1, 0.5, -0.4, 0.2, 0.0, 0.1];
    let show = |h: Vec<Hit>| h.iter().map(|h| h.id.to_string()).collect::<Vec<_>>().join(" ");
    let mut out = String::new();
    writeln!(out, "len {}", e.len()).unwrap();
    writeln!(out, "search {}", show(e.search(&q, 10, None).unwrap())).unwrap();
    let f = Filter::new().tags_any(["jazz"]).range("year", Some(1990.0), None);
    writeln!(out, "filtered {}", show(e.search(&q, 10, Some(&f)).unwrap())).unwrap();
    writeln!(out, "similar {}", show(e.similar("i7", 5, None).unwrap())).unwrap();
    e.save(dir.join("dot.embedrec")).unwrap();
    std::fs::write(dir.join("dot.answers"), out).unwrap();
}
