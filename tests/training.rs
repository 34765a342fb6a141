//! Collaborative training: ALS, item-kNN and popularity fits, fold-in, incremental updates,
//! cold-start items, cancellation, persistence, and a MovieLens quality floor.

mod common;
use common::*;
use embedrec::eval::{Interactions, holdout_split};
use embedrec::ndarray::Array2;
use embedrec::*;

/// 600 items in 5 genre clusters (ids `t{i}`, genre = i % 5); 200 users, each a fan of one
/// genre, with 15 interactions inside it. Returns the engine and the interactions.
fn world(seed: u64) -> (Engine, Interactions) {
    let e = Engine::new(
        EngineConfig::new(8)
            .with_index(IndexKind::Exact)
            .with_threads(2),
    )
    .unwrap();
    let (ids, v, a) = catalog(600, 8, seed);
    e.upsert_items(&ids, v.view(), Some(&a)).unwrap();
    let mut r = Rng(seed);
    let mut d = Interactions::default();
    for u in 0..200 {
        let g = u % 5;
        for _ in 0..15 {
            let item = r.below(120) * 5 + g;
            d.users.push(format!("u{u}"));
            d.items.push(format!("t{item}"));
            d.weights.push(1.0 + r.below(4) as f32);
            d.timestamps.push(r.below(1000) as i64);
        }
    }
    (e, d)
}

fn genre(id: &str) -> usize {
    id[1..].parse::<usize>().unwrap() % 5
}

fn add(e: &Engine, d: &Interactions) {
    e.add_interactions(&d.users, &d.items, Some(&d.weights), Some(&d.timestamps))
        .unwrap();
}

fn als() -> ModelSpec {
    ModelSpec::Als(AlsParams {
        factors: 16,
        iterations: 10,
        regularization: 0.1,
        ..Default::default()
    })
}

#[test]
fn als_learns_tastes_and_serves_every_query_kind() {
    let (e, d) = world(1);
    add(&e, &d);
    let mut losses = Vec::new();
    let mut cb = |p: &Progress| {
        losses.push(p.loss.unwrap());
        true
    };
    let report = e.fit(&als(), Some(&mut cb)).unwrap();
    assert_eq!((report.model, report.users), ("als", 200));
    assert_eq!(losses.len(), 10);
    assert!(
        losses.last().unwrap() < &losses[0],
        "loss did not fall: {losses:?}"
    );
    assert_eq!(e.model_name(), Some("als"));
    // recommend: a fan of genre 2 gets genre 2, nothing already seen.
    let recs = e.recommend("u2", 10, &RecommendOptions::default()).unwrap();
    let seen: Vec<&String> = d
        .users
        .iter()
        .zip(&d.items)
        .filter(|(u, _)| *u == "u2")
        .map(|(_, i)| i)
        .collect();
    assert_eq!(recs.len(), 10);
    assert!(
        recs.iter()
            .all(|h| genre(&h.id) == 2 && !seen.contains(&&h.id.to_string())),
        "{recs:?}"
    );
    // similar: item factors cluster by genre.
    let sim = e.similar("t3", 5, None).unwrap();
    assert!(
        sim.iter().filter(|h| genre(&h.id) == 3).count() >= 4,
        "{sim:?}"
    );
    // Anonymous session (fold-in from scratch).
    let anon = e
        .recommend_for_items(&["t1", "t6", "t11"], None, 5, &RecommendOptions::default())
        .unwrap();
    assert!(anon.iter().all(|h| genre(&h.id) == 1), "{anon:?}");
    // Filters still apply.
    let f = RecommendOptions::with_filter(Filter::new().allow(["t7", "t12", "t0"]));
    let r = e.recommend("u2", 5, &f).unwrap();
    assert!(r.len() <= 3 && r.iter().all(|h| ["t7", "t12", "t0"].contains(&&*h.id)));
    // Batch agrees with single calls.
    let batch = e
        .recommend_batch(&["u0", "u1"], 5, &RecommendOptions::default())
        .unwrap();
    assert_eq!(
        ids(&batch[1]),
        ids(&e.recommend("u1", 5, &RecommendOptions::default()).unwrap())
    );
}

#[test]
fn new_interactions_update_users_and_items_without_refit() {
    let (e, d) = world(2);
    add(&e, &d);
    e.fit(&als(), None).unwrap();
    // A brand-new user appears after training and listens to genre 4.
    e.add_interactions(
        &["newbie", "newbie", "newbie"],
        &["t4", "t9", "t14"],
        None,
        None,
    )
    .unwrap();
    let r = e
        .recommend("newbie", 5, &RecommendOptions::default())
        .unwrap();
    assert!(r.iter().all(|h| genre(&h.id) == 4), "{r:?}");
    // A user changes taste: many genre-0 plays move their recommendations.
    let items: Vec<String> = (0..40).map(|i| format!("t{}", i * 5)).collect();
    e.add_interactions(
        &vec!["u3"; items.len()],
        &items,
        Some(&vec![5.0; items.len()]),
        None,
    )
    .unwrap();
    let r = e.recommend("u3", 5, &RecommendOptions::default()).unwrap();
    assert!(r.iter().filter(|h| genre(&h.id) == 0).count() >= 3, "{r:?}");
}

#[test]
fn cold_start_items_are_recommended_through_their_content_vectors() {
    let (e, d) = world(3);
    add(&e, &d);
    e.fit(&als(), None).unwrap();
    // A new genre-1 item (content vector = mean of genre-1 items), with no interactions.
    let g1: Vec<Vec<f32>> = (0..120)
        .map(|i| e.item_vector(&format!("t{}", i * 5 + 1)).unwrap())
        .collect();
    let mean: Vec<f32> = (0..8)
        .map(|k| g1.iter().map(|v| v[k]).sum::<f32>() / 120.0)
        .collect();
    e.upsert_items(
        &["fresh"],
        Array2::from_shape_vec((1, 8), mean).unwrap().view(),
        None,
    )
    .unwrap();
    // Among the new item and items of other genres, a genre-1 fan ranks the new item first;
    // a genre-2 fan does not.
    let pool: Vec<String> = std::iter::once("fresh".to_string())
        .chain((0..40).map(|i| format!("t{}", i * 5 + 2)))
        .collect();
    let opts = RecommendOptions::with_filter(Filter::new().allow(pool.clone()));
    let fan1 = e.recommend("u1", 5, &opts).unwrap();
    assert_eq!(&*fan1[0].id, "fresh", "{fan1:?}");
    let pool0: Vec<String> = std::iter::once("fresh".to_string())
        .chain((0..40).map(|i| format!("t{}", i * 5)))
        .collect();
    let fan0 = e
        .recommend(
            "u0",
            5,
            &RecommendOptions::with_filter(Filter::new().allow(pool0)),
        )
        .unwrap();
    assert_ne!(&*fan0[0].id, "fresh", "{fan0:?}");
}

#[test]
fn knn_and_popularity_models() {
    let (e, d) = world(4);
    add(&e, &d);
    for w in [
        KnnWeighting::Cosine,
        KnnWeighting::Bm25 { k1: 1.2, b: 0.75 },
    ] {
        e.fit(
            &ModelSpec::ItemKnn(KnnParams {
                neighbours: 50,
                weighting: w,
            }),
            None,
        )
        .unwrap();
        let r = e.recommend("u0", 10, &RecommendOptions::default()).unwrap();
        assert!(
            r.iter().filter(|h| genre(&h.id) == 0).count() >= 9,
            "{w:?}: {r:?}"
        );
        let s = e.similar("t0", 5, None).unwrap();
        assert!(
            s.iter().all(|h| genre(&h.id) == 0 && &*h.id != "t0"),
            "{s:?}"
        );
    }
    e.fit(&ModelSpec::Popularity, None).unwrap();
    let r = e.recommend("u0", 3, &RecommendOptions::default()).unwrap();
    // Popularity counts distinct users (the summed weight only breaks ties).
    let mut users = std::collections::HashMap::<String, std::collections::HashSet<&String>>::new();
    for (u, i) in d.users.iter().zip(&d.items) {
        users.entry(i.clone()).or_default().insert(u);
    }
    let most = users.values().map(|s| s.len()).max().unwrap();
    assert!(r[0].score >= r[1].score && r[1].score >= r[2].score);
    assert_eq!(
        r[0].score.floor() as usize,
        users[&r[0].id.to_string()].len()
    );
    assert_eq!(r[0].score.floor() as usize, most);
}

#[test]
fn ease_model_and_its_size_limit() {
    let (e, d) = world(9);
    add(&e, &d);
    let r = e
        .fit(&ModelSpec::Ease(EaseParams::default()), None)
        .unwrap();
    assert_eq!(r.model, "ease");
    let recs = e.recommend("u0", 10, &RecommendOptions::default()).unwrap();
    assert!(
        recs.iter().filter(|h| genre(&h.id) == 0).count() >= 9,
        "{recs:?}"
    );
    assert!(
        e.similar("t0", 5, None)
            .unwrap()
            .iter()
            .all(|h| genre(&h.id) == 0 && &*h.id != "t0")
    );
    let l = Engine::from_bytes(&e.to_bytes().unwrap()).unwrap();
    assert_eq!(
        ids(&l.recommend("u0", 10, &RecommendOptions::default()).unwrap()),
        ids(&recs)
    );
    assert!(
        e.fit(
            &ModelSpec::Ease(EaseParams {
                regularization: 0.0
            }),
            None
        )
        .is_err()
    );
    // Above the documented limit: a clear error before any large allocation.
    let n = EASE_MAX_ITEMS + 1;
    let big = Engine::new(
        EngineConfig::new(1)
            .with_metric(Metric::Dot)
            .with_index(IndexKind::Exact),
    )
    .unwrap();
    let ids: Vec<String> = (0..n).map(|i| format!("i{i}")).collect();
    big.upsert_items(&ids, Array2::from_elem((n, 1), 1.0f32).view(), None)
        .unwrap();
    let users: Vec<String> = (0..n).map(|i| format!("u{}", i % 100)).collect();
    big.add_interactions(&users, &ids, None, None).unwrap();
    let err = big
        .fit(&ModelSpec::Ease(EaseParams::default()), None)
        .unwrap_err();
    assert!(
        matches!(err, Error::CapacityExceeded { .. }) && err.to_string().contains("16384"),
        "{err}"
    );
}

#[test]
fn removed_items_leave_the_model() {
    let (e, d) = world(5);
    add(&e, &d);
    for spec in [
        als(),
        ModelSpec::ItemKnn(KnnParams::default()),
        ModelSpec::Ease(EaseParams::default()),
    ] {
        e.fit(&spec, None).unwrap();
        let top = e.recommend("u0", 1, &RecommendOptions::default()).unwrap()[0]
            .id
            .to_string();
        e.remove_items(&[top.as_str()]).unwrap();
        for u in ["u0", "u5", "u10"] {
            assert!(
                !ids(&e.recommend(u, 50, &RecommendOptions::default()).unwrap()).contains(&top)
            );
        }
        assert!(!ids(&e.similar("t5", 50, None).unwrap()).contains(&top));
    }
}

#[test]
fn cancellation_keeps_the_previous_model() {
    let (e, d) = world(6);
    add(&e, &d);
    e.fit(&ModelSpec::Popularity, None).unwrap();
    let mut calls = 0;
    let mut stop = |_: &Progress| {
        calls += 1;
        calls < 3
    };
    let err = e.fit(&als(), Some(&mut stop)).unwrap_err();
    assert!(
        matches!(err, Error::Cancelled { .. }) && err.code() == "CANCELLED",
        "{err}"
    );
    assert_eq!(e.model_name(), Some("popularity"));
    assert!(
        e.fit(
            &ModelSpec::Als(AlsParams {
                factors: 2000,
                ..Default::default()
            }),
            None
        )
        .is_err()
    );
    // factors 0 (the default) chooses them from the data: 16 for this small log.
    e.fit(&ModelSpec::Als(AlsParams::default()), None).unwrap();
    assert_eq!(e.item_factors().unwrap().values.ncols(), 16);
    let empty = Engine::new(EngineConfig::new(2)).unwrap();
    assert!(
        empty
            .fit(&als(), None)
            .unwrap_err()
            .to_string()
            .contains("at least one interaction")
    );
}

#[test]
fn models_survive_save_and_load() {
    let (e, d) = world(7);
    add(&e, &d);
    for spec in [
        als(),
        ModelSpec::ItemKnn(KnnParams::default()),
        ModelSpec::Popularity,
    ] {
        e.fit(&spec, None).unwrap();
        let bytes = e.to_bytes().unwrap();
        let l = Engine::from_bytes(&bytes).unwrap();
        assert_eq!(l.model_name(), e.model_name());
        let o = RecommendOptions::default();
        assert_eq!(
            ids(&l.recommend("u3", 10, &o).unwrap()),
            ids(&e.recommend("u3", 10, &o).unwrap())
        );
        assert_eq!(
            ids(&l.similar("t8", 5, None).unwrap()),
            ids(&e.similar("t8", 5, None).unwrap())
        );
        // Damage inside the model section (the last section) is detected.
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n - 10] ^= 0x40;
        assert!(matches!(
            Engine::from_bytes(&bad),
            Err(Error::Corrupt { .. })
        ));
    }
}

#[test]
fn evaluate_beats_popularity_on_synthetic_tastes() {
    let (e, d) = world(8);
    let (train, test) = holdout_split(&d, 0.2, 5, 42).unwrap();
    add(&e, &train);
    e.fit(&ModelSpec::Popularity, None).unwrap();
    let pop = e.evaluate(&test, 10).unwrap();
    e.fit(&als(), None).unwrap();
    let m = e.evaluate(&test, 10).unwrap();
    assert_eq!(m.users, 200);
    // Test items are random within the genre, so ~0.04 is near the best possible NDCG here.
    assert!(
        m.ndcg > 3.0 * pop.ndcg && m.ndcg > 0.03,
        "als {m:?} vs popularity {pop:?}"
    );
}

/// The MovieLens protocol of docs/benchmarks.md in small (32 factors, 8 iterations): a floor
/// far above popularity. Reads `EMBEDREC_MOVIELENS` or `../shared/data/movielens-latest-small`.
#[test]
fn movielens_quality_floor() {
    let dir = std::env::var_os("EMBEDREC_MOVIELENS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/data/movielens-latest-small")
        });
    let Ok(ratings) = std::fs::read_to_string(dir.join("ratings.csv")) else {
        eprintln!("skipping: MovieLens not found at {}", dir.display());
        return;
    };
    let mut all = Interactions::default();
    for line in ratings.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        all.users.push(f[0].into());
        all.items.push(f[1].into());
        all.weights.push(f[2].parse().unwrap());
        all.timestamps.push(f[3].parse().unwrap());
    }
    let (train, test) = holdout_split(&all, 0.2, 5, 42).unwrap();
    let mut items: Vec<&String> = all.items.iter().collect();
    items.sort();
    items.dedup();
    let e = Engine::new(EngineConfig::new(2).with_index(IndexKind::Exact)).unwrap();
    let v = Array2::from_shape_fn(
        (items.len(), 2),
        |(i, j)| if j == 0 { 1.0 } else { (i % 7) as f32 },
    );
    e.upsert_items(&items, v.view(), None).unwrap();
    add(&e, &train);
    e.fit(&ModelSpec::Popularity, None).unwrap();
    let pop = e.evaluate(&test, 10).unwrap();
    e.fit(
        &ModelSpec::Als(AlsParams {
            factors: 32,
            iterations: 8,
            ..Default::default()
        }),
        None,
    )
    .unwrap();
    let als = e.evaluate(&test, 10).unwrap();
    eprintln!(
        "MovieLens NDCG@10: popularity {:.3}, ALS(32, 8 it) {:.3}",
        pop.ndcg, als.ndcg
    );
    assert!(pop.ndcg > 0.15 && pop.ndcg < 0.22, "popularity {pop:?}");
    assert!(als.ndcg > 0.27, "ALS {als:?}");
}

#[test]
fn tuning_chooses_on_a_validation_split_and_installs_the_best() {
    let (e, d) = world(8);
    add(&e, &d);
    let opts = TuneOptions {
        models: vec!["als".into(), "item_knn".into(), "popularity".into()],
        budget_secs: 60.0,
        ..Default::default()
    };
    let mut seen = Vec::new();
    let mut cb = |p: &Progress| {
        seen.push((p.model, p.iteration));
        true
    };
    let r = e.fit_tuned(&opts, Some(&mut cb)).unwrap();
    assert!(r.trials.len() >= 3 && r.validation_users > 0);
    let best = r.trials.iter().map(|t| t.ndcg).fold(0.0, f64::max);
    let chosen = r.trials.iter().find(|t| t.spec == r.chosen).unwrap();
    assert_eq!(chosen.ndcg, best);
    assert_eq!(e.model_name(), Some(r.chosen.name()));
    assert_eq!(r.fit.model, r.chosen.name());
    // On genre-clustered tastes a collaborative model beats popularity.
    let pop = r
        .trials
        .iter()
        .find(|t| t.spec == ModelSpec::Popularity)
        .unwrap();
    assert!(best > pop.ndcg + 0.05, "{:?}", r.trials);
    assert_eq!(
        seen.iter().filter(|s| s.0 == "tune").count(),
        r.trials.len()
    );
    // A tight budget still tries one candidate; cancelling keeps the model.
    let quick = TuneOptions {
        budget_secs: 1e-9,
        ..opts.clone()
    };
    assert_eq!(e.fit_tuned(&quick, None).unwrap().trials.len(), 1);
    let before = e.model_name();
    let mut stop = |_: &Progress| false;
    let err = e.fit_tuned(&opts, Some(&mut stop)).unwrap_err();
    assert_eq!(err.code(), "CANCELLED");
    assert_eq!(e.model_name(), before);
    // Bad options are named.
    let bad = |o: TuneOptions| e.fit_tuned(&o, None).unwrap_err().to_string();
    assert!(
        bad(TuneOptions {
            budget_secs: 0.0,
            ..opts.clone()
        })
        .contains("budget")
    );
    assert!(
        bad(TuneOptions {
            k: 0,
            ..opts.clone()
        })
        .contains("tune.k")
    );
    assert!(
        bad(TuneOptions {
            models: vec!["svd".into()],
            ..opts.clone()
        })
        .contains("svd")
    );
}

#[test]
fn explanations_decompose_the_models_scores() {
    let (e, d) = world(10);
    add(&e, &d);
    let none = RecommendOptions::default();
    for spec in [
        als(),
        ModelSpec::ItemKnn(KnnParams::default()),
        ModelSpec::Ease(EaseParams::default()),
    ] {
        e.fit(&spec, None).unwrap();
        // The history of u4, as the model sees it (summed weights per item).
        let mut hist: std::collections::BTreeMap<&str, f32> = Default::default();
        for ((u, i), w) in d.users.iter().zip(&d.items).zip(&d.weights) {
            if u == "u4" {
                *hist.entry(i).or_default() += w;
            }
        }
        let (items, weights): (Vec<&str>, Vec<f32>) = hist.into_iter().unzip();
        // An anonymous session with the same history is scored by the same fold-in.
        let recs = match spec {
            ModelSpec::Als(_) => e.recommend_for_items(&items, Some(&weights), 3, &none),
            _ => e.recommend("u4", 3, &none),
        }
        .unwrap();
        for h in &recs {
            let why = e.explain("u4", &h.id, 1000).unwrap();
            let total: f32 = why.iter().map(|w| w.score).sum();
            assert!(
                (total - h.score).abs() <= 1e-3 * h.score.abs().max(1e-3),
                "{}: {total} vs {}",
                spec.name(),
                h.score
            );
            assert!(why.windows(2).all(|w| w[0].score >= w[1].score));
            assert!(why.iter().all(|w| items.contains(&&*w.id)));
            // The top contributors come from the same taste group.
            assert_eq!(genre(&why[0].id), genre(&h.id), "{}", spec.name());
            assert!(e.explain("u4", &h.id, 2).unwrap().len() <= 2);
        }
    }
    e.fit(&ModelSpec::Popularity, None).unwrap();
    assert!(
        e.explain("u4", "t0", 3)
            .unwrap_err()
            .to_string()
            .contains("model")
    );
    assert_eq!(
        e.explain("nobody", "t0", 3).unwrap_err().code(),
        "UNKNOWN_USER"
    );
    e.fit(&als(), None).unwrap();
    assert_eq!(
        e.explain("u4", "zzz", 3).unwrap_err().code(),
        "UNKNOWN_ITEM"
    );
    assert_eq!(
        e.explain("u4", "t0", 0).unwrap_err().code(),
        "INVALID_INPUT"
    );
}

#[test]
fn diversity_trades_relevance_for_variety() {
    let (e, d) = world(11);
    add(&e, &d);
    // Two tastes per user: u0 also likes genre 1 a little.
    let extra: Vec<String> = (0..4).map(|j| format!("t{}", j * 5 + 1)).collect();
    let users = vec!["u0"; extra.len()];
    e.add_interactions(&users, &extra, None, None).unwrap();
    e.fit(&als(), None).unwrap();
    let plain = e.recommend("u0", 10, &RecommendOptions::default()).unwrap();
    let varied = RecommendOptions {
        diversity: 0.7,
        ..Default::default()
    };
    let mixed = e.recommend("u0", 10, &varied).unwrap();
    assert_eq!(mixed.len(), 10);
    let genres = |h: &[Hit]| {
        h.iter()
            .map(|h| genre(&h.id))
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    assert!(genres(&mixed) > genres(&plain), "{plain:?}\n{mixed:?}");
    // Relevance still leads: the first pick is the most relevant item.
    assert_eq!(mixed[0].id, plain[0].id);
    // diversity 0 is the plain ranking; out of range is an error naming it.
    let zero = RecommendOptions {
        diversity: 0.0,
        ..Default::default()
    };
    assert_eq!(ids(&e.recommend("u0", 10, &zero).unwrap()), ids(&plain));
    for bad in [-0.1, 1.5, f32::NAN] {
        let o = RecommendOptions {
            diversity: bad,
            ..Default::default()
        };
        let msg = e.recommend("u0", 5, &o).unwrap_err().to_string();
        assert!(msg.contains("diversity"), "{msg}");
    }
    // Batches honour it too.
    let batch = e.recommend_batch(&["u0"], 10, &varied).unwrap();
    assert_eq!(ids(&batch[0]), ids(&mixed));
}
