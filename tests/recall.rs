//! HNSW results compared with the exact index on seeded data (property test).

mod common;
use common::*;
use embedrec::*;
use proptest::prelude::*;

fn recall_at_10(index: IndexKind, metric: Metric, seed: u64, n: usize, dim: usize) -> f64 {
    recall_with_threads(index, metric, seed, n, dim, 2)
}

fn recall_with_threads(
    index: IndexKind,
    metric: Metric,
    seed: u64,
    n: usize,
    dim: usize,
    threads: usize,
) -> f64 {
    // Held-out queries from the same distribution: the last 50 generated rows are not inserted.
    let (all_ids, all_v, all_a) = catalog(n + 50, dim, seed);
    let (ids, v, a) = (
        &all_ids[..n],
        all_v.slice(embedrec::ndarray::s![..n, ..]),
        &all_a[..n],
    );
    let hnsw = Engine::new(
        EngineConfig::new(dim)
            .with_metric(metric)
            .with_index(index)
            .with_cache(0, 0, None)
            .with_threads(threads),
    )
    .unwrap();
    let exact = Engine::new(
        EngineConfig::new(dim)
            .with_metric(metric)
            .with_index(IndexKind::Exact)
            .with_cache(0, 0, None),
    )
    .unwrap();
    hnsw.upsert_items(ids, v, Some(a)).unwrap();
    exact.upsert_items(ids, v, Some(a)).unwrap();
    let (mut found, mut total) = (0usize, 0usize);
    for row in n..n + 50 {
        let q = all_v.row(row).to_vec();
        let truth = ids_of(&exact.search(&q, 10, None).unwrap());
        let got = ids_of(&hnsw.search(&q, 10, None).unwrap());
        found += got.iter().filter(|g| truth.contains(g)).count();
        total += truth.len();
    }
    found as f64 / total as f64
}

fn ids_of(h: &[Hit]) -> Vec<String> {
    ids(h)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, .. ProptestConfig::default() })]
    #[test]
    fn hnsw_recall_at_10_is_at_least_095(seed in 0u64..1_000_000, metric_i in 0usize..3, native in proptest::bool::ANY) {
        let metric = [Metric::Cosine, Metric::Dot, Metric::L2][metric_i];
        let index = if native { IndexKind::Native } else { common::reference_index() };
        let r = recall_at_10(IndexKind::NativeInt8, metric, seed, 5_000, 24);
        prop_assert!(r >= 0.95, "recall@10 = {r} for NativeInt8 {metric:?}, seed {seed}");
        let r = recall_at_10(index, metric, seed, 5_000, 24);
        prop_assert!(r >= 0.95, "recall@10 = {r} for {index:?} {metric:?}, seed {seed}");
    }
}

#[test]
fn hnsw_recall_each_metric_fixed_seed() {
    for index in [
        IndexKind::Native,
        IndexKind::NativeInt8,
        common::reference_index(),
    ] {
        for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
            let r = recall_at_10(index, metric, 1, 5_000, 24);
            assert!(r >= 0.95, "recall@10 = {r} for {index:?} {metric:?}");
        }
    }
}

/// The graph walked on one-bit codes finds the true top 10 once the search is wide enough
/// (the coarse codes only steer the walk; kept candidates are re-scored exactly), for each
/// metric, on embedding-like data (a 16-dimensional cluster mixture mapped into 384
/// dimensions, plus noise), and returns exact scores.
#[test]
fn one_bit_codes_reach_full_recall_with_a_wide_search() {
    let (n, dim, rank) = (4_000, 384, 16);
    let mut r = SplitMix64(9);
    let map: Vec<f32> = (0..rank * dim).map(|_| r.normal() * 0.25).collect();
    let centres: Vec<Vec<f32>> = (0..40)
        .map(|_| (0..rank).map(|_| r.normal()).collect())
        .collect();
    let mut all_v = embedrec::ndarray::Array2::<f32>::zeros((n + 40, dim));
    for i in 0..n + 40 {
        let c = &centres[r.below(40)];
        let z: Vec<f32> = c.iter().map(|x| x + 0.5 * r.normal()).collect();
        for d in 0..dim {
            let x: f32 = (0..rank).map(|k| z[k] * map[k * dim + d]).sum();
            all_v[[i, d]] = x + 0.05 * r.normal();
        }
    }
    let ids: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    let v = all_v.slice(embedrec::ndarray::s![..n, ..]);
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
        let make = |index| {
            let mut cfg = EngineConfig::new(dim)
                .with_metric(metric)
                .with_index(index)
                .with_cache(0, 0, None)
                .with_threads(2);
            cfg.exact_below = 0;
            cfg.ef_search = 200;
            let e = Engine::new(cfg).unwrap();
            e.upsert_items(&ids, v, None).unwrap();
            e
        };
        let (bits, exact) = (make(IndexKind::Native1Bit), make(IndexKind::Exact));
        assert_eq!(bits.stats().index, "native_1bit");
        let (mut found, mut total) = (0usize, 0usize);
        for row in n..n + 40 {
            let q = all_v.row(row).to_vec();
            let truth = exact.search(&q, 10, None).unwrap();
            let got = bits.search(&q, 10, None).unwrap();
            let truth_ids = ids_of(&truth);
            found += ids_of(&got)
                .iter()
                .filter(|g| truth_ids.contains(g))
                .count();
            total += truth.len();
            if got[0].id == truth[0].id {
                let want = truth[0].score;
                assert!((got[0].score - want).abs() <= 1e-5 * want.abs().max(1.0));
            }
        }
        let recall = found as f64 / total as f64;
        assert!(recall >= 0.97, "{metric:?}: recall@10 {recall}");
    }
}

#[test]
fn native_build_quality_is_the_same_with_one_or_two_threads() {
    for metric in [Metric::L2, Metric::Cosine] {
        let one = recall_with_threads(IndexKind::Native, metric, 3, 6_000, 24, 1);
        let two = recall_with_threads(IndexKind::Native, metric, 3, 6_000, 24, 2);
        assert!(
            one >= 0.95 && two >= 0.95,
            "{metric:?}: 1 thread {one}, 2 threads {two}"
        );
        assert!(
            (one - two).abs() <= 0.02,
            "{metric:?}: 1 thread {one}, 2 threads {two}"
        );
    }
}

/// Recall of the graph path (the exact fallback for selective filters switched off) against
/// the exact index, with a filter and after deleting 10 % of the items.
#[test]
fn native_filtered_and_post_delete_recall() {
    let (n, dim) = (6_000, 24);
    let (all_ids, all_v, all_a) = catalog(n + 50, dim, 11);
    let mut cfg = EngineConfig::new(dim)
        .with_metric(Metric::L2)
        .with_cache(0, 0, None);
    cfg.exact_filter_fraction = 0.0;
    let graph = Engine::new(cfg.clone()).unwrap();
    let exact = Engine::new(cfg.with_index(IndexKind::Exact)).unwrap();
    for e in [&graph, &exact] {
        e.upsert_items(
            &all_ids[..n],
            all_v.slice(embedrec::ndarray::s![..n, ..]),
            Some(&all_a[..n]),
        )
        .unwrap();
    }
    let recall = |filter: Option<(&Filter, f64)>, removed: &[String]| {
        let (mut found, mut total) = (0usize, 0usize);
        for row in n..n + 50 {
            let q = all_v.row(row).to_vec();
            let f = filter.map(|(f, _)| f);
            let truth = ids_of(&exact.search(&q, 10, f).unwrap());
            let got = ids_of(&graph.search(&q, 10, f).unwrap());
            for g in &got {
                assert!(!removed.contains(g), "removed item {g} returned");
                let i: usize = g[1..].parse().unwrap();
                if let Some((_, max)) = filter {
                    let pop = all_a[i].numbers[1].1;
                    assert!(
                        pop <= max,
                        "item {g} with popularity {pop} passed the filter"
                    );
                }
            }
            found += got.iter().filter(|g| truth.contains(g)).count();
            total += truth.len();
        }
        found as f64 / total as f64
    };
    // popularity = i % 100: `<= 9` passes 10 %, `<= 0` passes 1 %.
    for (max, label) in [(9.0, "10%"), (0.0, "1%")] {
        let f = Filter::new().range("popularity", None, Some(max));
        let r = recall(Some((&f, max)), &[]);
        assert!(r >= 0.95, "filtered ({label}) recall@10 = {r}");
    }
    let removed: Vec<String> = all_ids[..n].iter().step_by(10).cloned().collect();
    for e in [&graph, &exact] {
        e.remove_items(&removed).unwrap();
    }
    let r = recall(None, &removed);
    assert!(r >= 0.95, "recall@10 after deleting 10 % = {r}");
}

/// Replacing every item's vector unlinks and re-links every node, several times over: the
/// upper-level link pool fills with dead lists and is compacted; the graph must stay as good,
/// and survive a save/load round trip unchanged.
#[test]
fn native_repeated_reupserts_keep_recall_and_round_trip() {
    let (n, dim) = (6_000, 16);
    let cfg = EngineConfig::new(dim)
        .with_metric(Metric::L2)
        .with_cache(0, 0, None);
    let graph = Engine::new(cfg.clone()).unwrap();
    let exact = Engine::new(cfg.with_index(IndexKind::Exact)).unwrap();
    let mut last = None;
    for round in 0..4u64 {
        let (all_ids, all_v, _) = catalog(n + 50, dim, 100 + round);
        for e in [&graph, &exact] {
            e.upsert_items(
                &all_ids[..n],
                all_v.slice(embedrec::ndarray::s![..n, ..]),
                None,
            )
            .unwrap();
        }
        last = Some(all_v);
    }
    assert_eq!(graph.len(), n);
    let all_v = last.unwrap();
    let queries: Vec<Vec<f32>> = (n..n + 50).map(|r| all_v.row(r).to_vec()).collect();
    let (mut found, mut total) = (0usize, 0usize);
    for q in &queries {
        let truth = ids_of(&exact.search(q, 10, None).unwrap());
        let got = ids_of(&graph.search(q, 10, None).unwrap());
        found += got.iter().filter(|g| truth.contains(g)).count();
        total += truth.len();
    }
    let r = found as f64 / total as f64;
    assert!(r >= 0.95, "recall@10 after 4 rounds of re-upserts = {r}");
    let loaded = Engine::from_bytes(&graph.to_bytes().unwrap()).unwrap();
    for q in &queries {
        assert_eq!(
            graph.search(q, 10, None).unwrap(),
            loaded.search(q, 10, None).unwrap()
        );
    }
}

/// Int8 and f16 vector storage, for every metric and index kind: recall@10 against the exact
/// answer on the f32 vectors stays high, every returned score is the exact score of the
/// stored (decoded) vector, stored vectors are within half a quantisation step of the input
/// (int8: max / 127; f16: 2⁻¹¹ relative), and the vectors take about a quarter (int8) or a
/// half (f16) of the f32 bytes.
#[test]
fn compressed_storage_recall_scores_and_memory() {
    let (n, dim) = (3_000, 48);
    let (all_ids, all_v, all_a) = catalog(n + 40, dim, 17);
    let (item_ids, v, a) = (
        &all_ids[..n],
        all_v.slice(embedrec::ndarray::s![..n, ..]),
        &all_a[..n],
    );
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
        let make = |index, storage| {
            let mut cfg = EngineConfig::new(dim)
                .with_metric(metric)
                .with_index(index)
                .with_vector_storage(storage)
                .with_cache(0, 0, None)
                .with_threads(2);
            cfg.exact_below = 0;
            let e = Engine::new(cfg).unwrap();
            e.upsert_items(item_ids, v, Some(a)).unwrap();
            e
        };
        let truth_engine = make(IndexKind::Exact, VectorStorage::F32);
        for (storage, index) in [VectorStorage::Int8, VectorStorage::F16]
            .into_iter()
            .flat_map(|s| {
                [IndexKind::Exact, IndexKind::Native, IndexKind::NativeInt8].map(|i| (s, i))
            })
        {
            let e = make(index, storage);
            let (mut found, mut total) = (0usize, 0usize);
            for row in n..n + 40 {
                let q = all_v.row(row).to_vec();
                let truth = ids_of(&truth_engine.search(&q, 10, None).unwrap());
                let hits = e.search(&q, 10, None).unwrap();
                found += ids_of(&hits).iter().filter(|g| truth.contains(g)).count();
                total += truth.len();
                for h in &hits {
                    let stored = e.item_vector(&h.id).unwrap();
                    let want = match metric {
                        Metric::Cosine => {
                            embedrec::dot(&q, &stored)
                                / (embedrec::dot(&q, &q).sqrt()
                                    * embedrec::dot(&stored, &stored).sqrt())
                        }
                        Metric::Dot => embedrec::dot(&q, &stored),
                        Metric::L2 => -embedrec::l2_sq(&q, &stored),
                    };
                    assert!(
                        (h.score - want).abs() <= 1e-4 * want.abs().max(1.0),
                        "{metric:?} {storage:?} {index:?} {}: score {} vs {want}",
                        h.id,
                        h.score
                    );
                }
            }
            let recall = found as f64 / total as f64;
            let floor = if storage == VectorStorage::F16 {
                0.98
            } else {
                0.9
            };
            assert!(
                recall >= floor,
                "{metric:?} {storage:?} {index:?}: recall@10 {recall}"
            );
        }
        let bytes_f32 = truth_engine.stats().vector_memory_bytes;
        for storage in [VectorStorage::Int8, VectorStorage::F16] {
            let e = make(IndexKind::Native, storage);
            for r in [0, 1_234, n - 1] {
                let (input, stored) = (v.row(r).to_vec(), e.item_vector(&item_ids[r]).unwrap());
                let top = input.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                for (x, y) in input.iter().zip(&stored) {
                    let half_step = match storage {
                        VectorStorage::Int8 => top / 127.0 * 0.5001,
                        _ => x.abs() / 2048.0 + 3e-8,
                    };
                    assert!(
                        (x - y).abs() <= half_step,
                        "{metric:?} {storage:?} row {r}: {x} vs {y}"
                    );
                }
            }
            let bytes = e.stats().vector_memory_bytes;
            let share = if storage == VectorStorage::F16 {
                0.55
            } else {
                1.0 / 3.0
            };
            assert!(
                (bytes as f64) < share * bytes_f32 as f64,
                "{metric:?} {storage:?}: {bytes} bytes vs {bytes_f32} of f32"
            );
        }
    }
}
