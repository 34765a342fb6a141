//! Durable mode: an engine opened on a path keeps every acknowledged write in its journal
//! and comes back with them after a reopen or a crash (`kill -9` at random moments of a
//! writer, checkpoints included), a torn journal tail costs only the torn write, and a
//! journal left from before a finished checkpoint is not applied twice.

mod common;
use common::*;
use embedrec::persist::journal_path;
use embedrec::*;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

fn als() -> ModelSpec {
    ModelSpec::Als(AlsParams {
        factors: 8,
        iterations: 4,
        ..Default::default()
    })
}

/// The same writes on any engine: items with tags, interactions (weights, times), an
/// attribute update, a removal, a fit, then more interactions and an upsert.
fn write_all(e: &Engine) {
    let (ids, v, a) = catalog(300, 8, 5);
    e.upsert_items(&ids, v.view(), Some(&a)).unwrap();
    let mut r = Rng(9);
    let (mut users, mut items, mut w, mut ts) = (vec![], vec![], vec![], vec![]);
    for u in 0..60 {
        for j in 0..10 {
            users.push(format!("u{u}"));
            items.push(format!("t{}", (r.below(60) * 5 + u % 5) % 300));
            w.push(1.0 + (j % 3) as f32);
            ts.push(1_000 + j as i64);
        }
    }
    e.add_interactions(&users, &items, Some(&w), Some(&ts))
        .unwrap();
    e.upsert_attributes(
        &["t1", "new"],
        Some(&[ItemAttrs::tags(["fav"]), ItemAttrs::default()]),
    )
    .unwrap();
    let update = AttrUpdate {
        numbers: Some(vec![vec![("year".into(), 2024.0)]]),
        remove: vec!["popularity".into()],
        ..Default::default()
    };
    e.update_attributes(&["t5"], &update).unwrap();
    e.remove_items(&["t2", "t3"]).unwrap();
    e.fit(&als(), None).unwrap();
    e.add_interactions(&["u1", "u1", "late"], &["t7", "t12", "t17"], None, None)
        .unwrap();
    e.upsert_items(&["t4"], v.slice(ndarray::s![5..6, ..]), None)
        .unwrap();
}

fn same(a: &Engine, b: &Engine) {
    let (sa, sb) = (a.stats(), b.stats());
    assert_eq!(
        (sa.items, sa.users, sa.interactions, sa.model),
        (sb.items, sb.users, sb.interactions, sb.model)
    );
    let none = RecommendOptions::default();
    for u in ["u0", "u1", "u33", "late"] {
        assert_eq!(
            a.recommend(u, 10, &none).unwrap(),
            b.recommend(u, 10, &none).unwrap()
        );
    }
    assert_eq!(a.item_vector("t4").unwrap(), b.item_vector("t4").unwrap());
    let some = ["t1", "t5", "t6", "new"];
    assert_eq!(
        a.item_attributes(&some).unwrap(),
        b.item_attributes(&some).unwrap()
    );
    let fav = Filter {
        tags_any: vec!["fav".into()],
        ..Default::default()
    };
    let q = a.item_vector("t9").unwrap();
    assert_eq!(
        a.search(&q, 5, Some(&fav)).unwrap(),
        b.search(&q, 5, Some(&fav)).unwrap()
    );
}

fn config() -> EngineConfig {
    EngineConfig::new(8).with_threads(2)
}

#[test]
fn writes_survive_a_reopen_without_save() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.embedrec");
    let reference = Engine::new(config()).unwrap();
    write_all(&reference);
    for sync in [
        SyncMode::Full,
        SyncMode::Grouped { interval_ms: 10 },
        SyncMode::Off,
    ] {
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(journal_path(&path));
        let options = OpenOptions::default().with_sync(sync);
        let e = Engine::open(&path, Some(config()), options.clone()).unwrap();
        assert!(e.is_durable());
        write_all(&e);
        // A second writer is refused while this one has the engine open.
        let err = Engine::open(&path, None, options.clone()).unwrap_err();
        assert_eq!(err.code(), "IO", "{err}");
        // Closing releases it; the closed engine still reads but refuses writes.
        e.close().unwrap();
        let err = e
            .add_interactions(&["u1"], &["t1"], None, None)
            .unwrap_err();
        assert_eq!(err.code(), "IO", "{err}");
        assert_eq!(e.stats().users, reference.stats().users);
        drop(e);
        let back = Engine::open(&path, None, options.clone()).unwrap();
        same(&back, &reference);
        back.clear_model().unwrap();
        drop(back);
        let back = Engine::open(&path, None, options).unwrap();
        assert_eq!(back.model_name(), None);
        // The snapshot alone (the state of the last checkpoint) loads as a plain file.
        assert_eq!(Engine::load(&path).unwrap().model_name(), Some("als"));
    }
    // Creating needs a configuration; a different dimension is refused.
    let missing = dir.path().join("none.embedrec");
    let err = Engine::open(&missing, None, OpenOptions::default()).unwrap_err();
    assert!(err.to_string().contains("create"), "{err}");
    let err = Engine::open(&path, Some(EngineConfig::new(3)), OpenOptions::default()).unwrap_err();
    assert!(err.to_string().contains("dim"), "{err}");
}

/// An open waits a moment for a writer's lock that is being released (a child process the
/// host starts can hold a copy of the lock until it executes its program), and still
/// refuses a writer that keeps it.
#[test]
fn an_open_waits_briefly_for_a_lock_being_released() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.embedrec");
    let e = Engine::open(&path, Some(EngineConfig::new(0)), OpenOptions::default()).unwrap();
    e.add_interactions(&["u"], &["i"], None, None).unwrap();
    let closer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(e);
    });
    let back = Engine::open(&path, None, OpenOptions::default()).unwrap();
    closer.join().unwrap();
    assert_eq!(back.stats().interactions, 1);
    let t0 = std::time::Instant::now();
    let err = Engine::open(&path, None, OpenOptions::default()).unwrap_err();
    assert_eq!(err.code(), "IO", "{err}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn a_torn_journal_tail_loses_only_the_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.embedrec");
    let e = Engine::open(&path, Some(EngineConfig::new(0)), OpenOptions::default()).unwrap();
    for k in 0..3 {
        e.add_interactions(&[format!("u{k}")], &["i"], None, None)
            .unwrap();
    }
    drop(e);
    let wal = journal_path(&path);
    let len = std::fs::metadata(&wal).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);
    let e = Engine::open(&path, None, OpenOptions::default()).unwrap();
    assert_eq!(e.stats().users, 2);
    // Writing continues after the valid prefix.
    e.add_interactions(&["u9"], &["i"], None, None).unwrap();
    drop(e);
    let e = Engine::open(&path, None, OpenOptions::default()).unwrap();
    assert_eq!((e.stats().users, e.stats().interactions), (3, 3));
}

#[test]
fn a_journal_from_before_a_finished_checkpoint_is_not_applied_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.embedrec");
    let e = Engine::open(&path, Some(EngineConfig::new(0)), OpenOptions::default()).unwrap();
    e.add_interactions(&["a", "b"], &["x", "y"], None, None)
        .unwrap();
    let old = std::fs::read(journal_path(&path)).unwrap();
    // Saving to its own path is a checkpoint: the journal then names the new snapshot, and
    // writes after it survive a reopen.
    e.save(&path).unwrap();
    e.add_interactions(&["c"], &["z"], None, None).unwrap();
    drop(e);
    let e = Engine::open(&path, None, OpenOptions::default()).unwrap();
    assert_eq!(e.stats().interactions, 3);
    e.remove_items(&["z"]).unwrap();
    e.checkpoint().unwrap();
    drop(e);
    // A crash after the new snapshot's rename, before the new journal replaced the old one.
    std::fs::write(journal_path(&path), &old).unwrap();
    let e = Engine::open(&path, None, OpenOptions::default()).unwrap();
    assert_eq!(e.stats().interactions, 2);
    // A journal without its snapshot is an error, not an empty engine.
    drop(e);
    std::fs::remove_file(&path).unwrap();
    let err = Engine::open(&path, Some(EngineConfig::new(0)), OpenOptions::default()).unwrap_err();
    assert_eq!(err.code(), "CORRUPT", "{err}");
}

/// Writer process for the crash test: batch `k` is one call adding user `u{k}` with three
/// interactions (new items included); it prints `k` once the call returned. The journal
/// is checkpointed every few kilobytes, so kills land in checkpoints too.
#[test]
fn crash_writer() {
    let Ok(path) = std::env::var("EMBEDREC_CRASH_WRITER") else {
        return; // only runs as the child of `crashes_lose_no_acknowledged_write`
    };
    let sync = match std::env::var("EMBEDREC_CRASH_SYNC").as_deref() {
        Ok("grouped") => SyncMode::Grouped { interval_ms: 10 },
        _ => SyncMode::Full,
    };
    let options = OpenOptions::default()
        .with_checkpoint_bytes(4_096)
        .with_sync(sync);
    let e = Engine::open(&path, Some(EngineConfig::new(0)), options).unwrap();
    let mut k = e.stats().users;
    loop {
        let user = format!("u{k}");
        let items = [
            format!("i{}", k % 50),
            format!("i{}", k % 7),
            format!("n{k}"),
        ];
        e.add_interactions(&[&user, &user, &user], &items, Some(&[1.0, 2.0, 3.0]), None)
            .unwrap();
        println!("{k}");
        k += 1;
    }
}

/// Verifies a crashed writer's engine: users `u0..` form a prefix covering every
/// acknowledged batch, each with all three interactions.
fn check_after_crash(path: &Path, acked: Option<usize>) -> usize {
    let e = Engine::open(path, Some(EngineConfig::new(0)), OpenOptions::default()).unwrap();
    let s = e.stats();
    let users = s.users;
    if let Some(a) = acked {
        assert!(
            users > a,
            "batch {a} was acknowledged but {users} users are stored"
        );
    }
    assert_eq!(s.interactions, 3 * users, "a batch was half applied");
    // Users are a prefix: the first, the last and those around the last acknowledged one.
    let around = acked.unwrap_or(0);
    let check = (0..users.min(5)).chain(users.saturating_sub(5)..users);
    for k in check.chain(around.saturating_sub(2)..(around + 1).min(users)) {
        let recs = e
            .recommend(&format!("u{k}"), 1, &RecommendOptions::default())
            .unwrap();
        assert_eq!(recs.len(), 1);
    }
    users
}

/// Sync `full`: every acknowledged write is on disk, so a crash of the process (or of the
/// machine) loses none. Sync `grouped`: an acknowledged write is in the journal (the
/// operating system's cache) before the call returns and is fsynced within the interval; a
/// crash of the process loses none (only a power failure can lose the last interval, which
/// a kill cannot show). One mode after the other, so that one test's engines are never
/// open while the other starts a writer.
#[test]
fn crashes_lose_no_acknowledged_write() {
    crash_rounds("full");
    crash_rounds("grouped");
}

fn crash_rounds(sync: &str) {
    let rounds: usize = std::env::var("EMBEDREC_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.embedrec");
    let exe = std::env::current_exe().unwrap();
    let mut r = Rng(17);
    let mut total = 0;
    let mut acked_total = 0;
    for _ in 0..rounds {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_writer",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("EMBEDREC_CRASH_WRITER", &path)
            .env("EMBEDREC_CRASH_SYNC", sync)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut last = None;
            for line in std::io::BufReader::new(out).lines() {
                if let Ok(k) = line.unwrap_or_default().trim().parse::<usize>() {
                    last = Some(k);
                }
            }
            last
        });
        std::thread::sleep(std::time::Duration::from_millis(20 + r.below(200) as u64));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        acked_total = acked.map_or(acked_total, |a| a + 1);
        total = check_after_crash(&path, acked);
    }
    eprintln!(
        "{rounds} kill -9 rounds (sync {sync}): {acked_total} batches acknowledged, {total} stored"
    );
    assert!(rounds == 0 || total > 0, "the writer never wrote");
}

/// Checkpoints taken while another thread writes hold whole writes only: a writer links
/// new items and computes its model update with the state's lock downgraded (queries run),
/// and a checkpoint must wait for it, or the snapshot would hold interactions that the new
/// journal records again (applied twice on reopen).
#[test]
fn checkpoints_during_writes_hold_whole_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("e.embedrec");
    let e = Engine::open(&path, Some(config()), OpenOptions::default()).unwrap();
    write_all(&e);
    assert!(e.model_name().is_some());
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut r = Rng(3);
            for k in 0..150 {
                let users: Vec<String> =
                    (0..20).map(|j| format!("w{}", (k * 20 + j) % 97)).collect();
                let items: Vec<String> = (0..20).map(|_| format!("t{}", r.below(300))).collect();
                e.add_interactions(&users, &items, None, None).unwrap();
                let (ids, v, _) = catalog(2, 8, k as u64);
                let ids: Vec<String> = ids.iter().map(|i| format!("{i}-{k}")).collect();
                e.upsert_items(&ids, v.view(), None).unwrap();
            }
        });
        s.spawn(|| {
            for _ in 0..60 {
                e.checkpoint().unwrap();
            }
        });
    });
    let want = e.stats();
    e.close().unwrap();
    let got = Engine::open(&path, None, OpenOptions::default())
        .unwrap()
        .stats();
    assert_eq!(
        (got.items, got.users, got.interactions),
        (want.items, want.users, want.interactions)
    );
}
