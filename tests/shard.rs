//! Item-sharded engines: an engine split into shards answers every query as the whole
//! engine does (exact paths on both sides, so the comparison is exact up to rounding),
//! with filters and seen items, for content engines, ALS and popularity; the files and
//! their manifest are checked when opened.

mod common;
use common::*;
use embedrec::shard::{MANIFEST, shard_of};
use embedrec::*;

const ITEMS: usize = 1_500;

/// An engine over `ITEMS` clustered items (exact search), 300 users with a taste for one
/// genre, interactions with timestamps, and items 1500..1540 known only from interactions.
fn engine_with_log(half_life: Option<f64>) -> Engine {
    let config = EngineConfig::new(8)
        .with_index(IndexKind::Exact)
        .with_threads(2)
        .with_recency_half_life(half_life);
    let e = Engine::new(config).unwrap();
    let (ids, v, a) = catalog(ITEMS, 8, 5);
    e.upsert_items(&ids, v.view(), Some(&a)).unwrap();
    let mut r = Rng(3);
    let (mut users, mut items, mut weights, mut ts) = (vec![], vec![], vec![], vec![]);
    for u in 0..300 {
        for j in 0..20 {
            let item = match j % 4 {
                0 => r.below(ITEMS + 40),
                _ => r.below(ITEMS / 5) * 5 + u % 5,
            };
            users.push(format!("u{u}"));
            items.push(format!("t{item}"));
            weights.push(1.0 + r.below(4) as f32);
            ts.push(1_000 + r.below(100_000) as i64);
        }
    }
    // Items 1500..1540 are known from interactions only.
    for i in ITEMS..ITEMS + 40 {
        users.push(format!("u{}", i % 300));
        items.push(format!("t{i}"));
        weights.push(2.0);
        ts.push(50_000);
    }
    e.add_interactions(&users, &items, Some(&weights), Some(&ts))
        .unwrap();
    e
}

/// The same hits: ids position by position, scores within rounding (ties may swap ids).
fn same(whole: &[Hit], sharded: &[Hit], what: &str) {
    assert_eq!(whole.len(), sharded.len(), "{what}: {whole:?}\n{sharded:?}");
    for (i, (a, b)) in whole.iter().zip(sharded).enumerate() {
        let tol = 1e-4 * a.score.abs().max(1.0);
        assert!(
            (a.score - b.score).abs() <= tol,
            "{what} [{i}]: {whole:?}\n{sharded:?}"
        );
        // Equal scores may come in any order, and a tie at the last place may bring in
        // another item of that score.
        let tied = |j: usize| (whole[j].score - a.score).abs() <= tol;
        let at_cut = (whole[whole.len() - 1].score - b.score).abs() <= tol;
        assert!(
            a.id == b.id
                || at_cut
                || (0..whole.len()).any(|j| j != i && tied(j) && whole[j].id == b.id),
            "{what} [{i}]: {whole:?}\n{sharded:?}"
        );
    }
}

fn filters() -> Vec<Option<Filter>> {
    vec![
        None,
        Some(Filter::new().tags_any(["jazz", "folk"])),
        Some(
            Filter::new()
                .range("year", Some(1990.0), None)
                .tags_none(["rock"]),
        ),
        Some(Filter::new().allow((0..400).map(|i| format!("t{i}")))),
    ]
}

/// Every query of the whole engine and of its split agree.
fn check_all(whole: &Engine, set: &ShardedEngine) {
    let (_, v, _) = catalog(20, 8, 99);
    for f in filters() {
        let opts = RecommendOptions {
            filter: f.clone(),
            ..Default::default()
        };
        for q in v.rows() {
            let q = q.to_vec();
            same(
                &whole.search(&q, 10, f.as_ref()).unwrap(),
                &set.search(&q, 10, f.as_ref()).unwrap(),
                "search",
            );
        }
        for id in ["t3", "t777", "t1499", "t1510"] {
            same(
                &whole.similar(id, 10, f.as_ref()).unwrap(),
                &set.similar(id, 10, f.as_ref()).unwrap(),
                &format!("similar {id}"),
            );
        }
        for u in (0..300).step_by(23) {
            let u = format!("u{u}");
            same(
                &whole.recommend(&u, 10, &opts).unwrap(),
                &set.recommend(&u, 10, &opts).unwrap(),
                &format!("recommend {u} {f:?}"),
            );
        }
        let users: Vec<String> = (0..300).step_by(7).map(|u| format!("u{u}")).collect();
        for (w, s) in whole
            .recommend_batch(&users, 10, &opts)
            .unwrap()
            .iter()
            .zip(set.recommend_batch(&users, 10, &opts).unwrap())
        {
            same(w, &s, "recommend_batch");
        }
        let session = ["t1", "t506", "t1001", "t1520", "t1001"];
        let weights = [1.0, 3.0, 2.0, 1.0, 1.0];
        same(
            &whole
                .recommend_for_items(&session, Some(&weights), 10, &opts)
                .unwrap(),
            &set.recommend_for_items(&session, Some(&weights), 10, &opts)
                .unwrap(),
            "recommend_for_items",
        );
        let none: [&str; 0] = [];
        same(
            &whole.recommend_for_items(&none, None, 10, &opts).unwrap(),
            &set.recommend_for_items(&none, None, 10, &opts).unwrap(),
            "recommend_for_items (empty)",
        );
    }
    let keep = RecommendOptions {
        exclude_seen: false,
        ..Default::default()
    };
    same(
        &whole.recommend("u5", 20, &keep).unwrap(),
        &set.recommend("u5", 20, &keep).unwrap(),
        "recommend, seen kept",
    );
}

#[test]
fn a_content_engine_split_answers_as_the_whole() {
    for half_life in [None, Some(20_000.0)] {
        let whole = engine_with_log(half_life);
        for n in [1, 3, 4] {
            let set = ShardedEngine::split(&whole, n).unwrap();
            assert_eq!(set.len(), whole.len());
            assert_eq!(set.shards(), n);
            for (i, s) in set.shard_engines().iter().enumerate() {
                assert!(s.item_ids().iter().all(|id| shard_of(id, n) == i));
            }
            check_all(&whole, &set);
        }
    }
}

#[test]
fn an_als_engine_split_answers_as_the_whole() {
    let whole = engine_with_log(None);
    whole
        .fit(
            &ModelSpec::Als(AlsParams {
                factors: 12,
                iterations: 6,
                ..Default::default()
            }),
            None,
        )
        .unwrap();
    // Items without interactions at training time score through cold-start factors.
    let (_, v, a) = catalog(30, 8, 77);
    let cold: Vec<String> = (0..30).map(|i| format!("cold{i}")).collect();
    whole.upsert_items(&cold, v.view(), Some(&a)).unwrap();
    // A user with no stored factors is folded in from the whole history.
    whole
        .add_interactions(&["late"], &["t40"], None, None)
        .unwrap();
    let set = ShardedEngine::split(&whole, 3).unwrap();
    check_all(&whole, &set);
    // Hits with their items' metadata, read from the shards that hold them.
    let described = set.answer(true, |s| s.similar("t3", 5, None)).unwrap();
    let Answer::Described(described) = described else {
        panic!("{described:?}")
    };
    for (h, a) in &described {
        assert_eq!(*a, whole.item_attributes(&[&*h.id]).unwrap()[0], "{}", h.id);
    }
    assert_eq!(
        set.answer(false, |s| s.similar("t3", 5, None)).unwrap(),
        Answer::Hits(described.into_iter().map(|(h, _)| h).collect())
    );
    for id in ["cold0", "cold7"] {
        same(
            &whole.similar(id, 10, None).unwrap(),
            &set.similar(id, 10, None).unwrap(),
            id,
        );
    }
    same(
        &whole.recommend("late", 10, &Default::default()).unwrap(),
        &set.recommend("late", 10, &Default::default()).unwrap(),
        "recommend (folded in)",
    );
    // Batches of 64 users and more take the blocked path, on the whole engine and on each
    // shard; a user without stored factors among them is folded in from every shard.
    let mut users: Vec<String> = (0..300).map(|u| format!("u{u}")).collect();
    users.insert(5, "late".into());
    for (w, s) in whole
        .recommend_batch(&users, 5, &Default::default())
        .unwrap()
        .iter()
        .zip(set.recommend_batch(&users, 5, &Default::default()).unwrap())
    {
        same(w, &s, "recommend_batch (blocked)");
    }
}

#[test]
fn a_popularity_engine_split_answers_as_the_whole() {
    let whole = engine_with_log(None);
    whole.fit(&ModelSpec::Popularity, None).unwrap();
    let set = ShardedEngine::split(&whole, 2).unwrap();
    check_all(&whole, &set);
}

#[test]
fn shard_files_open_through_their_manifest_and_mixed_sets_are_refused() {
    let whole = engine_with_log(None);
    whole
        .fit(&ModelSpec::Als(AlsParams::default()), None)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let manifest = ShardedEngine::split_to(&whole, 3, dir.path()).unwrap();
    assert_eq!(manifest, dir.path().join(MANIFEST));
    for path in [manifest.clone(), dir.path().to_path_buf()] {
        let set = ShardedEngine::open(&path, 2).unwrap();
        assert!(set.shard_engines().iter().all(Engine::is_read_only));
        same(
            &whole.recommend("u1", 10, &Default::default()).unwrap(),
            &set.recommend("u1", 10, &Default::default()).unwrap(),
            "recommend from files",
        );
    }
    // A shard from another split: its identity differs from the manifest's.
    let other = tempfile::tempdir().unwrap();
    whole.add_interactions(&["x"], &["t1"], None, None).unwrap();
    ShardedEngine::split_to(&whole, 3, other.path()).unwrap();
    std::fs::copy(
        other.path().join("shard-1-of-3.embedrec"),
        dir.path().join("shard-1-of-3.embedrec"),
    )
    .unwrap();
    let err = ShardedEngine::open(&manifest, 0).unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT", "{err}");
    assert!(err.to_string().contains("replaced"), "{err}");
    // Damaged manifests.
    let text = std::fs::read_to_string(&manifest).unwrap();
    for bad in [
        String::new(),
        text.replace("count 3", "count 0"),
        text.replace("count 3", "count 4"),
        text.replace("shard-2-of-3", "../../etc/passwd"),
        text.replace("embedrec shards 1", "embedrec shards 9"),
        format!("{text}extra line\n"),
        "x".repeat(2_000_000),
    ] {
        std::fs::write(&manifest, &bad).unwrap();
        let err = ShardedEngine::open(&manifest, 0).unwrap_err();
        assert_eq!(err.code(), "CORRUPT", "{bad:.80}: {err}");
    }
    let missing = ShardedEngine::open(dir.path().join("nope.txt"), 0).unwrap_err();
    assert_eq!(missing.code(), "IO");
}

#[test]
fn bad_input_is_refused_with_the_argument_named() {
    let whole = engine_with_log(None);
    let set = ShardedEngine::split(&whole, 2).unwrap();
    for (err, field) in [
        (ShardedEngine::split(&whole, 0).unwrap_err(), "shards"),
        (ShardedEngine::split(&whole, 5_000).unwrap_err(), "shards"),
        (set.search(&[0.0; 8], 0, None).unwrap_err(), "k"),
        (set.search(&[0.0; 3], 5, None).unwrap_err(), "query"),
        (
            set.recommend(
                "u1",
                5,
                &RecommendOptions {
                    diversity: 0.5,
                    ..Default::default()
                },
            )
            .unwrap_err(),
            "diversity",
        ),
        (
            set.recommend_for_items(&["t1", "nope"], None, 5, &Default::default())
                .unwrap_err(),
            "items[1]",
        ),
        (
            set.recommend_for_items(&["t1"], Some(&[1.0, 2.0]), 5, &Default::default())
                .unwrap_err(),
            "weights",
        ),
        (set.similar("nope", 5, None).unwrap_err(), "nope"),
        (set.set_threads(100_000).unwrap_err(), "threads"),
    ] {
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    let err = set.recommend("nobody", 5, &Default::default()).unwrap_err();
    assert_eq!(err.code(), "UNKNOWN_USER");
    let err = set
        .recommend_batch(&["u1", "nobody"], 5, &Default::default())
        .unwrap_err();
    assert_eq!(err.code(), "UNKNOWN_USER");
    // Models that mix items' weights cannot be split.
    whole
        .fit(&ModelSpec::parse("item_knn").unwrap(), None)
        .unwrap();
    let err = ShardedEngine::split(&whole, 2).unwrap_err();
    assert!(err.to_string().contains("item_knn"), "{err}");
    // Shards of different engines do not form a set.
    let other = engine(50, 4, Metric::Cosine, IndexKind::Exact);
    let err = ShardedEngine::from_shards(vec![Engine::new(EngineConfig::new(8)).unwrap(), other])
        .unwrap_err();
    assert!(err.to_string().contains("shards[1]"), "{err}");
}
