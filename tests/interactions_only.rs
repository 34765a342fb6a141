//! Catalogs known from interactions: an engine without content vectors (dim 0) started from
//! an interaction log alone, and engines where only some items have vectors. Vector search
//! and content profiles see only items with vectors; models see every item; users without
//! usable signal get popularity.

mod common;
use common::*;
use embedrec::*;

/// A log over 300 items in 3 taste groups (item `i` belongs to group `i % 3`) and 90 users.
fn log() -> (Vec<String>, Vec<String>) {
    let mut r = Rng(3);
    let (mut users, mut items) = (vec![], vec![]);
    for u in 0..90 {
        for _ in 0..12 {
            users.push(format!("u{u}"));
            items.push(format!("i{}", r.below(100) * 3 + u % 3));
        }
    }
    (users, items)
}

fn group(id: &str) -> usize {
    id[1..].parse::<usize>().unwrap() % 3
}

#[test]
fn an_interaction_log_alone_is_enough_to_start() {
    let e = Engine::new(EngineConfig::new(0).with_threads(2)).unwrap();
    let (users, items) = log();
    e.add_interactions(&users, &items, None, None).unwrap();
    assert!(e.len() > 250 && e.len() <= 300);
    // Before any model: popularity.
    let pop = e.recommend("u0", 5, &RecommendOptions::default()).unwrap();
    assert_eq!(pop.len(), 5);
    assert!(pop[0].score >= pop[4].score && pop[0].score >= 1.0);
    for spec in [
        ModelSpec::Als(AlsParams {
            factors: 8,
            iterations: 8,
            ..Default::default()
        }),
        ModelSpec::ItemKnn(KnnParams::default()),
    ] {
        e.fit(&spec, None).unwrap();
        let r = e.recommend("u1", 10, &RecommendOptions::default()).unwrap();
        assert!(r.iter().filter(|h| group(&h.id) == 1).count() >= 8, "{r:?}");
        let s = e.similar("i5", 5, None).unwrap();
        assert!(s.iter().filter(|h| group(&h.id) == 2).count() >= 4, "{s:?}");
    }
    // No vectors: search is refused with a clear error, item_vector too.
    let msg = e.search(&[], 3, None).unwrap_err().to_string();
    assert!(msg.contains("dim 0"), "{msg}");
    assert!(
        e.item_vector("i0")
            .unwrap_err()
            .to_string()
            .contains("content vector")
    );
    // Items gain tags later; filters apply to model recommendations.
    let tagged: Vec<String> = (0..300).step_by(2).map(|i| format!("i{i}")).collect();
    let attrs: Vec<ItemAttrs> = tagged.iter().map(|_| ItemAttrs::tags(["even"])).collect();
    e.upsert_attributes(&tagged, Some(&attrs)).unwrap();
    let even = RecommendOptions::with_filter(Filter::new().tags_any(["even"]));
    let r = e.recommend("u1", 5, &even).unwrap();
    assert!(
        r.iter()
            .all(|h| h.id[1..].parse::<usize>().unwrap() % 2 == 0)
    );
    // A save keeps everything.
    let back = Engine::from_bytes(&e.to_bytes().unwrap()).unwrap();
    assert_eq!(back.len(), e.len());
    assert_eq!(ids(&back.recommend("u1", 5, &even).unwrap()), ids(&r));
}

#[test]
fn items_without_vectors_stay_out_of_vector_search() {
    let e = Engine::new(EngineConfig::new(8).with_threads(2)).unwrap();
    let (ids_, v, a) = catalog(50, 8, 1);
    e.upsert_items(&ids_, v.view(), Some(&a)).unwrap();
    // Interactions with items the catalog does not have: they join without vectors.
    e.add_interactions(&["a", "a", "b"], &["t1", "x1", "x2"], None, None)
        .unwrap();
    assert_eq!(e.len(), 52);
    let q = e.item_vector("t1").unwrap();
    let hits = e.search(&q, 52, None).unwrap();
    assert_eq!(hits.len(), 50);
    assert!(hits.iter().all(|h| h.id.starts_with('t')));
    // A user whose history has no vectors gets popularity, not arbitrary items.
    let r = e.recommend("b", 3, &RecommendOptions::default()).unwrap();
    assert_eq!(r.len(), 3);
    assert!(r[0].score >= 1.0, "{r:?}");
    // Similar to an item without a vector (and no model): popularity.
    assert_eq!(e.similar("x1", 2, None).unwrap().len(), 2);
    // Attributes alone keep an existing vector.
    e.upsert_attributes(&["t1"], Some(&[ItemAttrs::tags(["fav"])]))
        .unwrap();
    assert_eq!(e.item_vector("t1").unwrap(), q);
    // Saved and loaded: still without vectors; a vector given later makes it searchable.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.embedrec");
    e.save(&path).unwrap();
    let back = Engine::load(&path).unwrap();
    assert_eq!(back.search(&q, 52, None).unwrap().len(), 50);
    assert!(back.item_vector("x1").is_err());
    back.upsert_items(&["x1"], v.slice(ndarray::s![1..2, ..]), None)
        .unwrap();
    assert_eq!(back.search(&q, 52, None).unwrap().len(), 51);
    // A damaged list of vectorless items is refused.
    let mut bytes = e.to_bytes().unwrap();
    let (at, _) = section(&bytes, 6).expect("the vectorless section");
    bytes[at..at + 4].copy_from_slice(&9_999u32.to_le_bytes());
    fix_section_crc(&mut bytes, 6);
    let msg = Engine::from_bytes(&bytes).unwrap_err().to_string();
    assert!(msg.contains("vectorless"), "{msg}");
}

#[test]
fn knn_users_without_neighbour_scores_get_popularity() {
    let e = Engine::new(EngineConfig::new(0).with_threads(2)).unwrap();
    let (users, items) = log();
    e.add_interactions(&users, &items, None, None).unwrap();
    // An item nobody else touched: no neighbours.
    e.add_interactions(&["loner"], &["solo"], None, None)
        .unwrap();
    e.fit(&ModelSpec::ItemKnn(KnnParams::default()), None)
        .unwrap();
    let r = e
        .recommend("loner", 5, &RecommendOptions::default())
        .unwrap();
    let pop: Vec<f32> = r.iter().map(|h| h.score).collect();
    assert_eq!(r.len(), 5);
    assert!(
        pop[0] >= 1.0 && pop.windows(2).all(|w| w[0] >= w[1]),
        "{r:?}"
    );
}

/// A log given in one call as dictionary-encoded columns, or in uneven pieces as plain
/// slices, makes the same engine: the same counts, popularity and trained model (the items
/// are created first, so that both engines give them the same slots).
#[test]
fn a_log_in_one_call_or_in_pieces_makes_the_same_engine() {
    let (users, items) = log();
    let weights: Vec<f32> = (0..users.len()).map(|r| 1.0 + (r % 4) as f32).collect();
    let ts: Vec<i64> = (0..users.len() as i64).map(|r| r % 5 * 100).collect();
    let config = || EngineConfig::new(0).with_threads(2);
    let (whole, pieces) = (
        Engine::new(config()).unwrap(),
        Engine::new(config()).unwrap(),
    );
    let catalog: Vec<String> = (0..300).map(|i| format!("i{i}")).collect();
    for e in [&whole, &pieces] {
        e.upsert_attributes(&catalog, None).unwrap();
    }
    whole
        .add_interaction_columns(
            &IdColumn::from_ids(&users),
            &IdColumn::from_ids(&items),
            Some(&weights),
            Some(&ts),
        )
        .unwrap();
    let mut at = 0;
    for (i, n) in [1, 7, 100, 3, 500].iter().cycle().enumerate() {
        let end = (at + n + i).min(users.len());
        let r = at..end;
        pieces
            .add_interactions(
                &users[r.clone()],
                &items[r.clone()],
                Some(&weights[r.clone()]),
                Some(&ts[r]),
            )
            .unwrap();
        at = end;
        if at == users.len() {
            break;
        }
    }
    let (a, b) = (whole.stats(), pieces.stats());
    assert_eq!(
        (a.items, a.users, a.interactions),
        (b.items, b.users, b.interactions)
    );
    let none = RecommendOptions::default();
    let popular = |e: &Engine| e.recommend_for_items::<&str>(&[], None, 20, &none).unwrap();
    assert_eq!(popular(&whole), popular(&pieces));
    let spec = ModelSpec::Als(AlsParams {
        factors: 8,
        iterations: 4,
        ..Default::default()
    });
    for e in [&whole, &pieces] {
        e.fit(&spec, None).unwrap();
    }
    for u in ["u0", "u7", "u45"] {
        assert_eq!(
            whole.recommend(u, 10, &none).unwrap(),
            pieces.recommend(u, 10, &none).unwrap()
        );
    }
    // A bad id is named by the first row that holds it; nothing is stored.
    let err = whole
        .add_interaction_columns(
            &IdColumn::from_ids(&["a", "b", "", "c", ""]),
            &IdColumn::from_ids(&["i0"; 5]),
            None,
            None,
        )
        .unwrap_err();
    assert!(err.to_string().contains("user_ids[2]"), "{err}");
    assert_eq!(whole.stats().interactions, a.interactions);
    assert!(
        whole
            .add_interaction_columns(
                &IdColumn::from_ids(&["a"]),
                &IdColumn::from_ids(&["i0", "i1"]),
                None,
                None
            )
            .is_err()
    );
}
