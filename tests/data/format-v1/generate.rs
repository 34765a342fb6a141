//! Writes the version-1 engine files of this directory and the answers they must give.
//! It was run once, as an example of the last build that wrote format version 1
//! (`cargo run --release --example generate -- tests/data/format-v1`); the files are kept so
//! that every later build proves it still loads them (tests/persistence.rs).

use embedrec::*;
use embedrec::ndarray::Array2;
use std::fmt::Write;

/// A small deterministic generator (xorshift), so the files are the same on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

fn build(storage: VectorStorage, metric: Metric) -> Engine {
    let (n, dim) = (300, 8);
    let e = Engine::new(
        EngineConfig::new(dim)
            .with_metric(metric)
            .with_vector_storage(storage)
            .with_index(IndexKind::Native)
            .with_threads(1),
    )
    .unwrap();
    let mut r = Rng(7);
    let v = Array2::from_shape_fn((n, dim), |_| r.next());
    let ids: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
    let genres = ["rock", "jazz", "folk"];
    let attrs: Vec<ItemAttrs> = (0..n)
        .map(|i| ItemAttrs::tags([genres[i % 3]]).number("year", 1960.0 + (i % 60) as f64))
        .collect();
    e.upsert_items(&ids, v.view(), Some(&attrs)).unwrap();
    e.remove_items(&["i5", "i6"]).unwrap();
    // Interactions, some on items that have no vector (introduced by the log).
    let (mut users, mut items) = (Vec::new(), Vec::new());
    for u in 0..40 {
        for j in 0..8 {
            users.push(format!("u{u}"));
            let i = (u * 7 + j * 13) % 320;
            items.push(if i >= 300 { format!("x{i}") } else { format!("i{i}") });
        }
    }
    e.add_interactions(&users, &items, None, None).unwrap();
    e
}

fn answers(e: &Engine, out: &mut String) {
    let q = [0.3, -0.2, 0.1, 0.5, -0.4, 0.2, 0.0, 0.1];
    let show = |h: Vec<Hit>| h.iter().map(|h| h.id.clone()).collect::<Vec<_>>().join(" ");
    writeln!(out, "len {}", e.len()).unwrap();
    writeln!(out, "search {}", show(e.search(&q, 10, None).unwrap())).unwrap();
    let f = Filter::new().tags_any(["jazz"]).range("year", Some(1990.0), None);
    writeln!(out, "filtered {}", show(e.search(&q, 10, Some(&f)).unwrap())).unwrap();
    writeln!(out, "similar {}", show(e.similar("i7", 5, None).unwrap())).unwrap();
    let o = RecommendOptions::default();
    writeln!(out, "recommend {}", show(e.recommend("u3", 5, &o).unwrap())).unwrap();
}

fn main() {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).expect("output directory"));
    for (name, storage, metric, model) in [
        ("cosine-als", VectorStorage::F32, Metric::Cosine, true),
        ("l2-int8", VectorStorage::Int8, Metric::L2, false),
    ] {
        let e = build(storage, metric);
        if model {
            let spec = ModelSpec::parse("als").unwrap();
            e.fit(&spec, None).unwrap();
        }
        let mut out = String::new();
        answers(&e, &mut out);
        e.save(dir.join(format!("{name}.embedrec"))).unwrap();
        std::fs::write(dir.join(format!("{name}.answers")), out).unwrap();
    }
}
