//! Every parallel path runs on the engine's own pool: with the global rayon pool's only
//! thread held busy, queries, batches, training and evaluation over a catalog large enough
//! for parallel scans still finish (work sent to the global pool would wait for the held
//! thread).

mod common;
use common::*;
use embedrec::{Engine, EngineConfig, IndexKind, Metric, ModelSpec, RecommendOptions};
use std::sync::mpsc;
use std::time::Duration;

#[test]
fn no_work_reaches_the_global_pool() {
    rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build_global()
        .expect("this test binary builds the global pool first");
    let (release, held) = mpsc::channel::<()>();
    let (started, running) = mpsc::channel::<()>();
    rayon::spawn(move || {
        started.send(()).unwrap();
        let _ = held.recv_timeout(Duration::from_secs(120));
    });
    running.recv().unwrap();

    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        // 20,000 items: more than one parallel scan chunk, so exact scans split.
        let n = 20_000;
        let e = Engine::new(
            EngineConfig::new(8)
                .with_metric(Metric::Dot)
                .with_index(IndexKind::Exact)
                .with_threads(2),
        )
        .unwrap();
        let (ids, v, a) = catalog(n, 8, 5);
        e.upsert_items(&ids, v.view(), Some(&a)).unwrap();
        let users: Vec<String> = (0..400).map(|i| format!("u{}", i % 40)).collect();
        let items: Vec<String> = (0..400).map(|i| format!("t{}", (i * 37) % n)).collect();
        e.add_interactions(&users, &items, None, None).unwrap();
        e.search(&[1.0; 8], 10, None).unwrap();
        e.similar("t3", 10, None).unwrap();
        e.recommend("u1", 10, &RecommendOptions::default()).unwrap();
        e.recommend_for_items(&["t1"], None, 10, &RecommendOptions::default())
            .unwrap();
        e.search_batch(v.slice(embedrec::ndarray::s![..50, ..]), 5, None)
            .unwrap();
        e.fit(&ModelSpec::parse("popularity").unwrap(), None)
            .unwrap();
        e.recommend("u2", 10, &RecommendOptions::default()).unwrap();
        e.recommend_batch(&["u1", "u2"], 10, &RecommendOptions::default())
            .unwrap();
        e.fit(&ModelSpec::parse("als").unwrap(), None).unwrap();
        e.similar("t3", 10, None).unwrap();
        e.recommend_batch(&["u1", "u2"], 10, &RecommendOptions::default())
            .unwrap();
        done.send(()).unwrap();
    });
    let result = finished.recv_timeout(Duration::from_secs(100));
    release.send(()).ok();
    assert!(
        result.is_ok(),
        "engine calls did not finish while the global pool was busy: some work was sent to it"
    );
}
