//! Sequences of operations (upserts, attributes, removals, interactions, fits, factors out
//! and in, queries with diversity, explanations, batches, save and load)
//! on a small engine: every call returns a result or an error, never a panic, and after each
//! step the engine's invariants hold (queries return at most k live items, best first; what
//! it saves loads back equal in size, users and answers).
#![no_main]

use arbitrary::Arbitrary;
use embedrec::ndarray::Array2;
use embedrec::{Engine, EngineConfig, Filter, IndexKind, ItemAttrs, Metric, ModelSpec, RecommendOptions, VectorStorage};
use libfuzzer_sys::fuzz_target;

const DIM: usize = 4;

#[derive(Arbitrary, Debug)]
enum Op {
    Upsert { ids: Vec<u8>, seed: u16, tag: u8, year: i8 },
    Remove { ids: Vec<u8> },
    Interact { user: u8, item: u8, weight: u16, ts: i32 },
    Fit { model: u8, small: u8 },
    Search { seed: u16, k: u8, tag: Option<u8> },
    Similar { id: u8, k: u8 },
    Recommend { user: u8, k: u8, exclude_seen: bool },
    Session { items: Vec<u8>, k: u8 },
    Attributes { ids: Vec<u8>, tag: u8 },
    Diverse { user: u8, k: u8, diversity: u8 },
    Explain { user: u8, item: u8, k: u8 },
    Batch { first: u8, k: u8 },
    Factors,
    SaveLoad,
}

#[derive(Arbitrary, Debug)]
struct Case {
    metric: u8,
    index: u8,
    ops: Vec<Op>,
}

fn vector(seed: u16, i: usize) -> [f32; DIM] {
    let mut v = [0.0f32; DIM];
    for (d, x) in v.iter_mut().enumerate() {
        let h = (seed as u32).wrapping_mul(2_654_435_761).wrapping_add((i * DIM + d) as u32 * 40_503);
        *x = ((h >> 8) % 2001) as f32 / 1000.0 - 1.0 + 0.001;
    }
    v
}

fn check(e: &Engine, hits: &[embedrec::Hit], k: usize) {
    assert!(hits.len() <= k);
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score || w[1].score.is_nan()));
    assert!(hits.iter().all(|h| e.contains(&h.id)));
}

fuzz_target!(|case: Case| {
    let metric = [Metric::Cosine, Metric::Dot, Metric::L2][case.metric as usize % 3];
    let index = [IndexKind::Native, IndexKind::NativeInt8, IndexKind::Native1Bit, IndexKind::Exact]
        [case.index as usize % 4];
    let storage = [VectorStorage::F32, VectorStorage::Int8, VectorStorage::F16][case.index as usize / 4 % 3];
    let mut cfg = EngineConfig::new(DIM)
        .with_metric(metric)
        .with_index(index)
        .with_vector_storage(storage)
        .with_threads(1);
    cfg.exact_below = 0;
    let mut e = Engine::new(cfg).unwrap();
    for op in case.ops.into_iter().take(64) {
        match op {
            Op::Upsert { ids, seed, tag, year } => {
                let ids: Vec<String> = ids.iter().take(32).map(|i| format!("i{}", i % 64)).collect();
                let mut v = Array2::<f32>::zeros((ids.len(), DIM));
                for r in 0..ids.len() {
                    v.row_mut(r).assign(&embedrec::ndarray::arr1(&vector(seed, r)));
                }
                let attrs: Vec<ItemAttrs> = (0..ids.len())
                    .map(|r| ItemAttrs::tags([format!("t{}", (tag as usize + r) % 4)]).number("year", year as f64))
                    .collect();
                let _ = e.upsert_items(&ids, v.view(), Some(&attrs));
            }
            Op::Remove { ids } => {
                let ids: Vec<String> = ids.iter().take(8).map(|i| format!("i{}", i % 64)).collect();
                let _ = e.remove_items(&ids);
            }
            Op::Interact { user, item, weight, ts } => {
                let _ = e.add_interactions(
                    &[format!("u{}", user % 16)],
                    &[format!("i{}", item % 64)],
                    Some(&[weight as f32 / 100.0]),
                    Some(&[ts as i64]),
                );
            }
            Op::Fit { model, small } => {
                let mut spec = ModelSpec::parse(["als", "item_knn", "ease", "popularity"][model as usize % 4]).unwrap();
                if let ModelSpec::Als(p) = &mut spec {
                    p.factors = 1 + small as usize % 8;
                    p.iterations = 1 + small as usize % 3;
                }
                let _ = e.fit(&spec, None);
            }
            Op::Search { seed, k, tag } => {
                let k = 1 + k as usize % 20;
                let f = tag.map(|t| Filter::new().tags_any([format!("t{}", t % 4)]));
                if let Ok(h) = e.search(&vector(seed, 0), k, f.as_ref()) {
                    check(&e, &h, k);
                }
            }
            Op::Similar { id, k } => {
                let k = 1 + k as usize % 20;
                if let Ok(h) = e.similar(&format!("i{}", id % 64), k, None) {
                    check(&e, &h, k);
                }
            }
            Op::Recommend { user, k, exclude_seen } => {
                let k = 1 + k as usize % 20;
                let o = RecommendOptions { exclude_seen, ..Default::default() };
                if let Ok(h) = e.recommend(&format!("u{}", user % 16), k, &o) {
                    check(&e, &h, k);
                }
            }
            Op::Session { items, k } => {
                let k = 1 + k as usize % 20;
                let items: Vec<String> = items.iter().take(8).map(|i| format!("i{}", i % 64)).collect();
                if let Ok(h) = e.recommend_for_items(&items, None, k, &RecommendOptions::default()) {
                    check(&e, &h, k);
                }
            }
            Op::Attributes { ids, tag } => {
                // Items that may not exist yet join without vectors.
                let ids: Vec<String> = ids.iter().take(8).map(|i| format!("i{}", i % 80)).collect();
                let attrs: Vec<ItemAttrs> = ids.iter().map(|_| ItemAttrs::tags([format!("t{}", tag % 4)])).collect();
                let _ = e.upsert_attributes(&ids, Some(&attrs));
            }
            Op::Diverse { user, k, diversity } => {
                let k = 1 + k as usize % 20;
                let o = RecommendOptions { diversity: diversity as f32 / 200.0, ..Default::default() };
                if let Ok(h) = e.recommend(&format!("u{}", user % 16), k, &o) {
                    // Re-ranked for variety: relevance scores need not decrease.
                    assert!(h.len() <= k && h.iter().all(|h| e.contains(&h.id)));
                }
            }
            Op::Explain { user, item, k } => {
                let k = 1 + k as usize % 20;
                if let Ok(h) = e.explain(&format!("u{}", user % 16), &format!("i{}", item % 80), k) {
                    assert!(h.len() <= k && h.iter().all(|h| e.contains(&h.id)));
                }
            }
            Op::Batch { first, k } => {
                // Enough users for the blocked path of a factor model.
                let k = 1 + k as usize % 20;
                let users: Vec<String> = (0..70).map(|j| format!("u{}", (first as usize + j) % 16)).collect();
                if let Ok(rows) = e.recommend_batch(&users, k, &RecommendOptions::default()) {
                    rows.iter().for_each(|h| check(&e, h, k));
                }
            }
            Op::Factors => {
                if let (Ok(items), Ok(users)) = (e.item_factors(), e.user_factors()) {
                    let p = embedrec::AlsParams { factors: items.values.ncols(), ..Default::default() };
                    e.install_factors(&items.ids, items.values.view(), Some((&users.ids, users.values.view())), &p)
                        .expect("exported factors install");
                }
            }
            Op::SaveLoad => {
                let bytes = e.to_bytes().expect("an engine encodes");
                let back = Engine::from_bytes(&bytes).expect("what the engine saves loads again");
                assert_eq!(back.len(), e.len());
                assert_eq!(back.stats().users, e.stats().users);
                assert_eq!(back.stats().interactions, e.stats().interactions);
                assert_eq!(back.model_name(), e.model_name());
                e = back;
            }
        }
    }
});
