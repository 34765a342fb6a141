//! Read-only engines: opened memory-mapped from a saved file, they answer exactly as a
//! loaded engine does, refuse every write, share one snapshot across openers, keep serving
//! the snapshot they opened while a writer replaces the file, and report damage as errors
//! (on open for the header, table and small sections; on `verify` for the mapped ones).

mod common;
use common::*;
use embedrec::*;

fn read_only() -> OpenOptions {
    OpenOptions::default().with_read_only(true)
}

/// An engine with everything a file holds: vectors and the graph, tags and attributes,
/// removed items, items known only from interactions, users and a trained model.
fn full(storage: VectorStorage, metric: Metric) -> Engine {
    let e = Engine::new(
        EngineConfig::new(16)
            .with_metric(metric)
            .with_vector_storage(storage)
            .with_index(IndexKind::Native)
            .with_threads(2),
    )
    .unwrap();
    let (ids, v, a) = catalog(2_000, 16, 3);
    e.upsert_items(&ids, v.view(), Some(&a)).unwrap();
    e.remove_items(&["t5", "t6"]).unwrap();
    let (mut users, mut items) = (Vec::new(), Vec::new());
    for u in 0..200 {
        for j in 0..12 {
            users.push(format!("u{u}"));
            let i = (u * 31 + j * 17) % 2_050;
            items.push(if i >= 2_000 {
                format!("x{i}")
            } else {
                format!("t{i}")
            });
        }
    }
    e.add_interactions(&users, &items, None, None).unwrap();
    e.fit(&ModelSpec::parse("als").unwrap(), None).unwrap();
    e
}

fn answers(e: &Engine) -> Vec<Vec<String>> {
    let (_, v, _) = catalog(2_000, 16, 3);
    let f = Filter::new()
        .tags_any(["jazz"])
        .range("year", Some(1990.0), None);
    let o = RecommendOptions::default();
    let mut out = vec![vec![e.len().to_string()]];
    for r in [0, 700, 1_999] {
        let q = v.row(r).to_vec();
        out.push(ids(&e.search(&q, 10, None).unwrap()));
        out.push(ids(&e.search(&q, 10, Some(&f)).unwrap()));
    }
    out.push(ids(&e.similar("t7", 10, None).unwrap()));
    out.push(ids(&e.recommend("u3", 10, &o).unwrap()));
    for hits in e.recommend_batch(&["u1", "u2", "u150"], 5, &o).unwrap() {
        out.push(ids(&hits));
    }
    out.push(
        e.item_vector("t9")
            .unwrap()
            .iter()
            .map(|x| x.to_string())
            .collect(),
    );
    out
}

#[test]
fn a_read_only_engine_answers_as_a_loaded_one_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    for (storage, metric) in [
        (VectorStorage::F32, Metric::Cosine),
        (VectorStorage::F32, Metric::L2),
        (VectorStorage::Int8, Metric::L2),
        (VectorStorage::Int8, Metric::Dot),
        (VectorStorage::F16, Metric::Cosine),
        (VectorStorage::F16, Metric::L2),
    ] {
        let path = dir.path().join(format!("{storage:?}-{metric:?}.embedrec"));
        let e = full(storage, metric);
        e.save(&path).unwrap();
        let loaded = Engine::load(&path).unwrap();
        let ro = Engine::open(&path, None, read_only()).unwrap();
        assert!(ro.is_read_only() && !loaded.is_read_only() && !ro.is_durable());
        let file_len = std::fs::metadata(&path).unwrap().len() as usize;
        assert_eq!(ro.stats().mapped_bytes, file_len);
        assert_eq!(loaded.stats().mapped_bytes, 0);
        let want = answers(&loaded);
        assert_eq!(answers(&ro), want, "{storage:?} {metric:?}");
        assert_eq!(answers(&e), want, "{storage:?} {metric:?}");
        assert_eq!(ro.config(), loaded.config());
        ro.verify().unwrap();
        // Every write is refused with READ_ONLY naming the operation; nothing changes.
        let (_, v, _) = catalog(1, 16, 9);
        let attrs = [ItemAttrs::tags(["x"])];
        let refused: Vec<(&str, Result<()>)> = vec![
            ("upsert_items", ro.upsert_items(&["n1"], v.view(), None)),
            ("upsert_items", ro.upsert_attributes(&["t1"], Some(&attrs))),
            ("remove_items", ro.remove_items(&["t1"]).map(|_| ())),
            (
                "add_interactions",
                ro.add_interactions(&["u1"], &["t1"], None, None),
            ),
            (
                "fit",
                ro.fit(&ModelSpec::parse("popularity").unwrap(), None)
                    .map(|_| ()),
            ),
            ("clear_model", ro.clear_model()),
        ];
        for (op, r) in refused {
            let err = r.unwrap_err();
            assert_eq!(err.code(), "READ_ONLY", "{op}: {err}");
            assert!(err.to_string().contains(op), "{err}");
        }
        assert_eq!(answers(&ro), want);
        // Write options make no sense read-only: refused, naming the option.
        for (field, o) in [
            ("sync", read_only().with_sync(SyncMode::Off)),
            ("checkpoint_bytes", read_only().with_checkpoint_bytes(1)),
        ] {
            let err = Engine::open(&path, None, o).unwrap_err();
            assert_eq!(err.code(), "INVALID_INPUT", "{err}");
            assert!(err.to_string().contains(field), "{err}");
        }
        // Per-process settings still apply, and saving a copy elsewhere works.
        ro.set_ef_search(64).unwrap();
        ro.clear_cache();
        let copy = dir.path().join("copy.embedrec");
        ro.save(&copy).unwrap();
        assert_eq!(answers(&Engine::load(&copy).unwrap()), want);
    }
}

/// Openers of one file agree on its identity; a writer replacing the file (save or
/// checkpoint, by rename) leaves open readers on the snapshot they opened, and a new
/// opener sees the new one.
#[test]
fn readers_keep_their_snapshot_while_the_file_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.embedrec");
    let e = full(VectorStorage::F32, Metric::Cosine);
    e.save(&path).unwrap();
    let a = Engine::open(&path, None, read_only()).unwrap();
    let b = Engine::open(&path, None, read_only()).unwrap();
    let (pa, ida) = a.snapshot().unwrap();
    assert_eq!(pa, path.as_path());
    assert_eq!(ida.len(), 32);
    assert_eq!(b.snapshot().unwrap().1, ida);
    assert!(e.snapshot().is_none());
    let before = answers(&a);
    assert!(!a.snapshot_replaced().unwrap());
    assert!(
        !e.snapshot_replaced().unwrap(),
        "an engine in memory has no snapshot"
    );
    // A durable writer on the same path checkpoints a changed engine over the file.
    let w = Engine::open(&path, None, OpenOptions::default()).unwrap();
    w.remove_items(&["t1", "t2", "t3"]).unwrap();
    w.checkpoint().unwrap();
    assert!(a.snapshot_replaced().unwrap() && b.snapshot_replaced().unwrap());
    assert_eq!(answers(&a), before);
    assert_eq!(answers(&b), before);
    let c = Engine::open(&path, None, read_only()).unwrap();
    assert_ne!(c.snapshot().unwrap().1, ida);
    // Opening by identity: the current snapshot opens, the replaced one is refused.
    let (_, idc) = c.snapshot().unwrap();
    assert!(!c.snapshot_replaced().unwrap());
    assert_eq!(Engine::open_snapshot(&path, &idc).unwrap().len(), c.len());
    let err = Engine::open_snapshot(&path, &ida).unwrap_err();
    assert!(err.to_string().contains("replaced"), "{err}");
    assert_eq!(c.len(), a.len() - 3);
    drop(w);
    std::fs::remove_file(&path).unwrap();
    assert!(c.snapshot_replaced().unwrap(), "a removed file is replaced");
}

/// A buffer handed to `from_bytes_read_only` is served in place: the same answers as the
/// heap engine, the same refusals, no snapshot to pickle by reference, damage reported as
/// for a mapped file.
#[test]
fn a_host_buffer_is_served_in_place_read_only() {
    let e = full(VectorStorage::F32, Metric::Cosine);
    let bytes = e.to_bytes().unwrap();
    let want = answers(&e);
    let ro = Engine::from_bytes_read_only(bytes.clone()).unwrap();
    assert!(ro.is_read_only());
    assert_eq!(ro.stats().mapped_bytes, bytes.len());
    assert_eq!(answers(&ro), want);
    assert!(ro.snapshot().is_none());
    ro.verify().unwrap();
    let err = ro.remove_items(&["t1"]).unwrap_err();
    assert_eq!(err.code(), "READ_ONLY");
    assert!(err.to_string().contains("<bytes>"), "{err}");
    // Shared buffers (Arc) work as well; the engine keeps its own reference.
    let shared: std::sync::Arc<[u8]> = bytes.clone().into();
    let ro2 = Engine::from_bytes_read_only(std::sync::Arc::clone(&shared)).unwrap();
    drop(shared);
    assert_eq!(answers(&ro2), want);
    // Damage: refused on open (header, small sections) or found by verify (rows).
    let mut b = bytes.clone();
    b[0] ^= 1;
    assert_eq!(
        Engine::from_bytes_read_only(b).unwrap_err().code(),
        "CORRUPT"
    );
    assert_eq!(
        Engine::from_bytes_read_only(bytes[..bytes.len() / 2].to_vec())
            .unwrap_err()
            .code(),
        "CORRUPT"
    );
    let (rows, len) = section(&bytes, 7).unwrap();
    let mut b = bytes.clone();
    b[rows + len - 8] ^= 0x55;
    let ro = Engine::from_bytes_read_only(b).unwrap();
    assert_eq!(ro.verify().unwrap_err().code(), "CORRUPT");
}

#[test]
fn version_1_files_open_read_only() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/format-v1/cosine-als.embedrec");
    let ro = Engine::open(&path, None, read_only()).unwrap();
    let heap = Engine::load(&path).unwrap();
    assert_eq!(ro.len(), heap.len());
    let q = [0.3, -0.2, 0.1, 0.5, -0.4, 0.2, 0.0, 0.1];
    assert_eq!(
        ids(&ro.search(&q, 10, None).unwrap()),
        ids(&heap.search(&q, 10, None).unwrap())
    );
    ro.verify().unwrap();
    assert_eq!(
        ro.add_interactions(&["u1"], &["i1"], None, None)
            .unwrap_err()
            .code(),
        "READ_ONLY"
    );
}

#[test]
fn damage_is_an_error_on_open_or_on_verify_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.embedrec");
    let e = full(VectorStorage::F32, Metric::Cosine);
    e.save(&path).unwrap();
    let good = std::fs::read(&path).unwrap();
    let open = |b: &[u8]| {
        std::fs::write(&path, b).unwrap();
        Engine::open(&path, None, read_only())
    };
    // Header, table, truncation, small sections: refused on open.
    for (what, at) in [
        ("magic", 0),
        ("table", 40),
        ("meta", section(&good, 1).unwrap().0),
    ] {
        let mut b = good.clone();
        b[at] ^= 0x10;
        let err = open(&b).unwrap_err();
        assert_eq!(err.code(), "CORRUPT", "{what}: {err}");
    }
    for cut in [0, 31, 4096, good.len() / 2, good.len() - 1] {
        assert_eq!(
            open(&good[..cut]).unwrap_err().code(),
            "CORRUPT",
            "cut {cut}"
        );
    }
    // A vector in the mapped rows: opens (its pages are not read), `verify` finds it.
    let (rows, len) = section(&good, 7).unwrap();
    let mut b = good.clone();
    b[rows + len - 8] ^= 0x55;
    let ro = open(&b).unwrap();
    let err = ro.verify().unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { section, reason, .. }
            if section == "rows" && reason.contains("checksum")),
        "{err}"
    );
    // Links pointing outside the catalog, with checksums made right (a hostile file):
    // queries skip them instead of reading out of bounds.
    let mut b = good.clone();
    let head = u64::from_le_bytes(b[rows + 24..rows + 32].try_into().unwrap()) as usize;
    let stride = u64::from_le_bytes(b[rows + 40..rows + 48].try_into().unwrap()) as usize;
    for r in 0..2_000 {
        for j in 0..head.min(4) {
            let at = rows + 4096 + r * stride + j * 4;
            b[at..at + 4].copy_from_slice(&(4_000_000_000u32 - j as u32).to_le_bytes());
        }
    }
    fix_section_crc(&mut b, 7);
    let ro = open(&b).unwrap();
    ro.verify().unwrap();
    let (_, v, _) = catalog(2_000, 16, 3);
    let hits = ro.search(&v.row(3).to_vec(), 10, None).unwrap();
    assert!(hits.len() <= 10);
    // The same file read into memory is refused (every link is checked there).
    assert_eq!(Engine::load(&path).unwrap_err().code(), "CORRUPT");
    // Missing files and directories are I/O errors.
    let err = Engine::open(dir.path().join("none"), None, read_only()).unwrap_err();
    assert_eq!(err.code(), "IO", "{err}");
    let err = Engine::open(dir.path(), None, read_only()).unwrap_err();
    assert_eq!(err.code(), "IO", "{err}");
}

/// Opened read-only, an index that walks codes of its own re-scores only a few f32 rows per
/// query: the rows' pages are advised as read at random (a fault reads its own pages, not a
/// window around them, which under memory pressure would push out pages still wanted). The
/// kernel shows the advice as `rr` among the mapping's flags; the f32 graph, which walks the
/// rows themselves, keeps the default.
#[cfg(target_os = "linux")]
#[test]
fn rows_re_scored_by_a_code_index_are_advised_as_random_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (ids, v, _) = catalog(3_000, 64, 9);
    for index in [
        IndexKind::Native,
        IndexKind::NativeInt8,
        IndexKind::Native1Bit,
    ] {
        let e = Engine::new(EngineConfig::new(64).with_index(index).with_threads(1)).unwrap();
        e.upsert_items(&ids, v.view(), None).unwrap();
        let path = dir.path().join(format!("{index:?}.embedrec"));
        e.save(&path).unwrap();
        let ro = Engine::open(&path, None, read_only()).unwrap();
        assert_eq!(
            ro.search(&v.row(3).to_vec(), 1, None).unwrap()[0].id,
            "t3".into()
        );
        // Each mapping of the file (a range advised differently is a mapping of its own),
        // with its flags.
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let name = path.canonicalize().unwrap().to_string_lossy().into_owned();
        let (mut inside, mut flags) = (false, Vec::new());
        for line in smaps.lines() {
            let range = line.split_whitespace().next().unwrap_or("");
            if range.contains('-') && range.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                inside = line.ends_with(&name);
            } else if inside && let Some(f) = line.strip_prefix("VmFlags:") {
                flags.push(f.split_whitespace().any(|x| x == "rr"));
            }
        }
        assert!(!flags.is_empty(), "{index:?}: the file is not mapped");
        let walks_codes = index != IndexKind::Native;
        assert_eq!(
            flags.iter().any(|&rr| rr),
            walks_codes,
            "{index:?}: {flags:?}"
        );
        drop(ro);
    }
}
