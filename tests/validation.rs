//! Bad input of every kind gets a clear error and leaves the engine unchanged.

mod common;
use common::*;
use embedrec::ndarray::{Array2, array};
use embedrec::*;

fn fingerprint(e: &Engine) -> (usize, Vec<String>) {
    (e.len(), ids(&e.search(&[1.0; 8], 20, None).unwrap()))
}

#[test]
fn config_limits_are_errors_not_exits() {
    for (m, ok) in [
        (0, false),
        (1, false),
        (2, true),
        (256, true),
        (257, false),
        (usize::MAX, false),
    ] {
        let r = Engine::new(EngineConfig::new(4).with_hnsw(m, 100, 50));
        assert_eq!(r.is_ok(), ok, "m = {m}");
        if let Err(e) = r {
            assert!(
                e.to_string().contains("config.m") && e.to_string().contains(&m.to_string()),
                "{e}"
            );
        }
    }
    // dim 0 is an engine without content vectors; past MAX_DIM is an error.
    assert!(Engine::new(EngineConfig::new(0)).is_ok());
    assert!(
        Engine::new(EngineConfig::new(MAX_DIM + 1))
            .unwrap_err()
            .to_string()
            .contains("config.dim")
    );
    assert!(Engine::new(EngineConfig::new(4).with_hnsw(16, 0, 10)).is_err());
    assert!(Engine::new(EngineConfig::new(4).with_cache(10, 100, Some(-1.0))).is_err());
    assert!(Engine::new(EngineConfig::new(4).with_recency_half_life(Some(f64::NAN))).is_err());
}

#[test]
fn bad_vectors_are_rejected_and_nothing_changes() {
    let e = engine(100, 8, Metric::Cosine, IndexKind::Native);
    let before = fingerprint(&e);
    // wrong dimension (d-1, d+1)
    for d in [7, 9] {
        let err = e
            .upsert_items(&["x"], Array2::<f32>::ones((1, d)).view(), None)
            .unwrap_err();
        assert!(
            matches!(err, Error::DimensionMismatch { expected: 8, got, .. } if got == d),
            "{err}"
        );
    }
    // NaN / inf in the middle of a batch: the valid rows before it are not applied either.
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut v = Array2::<f32>::ones((3, 8));
        v[[2, 5]] = bad;
        let err = e
            .upsert_items(&["ok1", "ok2", "bad"], v.view(), None)
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("vectors[2]") && msg.contains("[5]") && msg.contains("\"bad\""),
            "{msg}"
        );
    }
    // zero vector under cosine
    let err = e
        .upsert_items(&["zero"], Array2::<f32>::zeros((1, 8)).view(), None)
        .unwrap_err();
    assert!(err.to_string().contains("zero vector"), "{err}");
    // empty id, duplicate id within a call, row count mismatch, attribute count mismatch
    assert!(
        e.upsert_items(&[""], Array2::<f32>::ones((1, 8)).view(), None)
            .unwrap_err()
            .to_string()
            .contains("non-empty")
    );
    assert!(
        e.upsert_items(&["a", "a"], Array2::<f32>::ones((2, 8)).view(), None)
            .unwrap_err()
            .to_string()
            .contains("repeated")
    );
    assert!(
        e.upsert_items(&["a", "b"], Array2::<f32>::ones((1, 8)).view(), None)
            .is_err()
    );
    assert!(
        e.upsert_items(&["a"], Array2::<f32>::ones((1, 8)).view(), Some(&[]))
            .is_err()
    );
    // NaN attribute, empty tag
    let err = e
        .upsert_items(
            &["a"],
            Array2::<f32>::ones((1, 8)).view(),
            Some(&[ItemAttrs::default().number("year", f64::NAN)]),
        )
        .unwrap_err();
    assert!(err.to_string().contains("year"), "{err}");
    assert!(
        e.upsert_items(
            &["a"],
            Array2::<f32>::ones((1, 8)).view(),
            Some(&[ItemAttrs::tags([""])])
        )
        .is_err()
    );
    assert_eq!(fingerprint(&e), before);
}

#[test]
fn bad_queries_are_errors() {
    let e = engine(100, 8, Metric::Cosine, IndexKind::Native);
    assert!(
        e.search(&[1.0; 8], 0, None)
            .unwrap_err()
            .to_string()
            .contains("k")
    );
    assert!(e.search(&[1.0; 8], MAX_K + 1, None).is_err());
    assert!(matches!(
        e.search(&[1.0; 7], 5, None),
        Err(Error::DimensionMismatch { .. })
    ));
    let mut q = [1.0f32; 8];
    q[3] = f32::NAN;
    assert!(
        e.search(&q, 5, None)
            .unwrap_err()
            .to_string()
            .contains("query[3]")
    );
    assert!(
        e.search(&[0.0; 8], 5, None).is_err(),
        "zero query under cosine"
    );
    assert!(matches!(
        e.similar("nope", 5, None),
        Err(Error::UnknownItem { .. })
    ));
    assert!(e.similar("t1", 0, None).is_err());
    let err = e
        .search_batch(Array2::<f32>::ones((2, 3)).view(), 5, None)
        .unwrap_err();
    assert!(matches!(err, Error::DimensionMismatch { .. }));
    let mut qs = Array2::<f32>::ones((3, 8));
    qs[[1, 0]] = f32::INFINITY;
    assert!(
        e.search_batch(qs.view(), 5, None)
            .unwrap_err()
            .to_string()
            .contains("queries[1]")
    );
    assert!(
        e.recommend_for_items(&["t1", "ghost"], None, 5, &RecommendOptions::default())
            .unwrap_err()
            .to_string()
            .contains("ghost")
    );
    assert!(
        e.recommend_for_items(&["t1"], Some(&[1.0, 2.0]), 5, &RecommendOptions::default())
            .is_err()
    );
    let f = Filter::new().range("year", Some(f64::NAN), None);
    assert!(e.search(&[1.0; 8], 5, Some(&f)).is_err());
}

#[test]
fn bad_interactions_are_rejected_atomically() {
    let e = engine(50, 8, Metric::Cosine, IndexKind::Exact);
    let err = e
        .add_interactions(&["u", "u"], &["t1", ""], None, None)
        .unwrap_err();
    assert!(err.to_string().contains("item_ids[1]"), "{err}");
    assert_eq!(
        (e.stats().interactions, e.len()),
        (0, 50),
        "the valid first pair was not applied"
    );
    for w in [0.0f32, -1.0, f32::NAN, f32::INFINITY] {
        assert!(
            e.add_interactions(&["u"], &["t1"], Some(&[w]), None)
                .is_err(),
            "weight {w}"
        );
    }
    assert!(
        e.add_interactions(&["u"], &["t1", "t2"], None, None)
            .is_err()
    );
    assert!(e.add_interactions(&[""], &["t1"], None, None).is_err());
    assert!(
        e.add_interactions(&["u"], &["t1"], None, Some(&[1, 2]))
            .is_err()
    );
    assert!(matches!(
        e.remove_items(&["t1", "nope"]),
        Err(Error::UnknownItem { .. })
    ));
    assert!(e.contains("t1"), "remove is atomic");
    assert_eq!(e.stats().interactions, 0);
}

#[test]
fn empty_and_single_item_engines() {
    for index in common::index_kinds() {
        let e = Engine::new(EngineConfig::new(3).with_index(index)).unwrap();
        assert!(e.search(&[1.0, 0.0, 0.0], 5, None).unwrap().is_empty());
        e.upsert_items(&["only"], array![[1.0f32, 2.0, 3.0]].view(), None)
            .unwrap();
        assert_eq!(ids(&e.search(&[1.0, 0.0, 0.0], 5, None).unwrap()), ["only"]);
        assert!(e.similar("only", 5, None).unwrap().is_empty());
        let back = Engine::from_bytes(&e.to_bytes().unwrap()).unwrap();
        assert_eq!(back.len(), 1);
    }
}

#[test]
fn dot_and_l2_accept_zero_vectors() {
    for metric in [Metric::Dot, Metric::L2] {
        let e = Engine::new(EngineConfig::new(2).with_metric(metric)).unwrap();
        e.upsert_items(&["z", "a"], array![[0.0f32, 0.0], [1.0, 1.0]].view(), None)
            .unwrap();
        assert_eq!(e.search(&[0.0, 0.0], 2, None).unwrap().len(), 2);
    }
}
