//! HNSW results compared with the exact index on seeded data (property test).

mod common;
use common::*;
use embedrec::*;
use proptest::prelude::*;

fn recall_at_10(index: IndexKind, metric: Metric, seed: u64, n: usize, dim: usize) -> f64 {
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
            .with_threads(2),
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
        let index = if native { IndexKind::Native } else { IndexKind::Hnsw };
        let r = recall_at_10(index, metric, seed, 5_000, 24);
        prop_assert!(r >= 0.95, "recall@10 = {r} for {index:?} {metric:?}, seed {seed}");
    }
}

#[test]
fn hnsw_recall_each_metric_fixed_seed() {
    for index in [IndexKind::Native, IndexKind::Hnsw] {
        for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
            let r = recall_at_10(index, metric, 1, 5_000, 24);
            assert!(r >= 0.95, "recall@10 = {r} for {index:?} {metric:?}");
        }
    }
}
