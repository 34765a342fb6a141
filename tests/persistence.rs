//! Save/load round trips, atomic saves, and damaged files that must be errors (never panics).

mod common;
use common::*;
use embedrec::*;
use std::panic::{AssertUnwindSafe, catch_unwind};

fn sample() -> Engine {
    sample_stored(VectorStorage::F32)
}

fn sample_stored(storage: VectorStorage) -> Engine {
    let cfg = EngineConfig::new(8)
        .with_metric(Metric::Cosine)
        .with_vector_storage(storage)
        .with_recency_half_life(Some(86_400.0))
        .with_threads(2);
    let e = Engine::new(cfg).unwrap();
    let (ids, v, a) = catalog(300, 8, 3);
    e.upsert_items(&ids, v.view(), Some(&a)).unwrap();
    e.remove_items(&["t5", "t6"]).unwrap(); // free slots must survive the round trip
    e.add_interactions(
        &["u1", "u1", "u2"],
        &["t1", "t2", "t3"],
        Some(&[1.0, 2.5, 1.0]),
        Some(&[10, 20, 30]),
    )
    .unwrap();
    e
}

#[test]
fn round_trip_preserves_everything() {
    let e = sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.embedrec");
    e.save(&path).unwrap();
    let l = Engine::load(&path).unwrap();
    assert_eq!(l.config(), e.config());
    assert_eq!(l.len(), e.len());
    assert_eq!(l.item_vector("t7").unwrap(), e.item_vector("t7").unwrap());
    assert!(!l.contains("t5"));
    let (a, b) = (e.stats(), l.stats());
    assert_eq!((a.users, a.interactions), (b.users, b.interactions));
    let f = Filter::new()
        .tags_any(["jazz"])
        .range("year", Some(1970.0), None);
    assert_eq!(
        ids(&l.search(&[1.0; 8], 10, Some(&f)).unwrap()),
        ids(&e.search(&[1.0; 8], 10, Some(&f)).unwrap())
    );
    let o = RecommendOptions::default();
    assert_eq!(
        ids(&l.recommend("u1", 10, &o).unwrap()),
        ids(&e.recommend("u1", 10, &o).unwrap())
    );
    // New ids reuse free slots after load exactly as before.
    let row = embedrec::ndarray::Array2::<f32>::ones((1, 8));
    l.upsert_items(&["fresh"], row.view(), None).unwrap();
    assert_eq!(l.len(), e.len() + 1);
    // No temp files left behind.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|d| d.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn save_replaces_atomically_and_failed_save_keeps_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.embedrec");
    let e = sample();
    e.save(&path).unwrap();
    let old = std::fs::read(&path).unwrap();
    // Saving into a missing directory fails with an Io error naming the path.
    let bad = dir.path().join("missing").join("e.embedrec");
    let err = e.save(&bad).unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("missing"),
        "{err}"
    );
    // A second save over the same path replaces it whole.
    e.add_interactions(&["u9"], &["t9"], None, None).unwrap();
    e.save(&path).unwrap();
    assert_ne!(std::fs::read(&path).unwrap(), old);
    assert_eq!(Engine::load(&path).unwrap().stats().users, 3);
}

#[test]
fn concurrent_saves_leave_one_valid_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.embedrec");
    let e = std::sync::Arc::new(sample());
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let (e, p) = (e.clone(), path.clone());
            std::thread::spawn(move || e.save(&p).unwrap())
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(Engine::load(&path).unwrap().len(), e.len());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Damaged bytes are refused both from memory and from a file (which is read at offsets,
/// section by section, along a different path).
fn must_fail(bytes: &[u8], what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.embedrec");
    std::fs::write(&path, bytes).unwrap();
    for (how, load) in [
        (
            "from_bytes",
            &(|| Engine::from_bytes(bytes)) as &dyn Fn() -> _,
        ),
        ("load", &|| Engine::load(&path)),
    ] {
        match catch_unwind(AssertUnwindSafe(load)) {
            Err(_) => panic!("{what} ({how}): panicked"),
            Ok(Ok(_)) => panic!("{what} ({how}): a damaged file loaded"),
            Ok(Err(e)) => assert!(
                matches!(e, Error::Corrupt { .. } | Error::UnsupportedVersion { .. }),
                "{what} ({how}): unexpected error kind {e}"
            ),
        }
    }
}

#[test]
fn truncation_at_every_header_offset_and_many_body_offsets() {
    for storage in [VectorStorage::F32, VectorStorage::Int8, VectorStorage::F16] {
        truncations(&sample_stored(storage).to_bytes().unwrap());
    }
}

fn truncations(bytes: &[u8]) {
    for cut in 0..200.min(bytes.len()) {
        must_fail(&bytes[..cut], &format!("truncated at {cut}"));
    }
    let mut r = Rng(9);
    for _ in 0..300 {
        let cut = r.below(bytes.len());
        must_fail(&bytes[..cut], &format!("truncated at {cut}"));
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    must_fail(&longer, "one extra byte");
}

#[test]
fn bit_flips_are_detected() {
    for storage in [VectorStorage::F32, VectorStorage::Int8, VectorStorage::F16] {
        bit_flips(&sample_stored(storage).to_bytes().unwrap());
    }
}

fn bit_flips(bytes: &[u8]) {
    // Every bit of the header and table.
    for i in 0..(96 * 8) {
        let mut b = bytes.to_vec();
        b[i / 8] ^= 1 << (i % 8);
        must_fail(&b, &format!("bit {i} flipped"));
    }
    let mut r = Rng(11);
    for _ in 0..2000 {
        let mut b = bytes.to_vec();
        let i = r.below(b.len());
        b[i] ^= 1 << r.below(8);
        must_fail(&b, &format!("byte {i} flipped"));
    }
}

#[test]
fn hostile_headers_and_foreign_files() {
    must_fail(b"", "empty");
    must_fail(
        b"not an embedrec file at all, just text padding the header......",
        "text",
    );
    let good = sample().to_bytes().unwrap();
    // Unknown future version.
    let mut v = good.clone();
    v[8] = 99;
    assert!(matches!(
        Engine::from_bytes(&v),
        Err(Error::UnsupportedVersion { found: 99, .. })
    ));
    // Valid checksums but hostile values: a section claiming a huge length.
    let mut h = good.clone();
    h[32 + 16..32 + 24].copy_from_slice(&u64::MAX.to_le_bytes());
    let crc = crc_table_fix(&mut h);
    let _ = crc;
    must_fail(&h, "section length u64::MAX with re-computed checksums");
    // Huge section count.
    let mut c = good.clone();
    c[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    fix_header_crc(&mut c);
    must_fail(&c, "section count u32::MAX");
}

#[test]
fn load_of_missing_file_is_io_error() {
    let err = Engine::load("/definitely/not/here.embedrec").unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("not/here"),
        "{err}"
    );
    // A directory is not a damaged file either.
    let dir = tempfile::tempdir().unwrap();
    let err = Engine::load(dir.path()).unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("directory"),
        "{err}"
    );
}

#[test]
fn native_graph_is_stored_and_hostile_graphs_are_rejected() {
    let e = engine(3000, 8, Metric::Cosine, IndexKind::Native);
    e.remove_items(&["t1", "t2"]).unwrap();
    let bytes = e.to_bytes().unwrap();
    let (off, len) = section(&bytes, 4).expect("graph section");
    assert!(len > 3000 * 4);
    let l = Engine::from_bytes(&bytes).unwrap();
    for q in [[1.0f32; 8], [-1.0; 8]] {
        assert_eq!(
            ids(&l.search(&q, 10, None).unwrap()),
            ids(&e.search(&q, 10, None).unwrap())
        );
    }
    // A link id outside the catalog, with every checksum recomputed: an error, not a panic.
    // Level-0 links of slot 0 start after the 40-byte header and slot 0's 2-byte head + count.
    let mut bad = bytes.clone();
    let first_link = off + 40 + 2 + 4;
    bad[first_link..first_link + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fix_section_crc(&mut bad, 4);
    let err = Engine::from_bytes(&bad).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { section, .. } if section == "graph"),
        "{err}"
    );
    // The same damage without re-computed checksums: the graph is parsed as it streams in,
    // and the error still says why (the checksum), naming the section.
    let mut bad = bytes.clone();
    bad[first_link..first_link + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = Engine::from_bytes(&bad).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { section, reason, .. }
            if section == "graph" && reason.contains("checksum")),
        "{err}"
    );
    // An impossible link count.
    let mut bad = bytes.clone();
    bad[off + 40 + 2..off + 40 + 6].copy_from_slice(&1000u32.to_le_bytes());
    fix_section_crc(&mut bad, 4);
    assert!(matches!(
        Engine::from_bytes(&bad),
        Err(Error::Corrupt { .. })
    ));
    // Truncated graph section (a byte removed and every length/offset kept consistent is hard
    // to forge; a wrong slot count is the same class of error).
    let mut bad = bytes.clone();
    bad[off + 8..off + 16].copy_from_slice(&5u64.to_le_bytes());
    fix_section_crc(&mut bad, 4);
    assert!(matches!(
        Engine::from_bytes(&bad),
        Err(Error::Corrupt { .. })
    ));
}

#[test]
fn int8_index_round_trips_with_identical_answers() {
    let (ids, v, a) = catalog(4_000, 16, 5);
    let mut cfg = EngineConfig::new(16)
        .with_metric(Metric::L2)
        .with_index(IndexKind::NativeInt8)
        .with_cache(0, 0, None);
    cfg.exact_below = 0;
    let e = Engine::new(cfg).unwrap();
    e.upsert_items(&ids, v.view(), Some(&a)).unwrap();
    assert_eq!(e.stats().index, "native_int8");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("int8.embedrec");
    e.save(&path).unwrap();
    let l = Engine::load(&path).unwrap();
    assert_eq!(l.stats().index, "native_int8");
    // The codes and their level-0 lists are stored with the graph, so a read-only open
    // (f32 rows left in the mapped file) answers the same.
    let ro = embedrec::OpenOptions::default().with_read_only(true);
    let mapped = Engine::open(&path, None, ro).unwrap();
    for row in 0..20 {
        let q = v.row(row).to_vec();
        let (a, b) = (
            e.search(&q, 10, None).unwrap(),
            l.search(&q, 10, None).unwrap(),
        );
        assert_eq!(a, b, "query {row}");
        assert_eq!(
            a,
            mapped.search(&q, 10, None).unwrap(),
            "query {row}, mapped"
        );
        // Scores are exact f32 scores even though the walk used int8 codes.
        let exact = -embedrec::l2_sq(&q, &l.item_vector(&b[0].id).unwrap());
        assert!((b[0].score - exact).abs() < 1e-5);
    }
    // Inserts after the load link into the loaded codes' lists, and survive another save.
    let (ids2, v2, a2) = catalog(500, 16, 77);
    let ids2: Vec<String> = ids2.iter().map(|i| format!("new-{i}")).collect();
    l.upsert_items(&ids2, v2.view(), Some(&a2)).unwrap();
    let hit = l.search(&v2.row(3).to_vec(), 1, None).unwrap();
    assert_eq!(&*hit[0].id, ids2[3].as_str());
    l.save(&path).unwrap();
    let again = Engine::load(&path).unwrap();
    for row in 0..20 {
        let q = v2.row(row).to_vec();
        assert_eq!(
            l.search(&q, 10, None).unwrap(),
            again.search(&q, 10, None).unwrap()
        );
    }
}

/// Sections larger than the loader's 1 MiB read chunk (vectors and graph) stream across
/// chunk boundaries and load from a file exactly as from memory; a damaged vector block is
/// reported as a checksum mismatch of that section.
#[test]
fn multi_chunk_sections_load_from_file_like_from_bytes() {
    let e = engine(16_000, 32, Metric::L2, IndexKind::Native);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.embedrec");
    e.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let (voff, vlen) = section(&bytes, 7).expect("rows section");
    assert!(section(&bytes, 4).is_some(), "graph section");
    assert!(vlen > 1 << 20, "{vlen}");
    let (from_file, from_mem) = (
        Engine::load(&path).unwrap(),
        Engine::from_bytes(&bytes).unwrap(),
    );
    let (_, v, _) = catalog(16_000, 32, 42);
    for r in [0, 5_000, 15_999] {
        let q = v.row(r).to_vec();
        let want = ids(&e.search(&q, 10, None).unwrap());
        assert_eq!(ids(&from_file.search(&q, 10, None).unwrap()), want);
        assert_eq!(ids(&from_mem.search(&q, 10, None).unwrap()), want);
        assert_eq!(
            from_file.item_vector(&want[0]).unwrap(),
            e.item_vector(&want[0]).unwrap()
        );
    }
    let mut bad = bytes.clone();
    bad[voff + vlen - 3] ^= 0x40; // in the last chunk of the section
    std::fs::write(&path, &bad).unwrap();
    let err = Engine::load(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { section, reason, .. }
            if section == "rows" && reason.contains("checksum")),
        "{err}"
    );
}

/// Int8 vector storage: the engine keeps codes (a quarter of the bytes), saves them in its
/// rows with a scale per row, loads them back with identical answers and vectors, and
/// refuses codes or scales a save never writes.
#[test]
fn int8_storage_round_trips_and_hostile_codes_are_rejected() {
    let e = sample_stored(VectorStorage::Int8);
    assert_eq!(e.config().vector_storage, VectorStorage::Int8);
    let bytes = e.to_bytes().unwrap();
    let (off, len) = section(&bytes, 7).expect("rows section");
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) as usize;
    // The shape page: storage 1 (int8), dim, rows, link entries, body bytes, stride.
    assert_eq!(&bytes[off..off + 8], b"ROWS\x01\0\0\0");
    let (head, stride) = (u64_at(off + 24), u64_at(off + 40));
    assert_eq!((u64_at(off + 8), u64_at(off + 16)), (8, 300));
    // Codes take 16 bytes a row (8 rounded up), headers 4 bytes per link entry; the
    // scales (cosine: no squared norms) end the section.
    assert_eq!(stride, head * 4 + 16);
    assert_eq!(len, 4096 + (300 * stride).div_ceil(64) * 64 + 300 * 4);
    let scales = off + len - 300 * 4;
    let l = Engine::from_bytes(&bytes).unwrap();
    assert_eq!(l.config(), e.config());
    assert_eq!(l.item_vector("t7").unwrap(), e.item_vector("t7").unwrap());
    assert_eq!(
        l.search(&[1.0; 8], 10, None).unwrap(),
        e.search(&[1.0; 8], 10, None).unwrap()
    );
    // Slot 0's codes follow its header; its scale is the first of the tail.
    for (what, at, value, needle) in [
        ("code -128", off + 4096 + head * 4 + 3, vec![0x80u8], "-128"),
        (
            "NaN scale",
            scales,
            f32::NAN.to_le_bytes().to_vec(),
            "scale",
        ),
        (
            "negative scale",
            scales,
            (-1.0f32).to_le_bytes().to_vec(),
            "scale",
        ),
    ] {
        let mut bad = bytes.clone();
        bad[at..at + value.len()].copy_from_slice(&value);
        fix_section_crc(&mut bad, 7);
        match Engine::from_bytes(&bad) {
            Err(Error::Corrupt {
                section, reason, ..
            }) => assert!(
                section == "rows" && reason.contains(needle),
                "{what}: {section}: {reason}"
            ),
            other => panic!("{what}: {other:?}"),
        }
    }
}

/// F16 vector storage: two bytes per component in the rows (storage code 2), answers and
/// vectors identical after a load and a read-only open, values outside the f16 range refused
/// at upsert (naming the component), non-finite values in a file refused at load.
#[test]
fn f16_storage_round_trips_and_refuses_what_it_cannot_hold() {
    let e = sample_stored(VectorStorage::F16);
    assert_eq!(e.config().vector_storage, VectorStorage::F16);
    // Stored values are the f16 roundings of what was given (three significant digits).
    let (ids, v, _) = catalog(300, 8, 3);
    let i = ids.iter().position(|x| x == "t7").unwrap();
    for (got, want) in e.item_vector("t7").unwrap().iter().zip(v.row(i)) {
        assert!(
            (got - want).abs() <= want.abs() / 1024.0 + 1e-7,
            "{got} vs {want}"
        );
    }
    let bytes = e.to_bytes().unwrap();
    let (off, len) = section(&bytes, 7).expect("rows section");
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) as usize;
    assert_eq!(&bytes[off..off + 8], b"ROWS\x02\0\0\0");
    let (head, stride) = (u64_at(off + 24), u64_at(off + 40));
    assert_eq!((u64_at(off + 8), u64_at(off + 16)), (8, 300));
    assert_eq!(stride, head * 4 + 16);
    assert_eq!(len, 4096 + (300 * stride).div_ceil(64) * 64);
    let q = [0.3, -0.2, 0.1, 0.5, -0.4, 0.2, 0.0, 0.1];
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f16.embedrec");
    e.save(&path).unwrap();
    let opts = OpenOptions::default().with_read_only(true);
    for l in [
        Engine::from_bytes(&bytes).unwrap(),
        Engine::open(&path, None, opts).unwrap(),
    ] {
        assert_eq!(l.config(), e.config());
        assert_eq!(l.item_vector("t7").unwrap(), e.item_vector("t7").unwrap());
        assert_eq!(
            l.search(&q, 10, None).unwrap(),
            e.search(&q, 10, None).unwrap()
        );
        assert_eq!(
            l.similar("t9", 5, None).unwrap(),
            e.similar("t9", 5, None).unwrap()
        );
    }
    // An f16 infinity or NaN in a row is damage a save never writes.
    for (what, bits) in [("infinity", 0x7c00u16), ("NaN", 0x7e00)] {
        let mut bad = bytes.clone();
        let at = off + 4096 + head * 4 + 2;
        bad[at..at + 2].copy_from_slice(&bits.to_le_bytes());
        fix_section_crc(&mut bad, 7);
        match Engine::from_bytes(&bad) {
            Err(Error::Corrupt { section, .. }) => assert_eq!(section, "rows", "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    // Values the storage cannot hold are refused, naming the component; nothing is written.
    let err = e
        .upsert_items(
            &["big"],
            ndarray::arr2(&[[0.5, 0.5, 0.5, 1e6, 0.5, 0.5, 0.5, 0.5f32]]).view(),
            None,
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "vectors[0][3]"),
        "{err}"
    );
    assert!(err.to_string().contains("65504"), "{err}");
    let err = e
        .upsert_items(
            &["tiny"],
            ndarray::Array2::from_elem((1, 8), 1e-9f32).view(),
            None,
        )
        .unwrap_err();
    assert!(err.to_string().contains("rounds to zero"), "{err}");
    assert!(e.item_vector("big").is_err() && e.item_vector("tiny").is_err());
    // At the edge of the range, values are kept exactly.
    let edge = ndarray::arr2(&[[65504.0f32, -65504.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.5]]);
    e.upsert_items(&["edge"], edge.view(), None).unwrap();
    assert_eq!(e.item_vector("edge").unwrap(), edge.row(0).to_vec());
}

/// The answers a file in `tests/data/format-v1` must give (written with it by the last
/// build that wrote format version 1; see `generate.rs` there).
fn v1_answers(e: &Engine) -> String {
    let q = [0.3, -0.2, 0.1, 0.5, -0.4, 0.2, 0.0, 0.1];
    let show = |h: Vec<Hit>| ids(&h).join(" ");
    let f = Filter::new()
        .tags_any(["jazz"])
        .range("year", Some(1990.0), None);
    let o = RecommendOptions::default();
    format!(
        "len {}\nsearch {}\nfiltered {}\nsimilar {}\nrecommend {}\n",
        e.len(),
        show(e.search(&q, 10, None).unwrap()),
        show(e.search(&q, 10, Some(&f)).unwrap()),
        show(e.similar("i7", 5, None).unwrap()),
        show(e.recommend("u3", 5, &o).unwrap()),
    )
}

/// Files of format version 1 still load (from a file and from bytes) with the answers they
/// gave when written, and are saved again as version 2 with the same answers.
#[test]
fn version_1_files_still_load() {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/format-v1");
    for name in ["cosine-als", "l2-int8"] {
        let path = data.join(format!("{name}.embedrec"));
        let want = std::fs::read_to_string(data.join(format!("{name}.answers"))).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(
            &bytes[8..10],
            &1u16.to_le_bytes(),
            "{name} is a version-1 file"
        );
        let e = Engine::load(&path).unwrap();
        assert_eq!(v1_answers(&e), want, "{name}");
        assert_eq!(
            v1_answers(&Engine::from_bytes(&bytes).unwrap()),
            want,
            "{name}"
        );
        let v2 = e.to_bytes().unwrap();
        assert_eq!(&v2[8..10], &2u16.to_le_bytes());
        assert_eq!(
            v1_answers(&Engine::from_bytes(&v2).unwrap()),
            want,
            "{name} again"
        );
    }
}

/// A `native_int8` engine saved when that graph kept its level-0 lists in the catalog's
/// rows (`tests/data/native-int8-v2`, see `generate.rs` there) loads, read into memory and
/// mapped read-only, with the answers it gave; saved again it uses the current layout (lists
/// with the codes, rows without link entries) and still answers the same.
#[test]
fn native_int8_files_with_lists_in_the_rows_still_load() {
    fixture_loads_with_its_answers("native-int8-v2", "l2", "native_int8");
}

/// A `native_1bit` engine saved when its one-bit codes held the signs of the raw residual
/// (`tests/data/native-1bit-b1c1`, codes part `B1C1`, see `generate.rs` there) loads the same
/// three ways with the answers it gave, saves again and takes new items.
#[test]
fn native_1bit_files_without_a_rotation_still_load() {
    fixture_loads_with_its_answers("native-1bit-b1c1", "dot", "native_1bit");
}

/// Loads `tests/data/<dir>/<name>.embedrec` (an index of kind `index` over 8-dimensional
/// items `i0..i399`) from a file, mapped read-only and from the bytes of a second save, each
/// giving the answers in `<name>.answers` (the second save's rows hold no link entries);
/// then new items link into its graph.
fn fixture_loads_with_its_answers(dir: &str, name: &str, index: &str) {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(dir);
    let path = data.join(format!("{name}.embedrec"));
    let want = std::fs::read_to_string(data.join(format!("{name}.answers"))).unwrap();
    let answers = |e: &Engine| {
        let q = [0.3, -0.2, 0.1, 0.5, -0.4, 0.2, 0.0, 0.1];
        let show = |h: Vec<Hit>| ids(&h).join(" ");
        let f = Filter::new()
            .tags_any(["jazz"])
            .range("year", Some(1990.0), None);
        format!(
            "len {}\nsearch {}\nfiltered {}\nsimilar {}\n",
            e.len(),
            show(e.search(&q, 10, None).unwrap()),
            show(e.search(&q, 10, Some(&f)).unwrap()),
            show(e.similar("i7", 5, None).unwrap()),
        )
    };
    let e = Engine::load(&path).unwrap();
    assert_eq!(e.stats().index, index);
    assert_eq!(answers(&e), want);
    let ro = embedrec::OpenOptions::default().with_read_only(true);
    assert_eq!(
        answers(&Engine::open(&path, None, ro).unwrap()),
        want,
        "mapped"
    );
    let saved = e.to_bytes().unwrap();
    // A graph that walks codes keeps its level-0 lists with them: saved again, the rows
    // hold no link entries (field h of the ROWS shape page), whatever the file had.
    let (rows, _) = section(&saved, 7).expect("rows section");
    assert_eq!(&saved[rows..rows + 4], b"ROWS");
    assert_eq!(
        u64::from_le_bytes(saved[rows + 24..rows + 32].try_into().unwrap()),
        0,
        "link entries per row"
    );
    let again = Engine::from_bytes(&saved).unwrap();
    assert_eq!(answers(&again), want, "saved again");
    // New items link into the graph taken over from the file: each of norm 10, so under
    // any metric its own vector finds it first.
    let mut v = embedrec::ndarray::Array2::from_shape_fn((50, 8), |(i, j)| {
        ((i * 8 + j) as f32 * 0.37).sin() + 0.1
    });
    for mut row in v.rows_mut() {
        let norm = row.dot(&row).sqrt();
        row.mapv_inplace(|x| x * 10.0 / norm);
    }
    let new: Vec<String> = (0..50).map(|i| format!("n{i}")).collect();
    again.upsert_items(&new, v.view(), None).unwrap();
    let hit = again.search(&v.row(20).to_vec(), 1, None).unwrap();
    assert_eq!(&*hit[0].id, "n20");
}

/// Lengths in a section's header are the file's: an id arena declared 2⁶⁴ − 2 bytes long
/// (checksums made right) is damage, not an arithmetic overflow (found by fuzzing).
#[test]
fn an_id_section_declaring_a_huge_arena_is_refused() {
    let b = sample().to_bytes().unwrap();
    let (off, _) = section(&b, 8).expect("ids section");
    assert_eq!(&b[off..off + 4], b"IDS1");
    for arena in [u64::MAX - 1, u64::MAX, 1 << 62] {
        let mut bad = b.clone();
        bad[off + 16..off + 24].copy_from_slice(&arena.to_le_bytes());
        fix_section_crc(&mut bad, 8);
        match catch_unwind(AssertUnwindSafe(|| Engine::from_bytes(&bad))) {
            Ok(Err(Error::Corrupt { section, .. })) => assert_eq!(section, "ids"),
            Ok(other) => panic!("arena {arena}: {other:?}"),
            Err(_) => panic!("arena {arena}: panicked"),
        }
    }
}

/// An engine whose index walks on codes saves and loads when its items have no vectors
/// yet (no node, codes never fitted), and the loaded engine indexes vectors added later.
#[test]
fn code_indexes_with_only_vectorless_items_round_trip() {
    for index in [IndexKind::NativeInt8, IndexKind::Native1Bit] {
        for metric in [Metric::Dot, Metric::L2, Metric::Cosine] {
            let mut cfg = EngineConfig::new(4)
                .with_metric(metric)
                .with_index(index)
                .with_threads(1);
            cfg.exact_below = 0;
            let e = Engine::new(cfg).unwrap();
            let ids = vec!["i39".to_string()];
            e.upsert_attributes(&ids, Some(&[ItemAttrs::tags(["t3"])]))
                .unwrap();
            let back = Engine::from_bytes(&e.to_bytes().unwrap())
                .unwrap_or_else(|err| panic!("{index:?} {metric:?}: {err}"));
            assert_eq!(back.len(), 1);
            let v = embedrec::ndarray::arr2(&[[0.5f32, 0.1, -0.2, 0.3]]);
            back.upsert_items(&["v1".to_string()], v.view(), None)
                .unwrap();
            let hits = back.search(&[0.5, 0.1, -0.2, 0.3], 1, None).unwrap();
            assert_eq!(&*hits[0].id, "v1", "{index:?} {metric:?}");
        }
    }
}
