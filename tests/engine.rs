//! End-to-end behaviour of the engine: catalog, queries, filters, recommendations, batch,
//! cache invalidation and metrics.

mod common;
use common::*;
use embedrec::ndarray::{Array2, array};
use embedrec::*;

#[test]
fn upsert_replaces_and_remove_forgets() {
    let e = Engine::new(EngineConfig::new(2).with_metric(Metric::L2)).unwrap();
    e.upsert_items(&["a", "b"], array![[0.0f32, 0.0], [5.0, 5.0]].view(), None)
        .unwrap();
    assert_eq!(e.len(), 2);
    // Replace "b" so it is now nearest to the origin... after "a".
    e.upsert_items(&["b"], array![[0.1f32, 0.0]].view(), None)
        .unwrap();
    assert_eq!(e.len(), 2);
    assert_eq!(e.item_vector("b").unwrap(), vec![0.1, 0.0]);
    let hits = e.search(&[0.0, 0.0], 5, None).unwrap();
    assert_eq!(ids(&hits), ["a", "b"]);
    assert!(
        (hits[1].score + 0.01).abs() < 1e-6,
        "score is negated squared L2: {}",
        hits[1].score
    );
    assert_eq!(e.remove_items(&["a"]).unwrap(), 1);
    assert!(!e.contains("a"));
    assert_eq!(ids(&e.search(&[0.0, 0.0], 5, None).unwrap()), ["b"]);
    assert!(matches!(e.item_vector("a"), Err(Error::UnknownItem { .. })));
    // A recycled slot must not resurrect the old id.
    e.upsert_items(&["c"], array![[0.0f32, 0.0]].view(), None)
        .unwrap();
    assert_eq!(ids(&e.search(&[0.0, 0.0], 5, None).unwrap()), ["c", "b"]);
}

#[test]
fn metrics_scores_are_higher_is_better() {
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
        let e = Engine::new(EngineConfig::new(2).with_metric(metric)).unwrap();
        e.upsert_items(&["x", "y"], array![[1.0f32, 0.0], [0.0, 1.0]].view(), None)
            .unwrap();
        let h = e.search(&[2.0, 0.1], 2, None).unwrap();
        assert_eq!(&*h[0].id, "x", "{metric:?}");
        assert!(h[0].score > h[1].score);
        let expected = match metric {
            Metric::Cosine => 2.0 / (4.0f32 + 0.01).sqrt(),
            Metric::Dot => 2.0,
            Metric::L2 => -(1.0 + 0.01),
        };
        assert!(
            (h[0].score - expected).abs() < 1e-5,
            "{metric:?}: {} vs {expected}",
            h[0].score
        );
    }
}

#[test]
fn k_larger_than_catalog_returns_what_exists() {
    let e = engine(30, 8, Metric::Cosine, IndexKind::Native);
    assert_eq!(e.search(&[1.0; 8], 1000, None).unwrap().len(), 30);
    assert_eq!(e.similar("t0", 1000, None).unwrap().len(), 29);
}

#[test]
fn similar_never_returns_the_item_itself() {
    for index in common::index_kinds() {
        let e = engine(3000, 16, Metric::Cosine, index);
        for id in ["t0", "t17", "t2999"] {
            let hits = e.similar(id, 10, None).unwrap();
            assert_eq!(hits.len(), 10);
            assert!(hits.iter().all(|h| &*h.id != id));
            assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        }
    }
}

#[test]
fn filters_apply_inside_the_search_and_return_k() {
    let e = engine(5000, 16, Metric::Cosine, IndexKind::Native);
    let q = e.item_vector("t0").unwrap(); // a rock track
    // Selective: jazz only (20%), and year in a 2-year window (~3% of items).
    let f = Filter::new()
        .tags_any(["jazz"])
        .range("year", Some(1970.0), Some(1971.0));
    let hits = e.search(&q, 20, Some(&f)).unwrap();
    assert_eq!(hits.len(), 20, "k results whenever k matching items exist");
    for h in &hits {
        let i: usize = h.id[1..].parse().unwrap();
        assert_eq!(GENRES[i % 5], "jazz");
        assert!((10..=11).contains(&(i % 60)), "year of {}", h.id);
    }
    // The exact ground truth agrees on the filtered set.
    let exact = engine(5000, 16, Metric::Cosine, IndexKind::Exact);
    assert_eq!(ids(&exact.search(&q, 20, Some(&f)).unwrap()), ids(&hits));
    // tags_all / tags_none / deny / allow.
    let none = e
        .search(
            &q,
            50,
            Some(&Filter::new().tags_none(["rock", "jazz", "pop", "techno"])),
        )
        .unwrap();
    assert!(
        none.iter()
            .all(|h| h.id[1..].parse::<usize>().unwrap() % 5 == 4)
    );
    let all = e
        .search(&q, 10, Some(&Filter::new().tags_all(["rock", "jazz"])))
        .unwrap();
    assert!(all.is_empty());
    let allow = e
        .search(&q, 10, Some(&Filter::new().allow(["t3", "t4", "nope"])))
        .unwrap();
    assert_eq!(allow.len(), 2);
    let top = e.search(&q, 1, None).unwrap();
    let denied = e
        .search(&q, 1, Some(&Filter::new().deny([top[0].id.to_string()])))
        .unwrap();
    assert_ne!(denied[0].id, top[0].id);
    // Unknown attribute is an error, not an empty answer.
    let err = e
        .search(&q, 5, Some(&Filter::new().range("tempo", Some(1.0), None)))
        .unwrap_err();
    assert!(
        err.to_string().contains("tempo") && err.to_string().contains("year"),
        "{err}"
    );
    let err = e
        .search(
            &q,
            5,
            Some(&Filter::new().range("year", Some(2000.0), Some(1990.0))),
        )
        .unwrap_err();
    assert!(err.to_string().contains("min"), "{err}");
}

#[test]
fn recommend_excludes_seen_and_uses_history() {
    let e = engine(2000, 16, Metric::Cosine, IndexKind::Native);
    // User listens to jazz (ids = 1 mod 5).
    let items: Vec<String> = (0..20).map(|i| format!("t{}", i * 5 + 1)).collect();
    let users = vec!["u1"; items.len()];
    e.add_interactions(&users, &items, None, None).unwrap();
    let recs = e.recommend("u1", 10, &RecommendOptions::default()).unwrap();
    assert_eq!(recs.len(), 10);
    for r in &recs {
        assert!(
            !items.contains(&r.id.to_string()),
            "seen item {} returned",
            r.id
        );
        assert_eq!(
            r.id[1..].parse::<usize>().unwrap() % 5,
            1,
            "jazz listener got {}",
            r.id
        );
    }
    let all_opts = RecommendOptions {
        exclude_seen: false,
        ..Default::default()
    };
    let everything = ids(&e.recommend("u1", e.len(), &all_opts).unwrap());
    assert_eq!(everything.len(), e.len());
    assert!(items.iter().all(|i| everything.contains(i)));
    let unseen = ids(&e
        .recommend("u1", e.len(), &RecommendOptions::default())
        .unwrap());
    assert_eq!(unseen.len(), e.len() - items.len());
    // Filtered recommendations.
    let f = RecommendOptions::with_filter(Filter::new().range("year", Some(2000.0), None));
    let recs = e.recommend("u1", 5, &f).unwrap();
    assert!(
        recs.iter()
            .all(|r| r.id[1..].parse::<usize>().unwrap() % 60 >= 40)
    );
    // Unknown user.
    let err = e
        .recommend("ghost", 5, &RecommendOptions::default())
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownUser { id } if id == "ghost"),
        "{err}"
    );
    // Anonymous session: same taste, same exclusions.
    let anon = e
        .recommend_for_items(&items, None, 10, &RecommendOptions::default())
        .unwrap();
    assert_eq!(
        ids(&anon),
        ids(&e.recommend("u1", 10, &RecommendOptions::default()).unwrap())
    );
}

#[test]
fn recency_half_life_favours_recent_history() {
    let cfg = EngineConfig::new(2)
        .with_metric(Metric::Cosine)
        .with_recency_half_life(Some(3600.0));
    let e = Engine::new(cfg).unwrap();
    e.upsert_items(
        &["old", "new", "near_old", "near_new"],
        array![[1.0f32, 0.0], [0.0, 1.0], [0.95, 0.05], [0.05, 0.95]].view(),
        None,
    )
    .unwrap();
    // Heavier but a day older: the recent play must dominate.
    e.add_interactions(
        &["u", "u"],
        &["old", "new"],
        Some(&[3.0, 1.0]),
        Some(&[0, 86_400]),
    )
    .unwrap();
    let r = e.recommend("u", 1, &RecommendOptions::default()).unwrap();
    assert_eq!(&*r[0].id, "near_new");
}

#[test]
fn empty_history_falls_back_to_popularity() {
    let e = engine(100, 8, Metric::Cosine, IndexKind::Exact);
    e.add_interactions(&["a", "b", "c"], &["t7", "t7", "t9"], None, None)
        .unwrap();
    let r = e
        .recommend_for_items::<&str>(&[], None, 2, &RecommendOptions::default())
        .unwrap();
    assert_eq!(ids(&r)[..2], ["t7", "t9"]);
    // A user whose only item was removed gets popular items, not an error.
    e.remove_items(&["t9"]).unwrap();
    let r = e.recommend("c", 1, &RecommendOptions::default()).unwrap();
    assert_eq!(ids(&r), ["t7"]);
}

#[test]
fn batch_matches_single_calls() {
    let e = engine(3000, 16, Metric::Dot, IndexKind::Native);
    let (_, q, _) = catalog(50, 16, 7);
    let batch = e.search_batch(q.view(), 10, None).unwrap();
    assert_eq!(batch.len(), 50);
    for (i, b) in batch.iter().enumerate() {
        assert_eq!(
            ids(b),
            ids(&e.search(q.row(i).as_slice().unwrap(), 10, None).unwrap())
        );
    }
    let users: Vec<String> = (0..20).map(|u| format!("u{u}")).collect();
    for (u, user) in users.iter().enumerate() {
        e.add_interactions(
            &[user.as_str(), user.as_str()],
            &[format!("t{u}"), format!("t{}", u + 40)],
            None,
            None,
        )
        .unwrap();
    }
    let recs = e
        .recommend_batch(&users, 5, &RecommendOptions::default())
        .unwrap();
    for (u, r) in users.iter().zip(&recs) {
        assert_eq!(
            ids(r),
            ids(&e.recommend(u, 5, &RecommendOptions::default()).unwrap())
        );
    }
    let err = e
        .recommend_batch(&["u1", "nobody"], 5, &RecommendOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("nobody"));
}

#[test]
fn cache_hits_and_every_mutation_invalidates() {
    let e = engine(500, 8, Metric::Cosine, IndexKind::Native);
    e.add_interactions(&["u"], &["t1"], None, None).unwrap();
    let q = [1.0f32; 8];
    let first = e.search(&q, 5, None).unwrap();
    assert_eq!(e.search(&q, 5, None).unwrap(), first);
    let s = e.stats().cache;
    assert_eq!((s.hits, s.misses), (1, 1));
    assert!(s.hit_rate > 0.49 && s.hit_rate < 0.51);

    // upsert: move the top hit far away -> must disappear from the answer.
    let top = first[0].id.to_string();
    e.upsert_items(
        &[top.as_str()],
        Array2::from_elem((1, 8), -1.0f32).view(),
        None,
    )
    .unwrap();
    assert!(!ids(&e.search(&q, 5, None).unwrap()).contains(&top));
    // remove
    let now = e.search(&q, 5, None).unwrap();
    let victim = now[0].id.to_string();
    e.remove_items(&[victim.as_str()]).unwrap();
    assert!(!ids(&e.search(&q, 5, None).unwrap()).contains(&victim));
    // add_interactions changes recommendations (exclusion of seen items)
    let r1 = e.recommend("u", 3, &RecommendOptions::default()).unwrap();
    e.add_interactions(&["u"], &[r1[0].id.to_string()], None, None)
        .unwrap();
    let r2 = e.recommend("u", 3, &RecommendOptions::default()).unwrap();
    assert!(!ids(&r2).contains(&r1[0].id.to_string()));
    assert!(e.stats().cache.invalidations >= 3);
}

#[test]
fn cache_ttl_and_bounds() {
    let cfg = EngineConfig::new(4)
        .with_cache(2, 1 << 20, Some(0.05))
        .with_index(IndexKind::Exact);
    let e = Engine::new(cfg).unwrap();
    e.upsert_items(
        &["a", "b"],
        array![[1.0f32, 0., 0., 0.], [0., 1., 0., 0.]].view(),
        None,
    )
    .unwrap();
    for q in [[1.0f32, 0., 0., 0.], [0., 1., 0., 0.], [1., 1., 0., 0.]] {
        e.search(&q, 1, None).unwrap();
    }
    let s = e.stats().cache;
    assert_eq!((s.entries, s.evictions), (2, 1));
    e.search(&[1., 1., 0., 0.], 1, None).unwrap();
    assert_eq!(e.stats().cache.hits, 1);
    std::thread::sleep(std::time::Duration::from_millis(80));
    e.search(&[1., 1., 0., 0.], 1, None).unwrap();
    assert_eq!(e.stats().cache.expirations, 1);
}

#[test]
fn metrics_and_prometheus_text() {
    let e = engine(200, 8, Metric::Cosine, IndexKind::Native);
    for _ in 0..10 {
        e.similar("t1", 5, None).unwrap();
    }
    let _ = e.similar("missing", 5, None);
    let st = e.stats();
    let sim = st.ops.iter().find(|o| o.name == "similar").unwrap();
    assert_eq!((sim.count, sim.errors), (11, 1));
    assert!(sim.p50_us > 0.0 && sim.p50_us <= sim.p95_us && sim.p95_us <= sim.p99_us);
    let text = e.metrics_text();
    assert!(text.contains("embedrec_items 200"));
    assert!(text.contains("embedrec_op_duration_seconds_count{op=\"similar\"} 11"));
    assert!(text.contains("embedrec_cache_hit_rate"));
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let v = line.rsplit(' ').next().unwrap();
        assert!(v.parse::<f64>().is_ok(), "bad sample line {line:?}");
    }
    // Latencies are histograms: cumulative buckets up to +Inf, which equals the count.
    let bucket = |le: &str| -> u64 {
        let key = format!("embedrec_op_duration_seconds_bucket{{op=\"similar\",le=\"{le}\"}} ");
        let line = text.lines().find(|l| l.starts_with(&key)).unwrap();
        line[key.len()..].parse().unwrap()
    };
    assert_eq!(bucket("+Inf"), 11);
    assert!(bucket("0.00001") <= bucket("0.001") && bucket("0.001") <= bucket("10"));
    assert_eq!(LATENCY_BUCKETS.len(), 16);
}

/// Two engines in one exposition: each family's HELP and TYPE once, every sample labelled
/// with its engine (and the process id on request), counters named `_total`.
#[test]
fn several_engines_share_one_exposition() {
    let a = engine(50, 4, Metric::Cosine, IndexKind::Exact);
    let b = engine(70, 4, Metric::Cosine, IndexKind::Exact);
    a.similar("t1", 3, None).unwrap();
    let text = metrics_text(&[("catalog", &a), ("sessions\"x", &b)], &Default::default()).unwrap();
    let mut helps = std::collections::HashSet::new();
    for line in text.lines().filter(|l| l.starts_with("# HELP")) {
        assert!(
            helps.insert(line.split(' ').nth(2).unwrap()),
            "HELP twice: {line}"
        );
    }
    for line in text
        .lines()
        .filter(|l| l.starts_with("# TYPE") && l.ends_with("counter"))
    {
        assert!(
            line.split(' ').nth(2).unwrap().ends_with("_total"),
            "{line}"
        );
    }
    assert!(text.contains("embedrec_items{engine=\"catalog\"} 50\n"));
    assert!(
        text.contains("embedrec_items{engine=\"sessions\\\"x\"} 70\n"),
        "{text}"
    );
    assert!(
        text.contains("embedrec_op_duration_seconds_count{engine=\"catalog\",op=\"similar\"} 1\n")
    );
    let with_pid =
        metrics_text(&[("a", &a)], &ExpositionOptions::default().with_pid(true)).unwrap();
    let pid = format!(
        "embedrec_items{{engine=\"a\",pid=\"{}\"}} 50",
        std::process::id()
    );
    assert!(with_pid.contains(&pid), "{with_pid}");
    for bad in [vec![("", &a)], vec![("x", &a), ("x", &b)]] {
        let err = metrics_text(&bad, &Default::default()).unwrap_err();
        assert_eq!(err.code(), "INVALID_INPUT", "{err}");
    }
}

#[test]
fn tombstones_trigger_rebuild_and_results_stay_valid() {
    let e = engine(3000, 8, Metric::L2, IndexKind::Native);
    let removed: Vec<String> = (0..1500).map(|i| format!("t{}", i * 2)).collect();
    e.remove_items(&removed).unwrap();
    assert_eq!(e.len(), 1500);
    let hits = e.search(&[0.0; 8], 100, None).unwrap();
    assert_eq!(hits.len(), 100);
    assert!(
        hits.iter()
            .all(|h| h.id[1..].parse::<usize>().unwrap() % 2 == 1)
    );
}

#[test]
fn native_index_deletes_upserts_and_filters() {
    let e = engine(4000, 8, Metric::L2, IndexKind::Native);
    let exact = engine(4000, 8, Metric::L2, IndexKind::Exact);
    // Delete 10%, move 10% elsewhere (upsert reuses the node), recycle slots with new ids.
    let gone: Vec<String> = (0..400).map(|i| format!("t{}", i * 10)).collect();
    e.remove_items(&gone).unwrap();
    exact.remove_items(&gone).unwrap();
    let moved: Vec<String> = (0..400).map(|i| format!("t{}", i * 10 + 1)).collect();
    let far = Array2::from_elem((400, 8), 50.0f32);
    e.upsert_items(&moved, far.view(), None).unwrap();
    exact.upsert_items(&moved, far.view(), None).unwrap();
    let fresh: Vec<String> = (0..300).map(|i| format!("new{i}")).collect();
    let (_, fv, _) = catalog(300, 8, 77);
    e.upsert_items(&fresh, fv.view(), None).unwrap();
    exact.upsert_items(&fresh, fv.view(), None).unwrap();
    let (_, queries, _) = catalog(50, 8, 99);
    let (mut found, mut total) = (0, 0);
    let f = Filter::new().tags_any(["jazz", "pop"]);
    for q in queries.rows() {
        let q = q.to_vec();
        for filter in [None, Some(&f)] {
            let got = ids(&e.search(&q, 10, filter).unwrap());
            let want = ids(&exact.search(&q, 10, filter).unwrap());
            assert!(
                got.iter().all(|g| !gone.contains(g)),
                "deleted item returned"
            );
            found += got.iter().filter(|g| want.contains(g)).count();
            total += want.len();
        }
    }
    let recall = found as f64 / total as f64;
    assert!(
        recall >= 0.95,
        "recall@10 after deletes/upserts/filters = {recall}"
    );
}

#[test]
fn concurrent_reads_and_writes() {
    let e = std::sync::Arc::new(engine(2000, 8, Metric::Cosine, IndexKind::Native));
    let mut handles = Vec::new();
    for t in 0..4 {
        let e = e.clone();
        handles.push(std::thread::spawn(move || {
            let mut r = Rng(t);
            for i in 0..200 {
                let q: Vec<f32> = (0..8).map(|_| r.normal()).collect();
                if t == 0 && i % 10 == 0 {
                    let id = format!("new{i}");
                    e.upsert_items(
                        &[id.as_str()],
                        embedrec::ndarray::ArrayView2::from_shape((1, 8), &q).unwrap(),
                        None,
                    )
                    .unwrap();
                } else if t == 1 && i % 10 == 0 {
                    e.remove_items(&[format!("t{i}")]).unwrap();
                } else {
                    let hits = e.search(&q, 10, None).unwrap();
                    assert_eq!(hits.len(), 10);
                }
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(e.len(), 2000 + 20 - 20);
}

#[test]
fn set_ef_search_tunes_queries_invalidates_cache_and_is_saved() {
    let e = engine(3_000, 8, Metric::L2, IndexKind::Native);
    let q = [0.5f32; 8];
    let wide = e.search(&q, 10, None).unwrap();
    assert_eq!(e.config().ef_search, 128);
    let err = e.set_ef_search(0).unwrap_err().to_string();
    assert!(err.contains("ef_search") && err.contains('0'), "{err}");
    e.set_ef_search(10).unwrap();
    assert_eq!(e.config().ef_search, 10);
    // The cached answer was dropped: this search is a miss computed with ef = 10.
    let misses = e.stats().cache.misses;
    let narrow = e.search(&q, 10, None).unwrap();
    assert_eq!(e.stats().cache.misses, misses + 1);
    assert_eq!(narrow.len(), 10);
    // A narrower walk never finds better neighbours than the wider one.
    assert!(narrow[0].score <= wide[0].score + 1e-6);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ef.embedrec");
    e.save(&path).unwrap();
    assert_eq!(Engine::load(&path).unwrap().config().ef_search, 10);
}

#[test]
fn set_threads_resizes_the_pool_keeps_answers_and_is_saved_up_to_the_cores() {
    let e = engine(2_000, 8, Metric::L2, IndexKind::Native); // built with 2 threads
    let (_, v, _) = catalog(2_000, 8, 42);
    let queries = v.slice(ndarray::s![..50, ..]);
    let before = e.search_batch(queries, 5, None).unwrap();
    assert_eq!(e.stats().threads, 2);
    let err = e.set_threads(MAX_THREADS + 1).unwrap_err().to_string();
    assert!(err.contains("threads") && err.contains("1025"), "{err}");
    assert_eq!(e.config().threads, 2, "a refused value changes nothing");
    e.set_threads(1).unwrap();
    assert_eq!((e.config().threads, e.stats().threads), (1, 1));
    e.clear_cache();
    assert_eq!(e.search_batch(queries, 5, None).unwrap(), before);
    e.set_threads(3).unwrap();
    assert_eq!(e.stats().threads, 3);
    assert_eq!(e.search_batch(queries, 5, None).unwrap(), before);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("threads.embedrec");
    e.save(&path).unwrap();
    let loaded = Engine::load(&path).unwrap();
    // The saved count, but never more threads than this machine has cores.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(loaded.config().threads, 3.min(cores));
    loaded.set_threads(0).unwrap();
    assert_eq!(loaded.config().threads, 0);
    assert!(loaded.stats().threads >= 1);
}

/// The native graph's level-0 links sit in the catalog's rows next to each vector; the
/// stats still count them as index memory, and the vector memory is what an engine without
/// the graph reports.
#[test]
fn native_links_count_as_index_memory() {
    let (n, dim) = (2_000usize, 16usize);
    let mut r = SplitMix64(3);
    let v = Array2::from_shape_fn((n, dim), |_| r.normal());
    let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    let stats = |index| {
        let mut cfg = EngineConfig::new(dim)
            .with_metric(Metric::L2)
            .with_index(index);
        cfg.exact_below = 0;
        let e = Engine::new(cfg).unwrap();
        e.upsert_items(&ids, v.view(), None).unwrap();
        e.stats()
    };
    let (native, exact) = (stats(IndexKind::Native), stats(IndexKind::Exact));
    // 2·m = 32 links of 4 bytes per item.
    assert!(
        native.index_memory_bytes >= n * 128,
        "{} bytes of index for {n} items",
        native.index_memory_bytes
    );
    assert!(exact.index_memory_bytes < n * 16);
    let (a, b) = (native.vector_memory_bytes, exact.vector_memory_bytes);
    assert!(
        a.abs_diff(b) * 20 <= b,
        "vector memory {a} with the graph's rows vs {b} without"
    );
}

#[test]
fn selective_tag_filters_visit_the_tags_items_and_follow_changes() {
    let e = Engine::new(EngineConfig::new(8).with_threads(2)).unwrap();
    let (ids_, v, _) = catalog(3_200, 8, 5);
    // 1 % of the items are "rare", every other one "even".
    let attrs: Vec<ItemAttrs> = (0..3_200)
        .map(|i| {
            let mut t = vec![if i % 2 == 0 { "even" } else { "odd" }];
            if i % 100 == 7 {
                t.push("rare");
            }
            ItemAttrs::tags(t)
        })
        .collect();
    e.upsert_items(&ids_, v.view(), Some(&attrs)).unwrap();
    let q = e.item_vector("t1").unwrap();
    let brute = |keep: &dyn Fn(usize) -> bool| -> Vec<String> {
        let mut all: Vec<(f32, usize)> = (0..3_200)
            .filter(|&i| keep(i))
            .map(|i| {
                let x = e.item_vector(&format!("t{i}")).unwrap();
                let cos = embedrec::dot(&q, &x)
                    / (embedrec::dot(&q, &q).sqrt() * embedrec::dot(&x, &x).sqrt());
                (cos, i)
            })
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0));
        all.iter().take(10).map(|p| format!("t{}", p.1)).collect()
    };
    let rare = Filter::new().tags_any(["rare"]);
    assert_eq!(
        ids(&e.search(&q, 10, Some(&rare)).unwrap()),
        brute(&|i| i % 100 == 7)
    );
    let rare_odd = Filter::new().tags_all(["rare", "odd"]);
    assert_eq!(
        ids(&e.search(&q, 10, Some(&rare_odd)).unwrap()),
        brute(&|i| i % 100 == 7 && i % 2 == 1)
    );
    let allowed = Filter::new().tags_any(["rare"]).allow(["t7", "t107", "t8"]);
    assert_eq!(ids(&e.search(&q, 10, Some(&allowed)).unwrap()).len(), 2);
    // Tags change: the next query sees the new items of the tag.
    e.upsert_items(
        &["t8"],
        v.slice(embedrec::ndarray::s![8..9, ..]),
        Some(&[ItemAttrs::tags(["rare"])]),
    )
    .unwrap();
    let got = ids(&e.search(&q, 40, Some(&rare)).unwrap());
    assert!(got.contains(&"t8".to_string()) && got.len() == 33);
    e.remove_items(&["t7"]).unwrap();
    assert!(!ids(&e.search(&q, 40, Some(&rare)).unwrap()).contains(&"t7".to_string()));
}

#[test]
fn attribute_updates_keep_what_they_do_not_name() {
    let e = Engine::new(EngineConfig::new(2)).unwrap();
    let attrs = [
        ItemAttrs::tags(["rock", "live"])
            .number("year", 1999.0)
            .number("plays", 10.0),
        ItemAttrs::tags(["jazz"]).number("year", 1960.0),
    ];
    e.upsert_items(
        &["a", "b"],
        array![[1.0f32, 0.0], [0.0, 1.0]].view(),
        Some(&attrs),
    )
    .unwrap();
    let before = e.search(&[1.0, 0.0], 2, None).unwrap();
    let recent = Filter {
        ranges: vec![NumericRange {
            attribute: "year".into(),
            min: Some(2000.0),
            max: None,
        }],
        ..Default::default()
    };
    assert!(e.search(&[1.0, 0.0], 2, Some(&recent)).unwrap().is_empty());
    // One number set, one removed; tags and the other numbers kept.
    let update = AttrUpdate {
        numbers: Some(vec![vec![("year".into(), 2004.0)], vec![]]),
        remove: vec!["plays".into()],
        ..Default::default()
    };
    e.update_attributes(&["a", "b"], &update).unwrap();
    let got = e.item_attributes(&["a", "b"]).unwrap();
    assert_eq!(
        got[0],
        ItemAttrs::tags(["rock", "live"]).number("year", 2004.0)
    );
    assert_eq!(got[1], attrs[1]);
    // Vectors untouched; filters (and the cache) see the new value at once.
    assert_eq!(e.item_vector("a").unwrap(), vec![1.0, 0.0]);
    assert_eq!(e.search(&[1.0, 0.0], 2, None).unwrap(), before);
    assert_eq!(
        ids(&e.search(&[1.0, 0.0], 2, Some(&recent)).unwrap()),
        ["a"]
    );
    // Tags replaced when given.
    let retag = AttrUpdate {
        tags: Some(vec![vec!["blues".into()]]),
        ..Default::default()
    };
    e.update_attributes(&["b"], &retag).unwrap();
    assert_eq!(
        e.item_attributes(&["b"]).unwrap()[0],
        ItemAttrs::tags(["blues"]).number("year", 1960.0)
    );
    // Hits with their metadata.
    let hits = e.with_attributes(e.search(&[1.0, 0.0], 2, None).unwrap());
    assert_eq!(hits[0].1.tags, ["rock", "live"]);
    assert_eq!(hits[1].1.numbers, [("year".to_string(), 1960.0)]);
    // The same in one call, and the hits alone without metadata; a query's error passes.
    let query = |e: &Engine| e.search(&[1.0, 0.0], 2, None);
    assert_eq!(e.answer(true, query).unwrap(), Answer::Described(hits));
    assert_eq!(
        e.answer(false, query).unwrap(),
        Answer::Hits(query(&e).unwrap())
    );
    let err = e.answer(true, |e| e.similar("nope", 2, None)).unwrap_err();
    assert!(matches!(err, Error::UnknownItem { .. }), "{err}");
    // Bad input changes nothing and names the argument.
    let snapshot = e.item_attributes(&["a", "b"]).unwrap();
    let err = e.update_attributes(&["a", "zz"], &update).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownItem { field, .. } if field == "ids[1]"),
        "{err}"
    );
    let nan = AttrUpdate {
        numbers: Some(vec![vec![("year".into(), f64::NAN)]]),
        ..Default::default()
    };
    let err = e.update_attributes(&["a"], &nan).unwrap_err();
    assert!(err.to_string().contains("year"), "{err}");
    let short = AttrUpdate {
        tags: Some(vec![]),
        ..Default::default()
    };
    let err = e.update_attributes(&["a"], &short).unwrap_err();
    assert!(err.to_string().contains("tags"), "{err}");
    let err = e
        .update_attributes(&["a", "a"], &AttrUpdate::default())
        .unwrap_err();
    assert!(err.to_string().contains("ids[1]"), "{err}");
    let empty_name = AttrUpdate {
        remove: vec![String::new()],
        ..Default::default()
    };
    assert!(e.update_attributes(&["a"], &empty_name).is_err());
    assert_eq!(e.item_attributes(&["a", "b"]).unwrap(), snapshot);
    let err = e.item_attributes(&["a", "nope"]).unwrap_err();
    assert!(
        matches!(&err, Error::UnknownItem { field, .. } if field == "ids[1]"),
        "{err}"
    );
}

#[test]
fn worker_metrics_gather_every_running_worker() {
    use embedrec::persist::{forget_worker_metrics, gather_worker_metrics, write_worker_metrics};
    let dir = tempfile::tempdir().unwrap();
    let e = engine(50, 4, Metric::Cosine, IndexKind::Exact);
    e.search(&[1.0, 0.0, 0.0, 0.0], 3, None).unwrap();
    let mine = write_worker_metrics(dir.path(), &[("catalog", &e)]).unwrap();
    let me = std::process::id();
    let text = std::fs::read_to_string(&mine).unwrap();
    assert!(text.contains(&format!("pid=\"{me}\"")));
    // Another running worker (pid 1 always runs on Linux) and one that has exited.
    let other = text.replace(&format!("pid=\"{me}\""), "pid=\"1\"");
    std::fs::write(dir.path().join("embedrec-1.prom"), &other).unwrap();
    let dead = dir.path().join("embedrec-4000000000.prom");
    std::fs::write(&dead, &other).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not metrics").unwrap();
    let all = gather_worker_metrics(dir.path()).unwrap();
    let helps = all
        .lines()
        .filter(|l| l.starts_with("# HELP embedrec_items "))
        .count();
    assert_eq!(helps, 1, "{all}");
    let items: Vec<&str> = all
        .lines()
        .filter(|l| l.starts_with("embedrec_items{"))
        .collect();
    if cfg!(target_os = "linux") {
        assert_eq!(items.len(), 2, "{all}");
        assert!(!dead.exists(), "the exited worker's file is removed");
    }
    assert!(items.iter().any(|l| l.contains(&format!("pid=\"{me}\""))));
    assert!(all.contains(
        "embedrec_op_duration_seconds_count{engine=\"catalog\",pid=\"1\",op=\"search\"} 1"
    ));
    forget_worker_metrics(dir.path(), 1).unwrap();
    forget_worker_metrics(dir.path(), 1).unwrap();
    assert_eq!(
        gather_worker_metrics(dir.path())
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("embedrec_items{"))
            .count(),
        1
    );
    // Bad input names what is wrong.
    let err = write_worker_metrics(dir.path(), &[("", &e)]).unwrap_err();
    assert!(err.to_string().contains("engines[0]"), "{err}");
    let err = gather_worker_metrics(dir.path().join("missing")).unwrap_err();
    assert_eq!(err.code(), "IO", "{err}");
}

#[test]
fn attribute_updates_leave_models_and_indexes_alone() {
    let (ids, v, a) = catalog(400, 8, 3);
    let e = Engine::new(EngineConfig::new(8).with_threads(2)).unwrap();
    e.upsert_items(&ids, v.view(), Some(&a)).unwrap();
    let (mut users, mut items) = (vec![], vec![]);
    for u in 0..80 {
        for j in 0..8 {
            users.push(format!("u{u}"));
            items.push(format!("t{}", (u * 13 + j * 29) % 400));
        }
    }
    e.add_interactions(&users, &items, None, None).unwrap();
    let als = ModelSpec::Als(AlsParams {
        factors: 8,
        iterations: 3,
        ..Default::default()
    });
    e.fit(&als, None).unwrap();
    let none = RecommendOptions::default();
    let q = e.item_vector("t5").unwrap();
    let before = (
        e.recommend("u3", 10, &none).unwrap(),
        e.similar("t7", 10, None).unwrap(),
        e.search(&q, 10, None).unwrap(),
    );
    let update = AttrUpdate {
        numbers: Some(
            ids.iter()
                .map(|_| vec![("plays".to_string(), 1.0)])
                .collect(),
        ),
        ..Default::default()
    };
    e.update_attributes(&ids, &update).unwrap();
    let after = (
        e.recommend("u3", 10, &none).unwrap(),
        e.similar("t7", 10, None).unwrap(),
        e.search(&q, 10, None).unwrap(),
    );
    assert_eq!(before, after);
    let played = RecommendOptions::with_filter(Filter {
        ranges: vec![NumericRange {
            attribute: "plays".into(),
            min: Some(1.0),
            max: None,
        }],
        ..Default::default()
    });
    assert_eq!(e.recommend("u3", 10, &played).unwrap(), before.0);
}
