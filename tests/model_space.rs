//! Queries in model space: after an ALS fit, `recommend`, `recommend_for_items`, `similar`
//! and the batch calls walk a graph over the item factors. At a high search breadth they
//! return the exact model ranking; filters and seen items apply inside the walk; the graphs
//! follow incremental updates, removals, new items and a save and load.

mod common;
use common::*;
use embedrec::*;

const ITEMS: usize = 6_000;

/// An engine over `ITEMS` clustered items, 800 users with tastes for one genre plus noise,
/// trained with ALS. `exact_below` above the catalog size forces the exact path.
fn trained(exact_below: usize) -> Engine {
    let mut config = EngineConfig::new(8).with_threads(2);
    config.exact_below = exact_below;
    let e = Engine::new(config).unwrap();
    let (ids, v, a) = catalog(ITEMS, 8, 7);
    e.upsert_items(&ids, v.view(), Some(&a)).unwrap();
    let mut r = Rng(11);
    let (mut users, mut items, mut weights) = (vec![], vec![], vec![]);
    for u in 0..800 {
        for j in 0..30 {
            let item = if j % 3 == 0 {
                r.below(ITEMS)
            } else {
                r.below(ITEMS / 5) * 5 + u % 5
            };
            users.push(format!("u{u}"));
            items.push(format!("t{item}"));
            weights.push(1.0 + r.below(5) as f32);
        }
    }
    e.add_interactions(&users, &items, Some(&weights), None)
        .unwrap();
    e.fit(
        &ModelSpec::Als(AlsParams {
            factors: 16,
            iterations: 8,
            ..Default::default()
        }),
        None,
    )
    .unwrap();
    e
}

fn overlap(a: &[Hit], b: &[Hit]) -> f64 {
    let b = ids(b);
    a.iter().filter(|h| b.contains(&h.id.to_string())).count() as f64 / b.len().max(1) as f64
}

fn close(a: &[Hit], b: &[Hit]) {
    assert_eq!(a.len(), b.len());
    // Equal rankings up to ties: the same scores position by position.
    for (x, y) in a.iter().zip(b) {
        assert!(
            (x.score - y.score).abs() <= 1e-5 * y.score.abs().max(1.0),
            "{a:?}\n{b:?}"
        );
    }
}

#[test]
fn model_space_walk_matches_the_exact_ranking() {
    let (graph, exact) = (trained(100), trained(usize::MAX));
    let none = RecommendOptions::default();
    // Default breadth: high recall.
    let mut recall = 0.0;
    for u in 0..100 {
        let id = format!("u{u}");
        recall += overlap(
            &graph.recommend(&id, 10, &none).unwrap(),
            &exact.recommend(&id, 10, &none).unwrap(),
        );
    }
    assert!(recall / 100.0 >= 0.95, "recall@10 {}", recall / 100.0);
    // A high breadth: the exact ranking.
    graph.set_ef_search(1_000).unwrap();
    for u in [0, 1, 2, 3, 17, 301] {
        let id = format!("u{u}");
        close(
            &graph.recommend(&id, 10, &none).unwrap(),
            &exact.recommend(&id, 10, &none).unwrap(),
        );
    }
    for item in ["t0", "t1", "t4242"] {
        close(
            &graph.similar(item, 10, None).unwrap(),
            &exact.similar(item, 10, None).unwrap(),
        );
    }
    let session = ["t5", "t10", "t15"];
    close(
        &graph
            .recommend_for_items(&session, None, 10, &none)
            .unwrap(),
        &exact
            .recommend_for_items(&session, None, 10, &none)
            .unwrap(),
    );
    let users = ["u4", "u5", "u6"];
    for (a, b) in graph
        .recommend_batch(&users, 10, &none)
        .unwrap()
        .iter()
        .zip(&exact.recommend_batch(&users, 10, &none).unwrap())
    {
        close(a, b);
    }
}

#[test]
fn filters_and_seen_items_apply_inside_the_walk() {
    let (graph, exact) = (trained(100), trained(usize::MAX));
    graph.set_ef_search(1_000).unwrap();
    let jazz_or_pop = RecommendOptions::with_filter(Filter::new().tags_any(["jazz", "pop"]));
    let r = graph.recommend("u0", 20, &jazz_or_pop).unwrap();
    assert_eq!(r.len(), 20);
    assert!(r.iter().all(|h| {
        let g = h.id[1..].parse::<usize>().unwrap() % 5;
        g == 1 || g == 2
    }));
    close(&r, &exact.recommend("u0", 20, &jazz_or_pop).unwrap());
    // Seen items never come back; with exclude_seen off they may.
    let seen = graph
        .recommend("u3", 50, &RecommendOptions::default())
        .unwrap();
    let keep = RecommendOptions {
        exclude_seen: false,
        ..Default::default()
    };
    let all = graph.recommend("u3", 50, &keep).unwrap();
    let exact_all = exact.recommend("u3", 50, &keep).unwrap();
    close(&all, &exact_all);
    assert_ne!(ids(&seen), ids(&all));
    let range = RecommendOptions::with_filter(Filter::new().range("year", Some(1990.0), None));
    close(
        &graph.recommend("u9", 10, &range).unwrap(),
        &exact.recommend("u9", 10, &range).unwrap(),
    );
}

#[test]
fn the_factor_graphs_follow_updates_removals_and_a_reload() {
    let (graph, exact) = (trained(100), trained(usize::MAX));
    graph.set_ef_search(1_000).unwrap();
    let none = RecommendOptions::default();
    // New interactions move user and item factors; both engines update the same way.
    for e in [&graph, &exact] {
        e.add_interactions(&["u1", "u1", "new"], &["t3", "t8", "t13"], None, None)
            .unwrap();
    }
    for u in ["u1", "new"] {
        close(
            &graph.recommend(u, 10, &none).unwrap(),
            &exact.recommend(u, 10, &none).unwrap(),
        );
    }
    // Removed items are never returned.
    let top: Vec<String> = ids(&graph.recommend("u2", 5, &none).unwrap());
    for e in [&graph, &exact] {
        e.remove_items(&top).unwrap();
    }
    let after = graph.recommend("u2", 10, &none).unwrap();
    assert!(after.iter().all(|h| !top.contains(&h.id.to_string())));
    close(&after, &exact.recommend("u2", 10, &none).unwrap());
    let sim = graph.similar("t7", 10, None).unwrap();
    assert!(sim.iter().all(|h| !top.contains(&h.id.to_string())));
    // A saved engine answers the same after loading.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.embedrec");
    graph.save(&path).unwrap();
    let loaded = Engine::load(&path).unwrap();
    loaded.set_ef_search(1_000).unwrap();
    close(
        &loaded.recommend("u2", 10, &none).unwrap(),
        &exact.recommend("u2", 10, &none).unwrap(),
    );
    assert!(loaded.stats().index_memory_bytes > 0);
}

#[test]
fn factors_export_and_install_round_trip() {
    let e = trained(100);
    let items = e.item_factors().unwrap();
    let users = e.user_factors().unwrap();
    assert_eq!(items.values.ncols(), 16);
    assert_eq!(users.ids.len(), 800);
    assert!(items.ids.len() > 5_000 && items.ids.len() <= ITEMS);
    assert_eq!(e.item_vectors().values.dim(), (ITEMS, 8));
    // Another engine over the same catalog, with the factors installed instead of trained.
    let other = Engine::new(EngineConfig::new(8).with_threads(2)).unwrap();
    let (ids, v, a) = catalog(ITEMS, 8, 7);
    other.upsert_items(&ids, v.view(), Some(&a)).unwrap();
    let params = AlsParams {
        factors: 16,
        ..Default::default()
    };
    other
        .install_factors(
            &items.ids,
            items.values.view(),
            Some((&users.ids, users.values.view())),
            &params,
        )
        .unwrap();
    assert_eq!(other.model_name(), Some("als"));
    for graph in [&e, &other] {
        graph.set_ef_search(1_000).unwrap();
    }
    // Installed users have no history here, so nothing is excluded as seen.
    let keep = RecommendOptions {
        exclude_seen: false,
        ..Default::default()
    };
    close(
        &other.recommend("u5", 10, &keep).unwrap(),
        &e.recommend("u5", 10, &keep).unwrap(),
    );
    close(
        &other.similar("t12", 10, None).unwrap(),
        &e.similar("t12", 10, None).unwrap(),
    );
    assert!(other.user_factors().unwrap() == users);
    assert!(other.item_factors().unwrap() == items);
    // A user the installed model never saw is folded in from their history.
    other
        .add_interactions(&["fresh", "fresh"], &["t1", "t6"], None, None)
        .unwrap();
    assert_eq!(other.recommend("fresh", 5, &keep).unwrap().len(), 5);
    // Bad input names the argument and changes nothing.
    let before = other.item_factors().unwrap();
    let err = |r: Result<()>| r.unwrap_err().to_string();
    let v = items.values.view();
    let two = items.values.slice(embedrec::ndarray::s![..2, ..]);
    let none: Option<(&[&str], _)> = None;
    let msg = err(other.install_factors(&["t0", "nope"], two, none, &params));
    assert!(msg.contains("item_ids[1]") && msg.contains("nope"), "{msg}");
    let msg = err(other.install_factors(&["t0", "t0"], two, none, &params));
    assert!(msg.contains("item_ids[1]"), "{msg}");
    let msg = err(other.install_factors(&items.ids[..3], v, none, &params));
    assert!(msg.contains("item_factors rows"), "{msg}");
    let wide = AlsParams {
        factors: 8,
        ..Default::default()
    };
    let msg = err(other.install_factors(&items.ids, v, none, &wide));
    assert!(msg.contains("item_factors"), "{msg}");
    let mut nan = two.to_owned();
    nan[[1, 3]] = f32::NAN;
    let msg = err(other.install_factors(&["t0", "t1"], nan.view(), none, &params));
    assert!(msg.contains("item_factors[1][3]"), "{msg}");
    assert!(other.item_factors().unwrap() == before);
    // No factor model: a clear error.
    other.clear_model().unwrap();
    let msg = other.item_factors().unwrap_err().to_string();
    assert!(msg.contains("model"), "{msg}");
}

#[test]
fn batches_of_many_users_are_scored_in_blocks_with_the_same_ranking() {
    let e = trained(usize::MAX);
    let users: Vec<String> = (0..300).map(|u| format!("u{u}")).collect();
    let jazz = RecommendOptions::with_filter(Filter::new().tags_any(["jazz"]));
    let keep = RecommendOptions {
        exclude_seen: false,
        ..Default::default()
    };
    for opts in [RecommendOptions::default(), jazz, keep] {
        let batch = e.recommend_batch(&users, 10, &opts).unwrap();
        for (u, hits) in users.iter().zip(&batch) {
            close(hits, &e.recommend(u, 10, &opts).unwrap());
        }
    }
    // A user without a stored factor (new since the fit) is folded in.
    e.add_interactions(&["late"], &["t3"], None, None).unwrap();
    let mut with_late = users.clone();
    with_late.push("late".into());
    let batch = e
        .recommend_batch(&with_late, 5, &RecommendOptions::default())
        .unwrap();
    close(
        &batch[300],
        &e.recommend("late", 5, &RecommendOptions::default())
            .unwrap(),
    );
}

/// The factor graphs are saved with the model: a load and a read-only open walk the very
/// graphs that were saved (at a small search breadth, where two builds of a graph would
/// disagree, every answer is identical), and damage to them is an error.
#[test]
fn the_factor_graphs_are_stored_and_used_as_saved() {
    let e = trained(100);
    e.remove_items(&["t4", "t9"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.embedrec");
    e.save(&path).unwrap();
    let loaded = Engine::load(&path).unwrap();
    let ro = Engine::open(&path, None, OpenOptions::default().with_read_only(true)).unwrap();
    let answers = |x: &Engine| {
        x.set_ef_search(10).unwrap();
        x.clear_cache();
        let none = RecommendOptions::default();
        let mut out = Vec::new();
        for u in 0..200 {
            out.push(x.recommend(&format!("u{u}"), 10, &none).unwrap());
            out.push(
                x.similar(&format!("t{}", u * 29 % ITEMS), 10, None)
                    .unwrap(),
            );
        }
        out
    };
    let want = answers(&e);
    assert_eq!(answers(&loaded), want);
    assert_eq!(answers(&ro), want);
    // Both graphs have sections of their own; a damaged one is refused on load and found
    // by verify on a read-only open (its rows are mapped).
    let good = std::fs::read(&path).unwrap();
    for kind in [10, 11] {
        let (at, len) = section(&good, kind).unwrap();
        let mut b = good.clone();
        b[at + len - 1] ^= 0x40;
        std::fs::write(&path, &b).unwrap();
        let err = Engine::load(&path).unwrap_err();
        assert_eq!(err.code(), "CORRUPT", "{err}");
        let mut b = good.clone();
        b[at + 5000] ^= 0x40;
        std::fs::write(&path, &b).unwrap();
        let ro = Engine::open(&path, None, OpenOptions::default().with_read_only(true)).unwrap();
        assert_eq!(ro.verify().unwrap_err().code(), "CORRUPT");
    }
}
