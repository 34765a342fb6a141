//! Regression tests of the loader and the writer against what an attacker or a crash can do:
//! a section that declares far more bytes than the file holds, out-of-range weights and
//! parameters, leftover temp files, a FIFO in place of the file, a file that asks for a
//! thousand threads; and any sequence of valid operations survives save and load.

mod common;
use common::*;
use embedrec::*;
use proptest::prelude::*;
use std::sync::mpsc;
use std::time::Duration;

fn small(threads: usize) -> Engine {
    let e = Engine::new(EngineConfig::new(4).with_threads(threads)).unwrap();
    let (ids, v, a) = catalog(50, 4, 9);
    e.upsert_items(&ids, v.view(), Some(&a)).unwrap();
    e.add_interactions(&["u1", "u2"], &["t1", "t2"], None, None)
        .unwrap();
    e
}

/// A META section declared 6 GB long in a sparse file is refused before anything is read
/// or allocated (it used to be allocated whole, and read for half a minute).
#[test]
fn a_huge_declared_section_is_refused_before_it_is_read() {
    let mut b = small(1).to_bytes().unwrap();
    let (meta_off, meta_len) = section(&b, 1).unwrap();
    // Grown by whole pages, so that later sections stay page-aligned.
    let grow: u64 = 1_464_844 * 4096;
    let huge = meta_len as u64 + grow;
    // META's new length, every later section moved by as much, the total, the checksums.
    let n = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    for i in 0..n {
        let e = 32 + i * 32;
        let off = u64::from_le_bytes(b[e + 8..e + 16].try_into().unwrap());
        if off as usize == meta_off {
            b[e + 16..e + 24].copy_from_slice(&huge.to_le_bytes());
        } else if off as usize > meta_off {
            b[e + 8..e + 16].copy_from_slice(&(off + grow).to_le_bytes());
        }
    }
    let total = b.len() as u64 + grow;
    b[16..24].copy_from_slice(&total.to_le_bytes());
    crc_table_fix(&mut b);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse.embedrec");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&b[..meta_off]).unwrap();
        f.seek(SeekFrom::Start(meta_off as u64 + huge)).unwrap();
        f.write_all(&b[meta_off + meta_len..]).unwrap();
        assert_eq!(f.metadata().unwrap().len(), total);
    }
    let err = Engine::load(&path).unwrap_err();
    assert_eq!(err.code(), "CORRUPT", "{err}");
    assert!(
        err.to_string().contains("more than this section may hold"),
        "{err}"
    );
}

#[test]
fn weights_and_model_parameters_are_bounded_on_every_way_in() {
    let e = small(1);
    for w in [
        3e38f32,
        f32::INFINITY,
        f32::NAN,
        0.0,
        -1.0,
        MAX_WEIGHT * 2.0,
    ] {
        let err = e
            .add_interactions(&["u3"], &["t3"], Some(&[w]), None)
            .unwrap_err();
        assert!(err.to_string().contains("weights[0]"), "{err}");
    }
    let err = e
        .recommend_for_items(&["t1"], Some(&[3e38]), 3, &RecommendOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("weights[0]"), "{err}");
    // The largest weights keep every model finite, and what is saved loads back.
    e.add_interactions(
        &["u3", "u3"],
        &["t3", "t3"],
        Some(&[MAX_WEIGHT, MAX_WEIGHT]),
        None,
    )
    .unwrap();
    for model in ["popularity", "als", "item_knn", "ease"] {
        e.fit(&ModelSpec::parse(model).unwrap(), None).unwrap();
        let hits = e.recommend("u1", 3, &RecommendOptions::default()).unwrap();
        assert!(
            hits.iter().all(|h| h.score.is_finite()),
            "{model}: {hits:?}"
        );
        let back = Engine::from_bytes(&e.to_bytes().unwrap()).unwrap();
        assert_eq!(back.model_name(), Some(model));
    }
    let p = AlsParams {
        alpha: f32::INFINITY,
        ..Default::default()
    };
    assert!(e.fit(&ModelSpec::Als(p), None).is_err());
}

/// A checksum-valid file whose ALS alpha is NaN is damaged, not a model to serve.
#[test]
fn a_stored_model_with_invalid_parameters_is_refused() {
    let e = small(1);
    e.fit(&ModelSpec::parse("als").unwrap(), None).unwrap();
    let b = e.to_bytes().unwrap();
    let (off, _) = section(&b, 3).unwrap();
    // MODEL: magic b"MOD3", kind u32 (0: ALS), factors u64, iterations u64, regularization
    // f32, alpha f32 (docs/format.md).
    assert_eq!(&b[off..off + 8], b"MOD3\0\0\0\0");
    for (at, what) in [(24, "regularization"), (28, "alpha")] {
        let mut bad = b.clone();
        bad[off + at..off + at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        fix_section_crc(&mut bad, 3);
        let err = Engine::from_bytes(&bad).unwrap_err();
        assert_eq!(err.code(), "CORRUPT", "{err}");
        assert!(err.to_string().contains(what), "{err}");
    }
}

/// Temp files of a save never collide with leftovers (same process id, as after a reuse of
/// the pid in a container), and those of writers that no longer run are removed.
#[test]
fn leftover_temp_files_never_block_a_save_and_dead_ones_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("music.embedrec");
    let pid = std::process::id();
    for n in 0..64 {
        std::fs::write(
            dir.path().join(format!(".music.embedrec.tmp-{pid}-{n}")),
            b"x",
        )
        .unwrap();
    }
    // Process ids on Linux stay below 2^22: this writer cannot be running.
    let dead = dir.path().join(".music.embedrec.tmp-4194305-0");
    std::fs::write(&dead, b"half a file").unwrap();
    let other = dir.path().join(".other.embedrec.tmp-4194305-0");
    std::fs::write(&other, b"not ours").unwrap();
    let e = small(1);
    for _ in 0..3 {
        e.save(&path).unwrap();
    }
    assert_eq!(Engine::load(&path).unwrap().len(), 50);
    if cfg!(target_os = "linux") {
        assert!(!dead.exists(), "a dead writer's temp file was left");
    }
    assert!(other.exists(), "another target's temp file was removed");
}

/// Loading anything but a regular file fails at once (a FIFO used to block in open).
#[test]
fn a_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.embedrec");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipping: mkfifo is not available");
        return;
    }
    let (tx, rx) = mpsc::channel();
    let f = fifo.clone();
    std::thread::spawn(move || tx.send(Engine::load(&f).map(|_| ())));
    let r = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("loading a FIFO must not block");
    let err = r.unwrap_err();
    assert_eq!(err.code(), "IO", "{err}");
    assert!(err.to_string().contains("regular file"), "{err}");
}

/// A file saved with a thousand threads does not start a thousand threads on load.
#[test]
fn the_thread_count_belongs_to_the_loading_machine() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let e = small(1000);
    let back = Engine::from_bytes(&e.to_bytes().unwrap()).unwrap();
    assert!(back.config().threads <= cores, "{}", back.config().threads);
    assert!(back.stats().threads <= cores);
    // The host may still ask for more.
    back.set_threads(cores + 3).unwrap();
    assert_eq!(back.config().threads, cores + 3);
    let all = Engine::from_bytes(&small(0).to_bytes().unwrap()).unwrap();
    assert_eq!(all.config().threads, 0);
}

#[derive(Clone, Debug)]
enum Step {
    Upsert(Vec<u8>, u16),
    Remove(u8),
    Interact(u8, u8, u16),
    Fit(u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (proptest::collection::vec(any::<u8>(), 1..8), any::<u16>())
            .prop_map(|(i, s)| Step::Upsert(i, s)),
        any::<u8>().prop_map(Step::Remove),
        (any::<u8>(), any::<u8>(), 1u16..1000).prop_map(|(u, i, w)| Step::Interact(u, i, w)),
        any::<u8>().prop_map(Step::Fit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]
    /// Any sequence of valid operations, saved and loaded, gives back an equal engine: the
    /// same items, users, interactions and model, and the same answers.
    #[test]
    fn valid_operations_survive_save_and_load(
        steps in proptest::collection::vec(step(), 1..24),
        metric in 0usize..3,
        index in 0usize..4,
        storage in 0usize..3,
    ) {
        let metric = [Metric::Cosine, Metric::Dot, Metric::L2][metric];
        let index = [IndexKind::Native, IndexKind::NativeInt8, IndexKind::Native1Bit, IndexKind::Exact][index];
        let storage = [VectorStorage::F32, VectorStorage::Int8, VectorStorage::F16][storage];
        let mut cfg = EngineConfig::new(4)
            .with_metric(metric)
            .with_index(index)
            .with_vector_storage(storage)
            .with_threads(1);
        cfg.exact_below = 0;
        let e = Engine::new(cfg).unwrap();
        for s in steps {
            match s {
                Step::Upsert(ids, seed) => {
                    let mut ids: Vec<String> = ids.iter().map(|i| format!("i{}", i % 40)).collect();
                    ids.sort();
                    ids.dedup();
                    let mut r = SplitMix64(seed as u64);
                    let v = embedrec::ndarray::Array2::from_shape_fn((ids.len(), 4), |_| r.normal() + 0.01);
                    e.upsert_items(&ids, v.view(), None).unwrap();
                }
                Step::Remove(i) => {
                    let id = format!("i{}", i % 40);
                    if e.contains(&id) {
                        e.remove_items(&[id]).unwrap();
                    }
                }
                Step::Interact(u, i, w) => {
                    let id = format!("i{}", i % 40);
                    if e.contains(&id) {
                        e.add_interactions(&[format!("u{}", u % 8)], &[id], Some(&[w as f32]), None).unwrap();
                    }
                }
                Step::Fit(m) => {
                    let spec = ModelSpec::parse(["als", "item_knn", "ease", "popularity"][m as usize % 4]).unwrap();
                    let _ = e.fit(&spec, None); // no interactions yet is an error, not a state
                }
            }
        }
        let back = Engine::from_bytes(&e.to_bytes().unwrap()).unwrap();
        prop_assert_eq!(back.len(), e.len());
        let (s, t) = (e.stats(), back.stats());
        prop_assert_eq!((s.users, s.interactions, s.model), (t.users, t.interactions, t.model));
        let mut ids = e.item_ids();
        ids.sort();
        let mut back_ids = back.item_ids();
        back_ids.sort();
        prop_assert_eq!(&ids, &back_ids);
        for id in ids.iter().take(5) {
            prop_assert_eq!(e.similar(id, 5, None).unwrap(), back.similar(id, 5, None).unwrap());
        }
        for u in 0..8 {
            let u = format!("u{u}");
            let a = e.recommend(&u, 5, &RecommendOptions::default());
            let b = back.recommend(&u, 5, &RecommendOptions::default());
            prop_assert_eq!(a.is_ok(), b.is_ok());
            if let (Ok(a), Ok(b)) = (a, b) {
                prop_assert_eq!(a, b);
            }
        }
        prop_assert_eq!(back.to_bytes().unwrap(), e.to_bytes().unwrap());
    }
}
