//! Opening an engine in durable mode: the snapshot at a path, the journal beside it
//! (`<path>-wal`) replayed over it, and the checkpoint that writes a new snapshot and starts
//! an empty journal. The journal's header names the snapshot it continues (the snapshot's
//! first 32 bytes: its length and checksums), so a journal left from before a checkpoint
//! that finished is recognised and dropped rather than applied twice.

use super::write_snapshot;
use crate::codec::Journal;
use crate::engine::{Durable, Engine, EngineConfig, OpenOptions, State};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// The journal's path for a snapshot at `path`.
pub fn journal_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push("-wal");
    PathBuf::from(p)
}

/// How long opening waits for the writer's lock before it reports another writer. A lock
/// released a moment ago can still be held for a while by a child process the host was
/// starting when it was taken (the child holds a copy of every descriptor until it
/// executes its program), so a reopen right after a close does not fail on that.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// Takes the writer's lock of the engine at `path` (`<path>-lock`, never replaced, so the
/// lock outlives checkpoints): one process at a time opens an engine for writing.
fn lock(path: &Path) -> Result<std::fs::File> {
    let mut p = path.as_os_str().to_owned();
    p.push("-lock");
    let p = PathBuf::from(p);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(|source| Error::Io {
            op: "open lock file",
            path: p.clone(),
            source,
        })?;
    let t0 = std::time::Instant::now();
    let mut result = f.try_lock();
    while matches!(result, Err(std::fs::TryLockError::WouldBlock)) && t0.elapsed() < LOCK_WAIT {
        std::thread::sleep(std::time::Duration::from_millis(10));
        result = f.try_lock();
    }
    match result {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::Io {
            op: "open (another writer has this engine open)",
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::WouldBlock, "locked"),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(Error::Io {
            op: "lock",
            path: p,
            source,
        }),
    }
}

/// Writes the engine (its state held by the caller) as the snapshot at `path`, then a new
/// empty journal continuing it.
fn snapshot(path: &Path, e: &Engine, st: &State, o: &OpenOptions) -> Result<Journal> {
    let head = write_snapshot(e, st, path)?;
    Journal::create(&journal_path(path), &head, o.sync)
}

impl Engine {
    /// Opens the engine stored at `path` in durable mode, creating it with `create` when the
    /// file does not exist (`None` then is an error). Every acknowledged write (upserts,
    /// removals, interactions, clearing the model) is in the journal `<path>-wal` before
    /// the call returns, synced as `options.sync` says; a fit or installed model is written
    /// by a checkpoint. Opening replays the journal over the snapshot (a torn last record,
    /// from a crash mid-write, is cut off); checkpoints write a new snapshot atomically and
    /// empty the journal — automatically once it passes `options.checkpoint_bytes`, and on
    /// [`Engine::checkpoint`]. Reads never touch the files.
    ///
    /// With `options.read_only`, the file is opened read-only instead: memory-mapped, its
    /// vector rows (with the graph's links), ids and norms served from the mapped pages
    /// (shared by every process that opens the same file), no journal, no lock; writes
    /// fail with [`Error::ReadOnly`]. Opening checks the header, the table and every
    /// section's bounds and reads the small sections in full; the checksums of the mapped
    /// sections are checked by [`Engine::verify`]. The file must not be rewritten in place
    /// while open (saves and checkpoints replace files by renaming, which is safe). A
    /// journal beside the file is not read: a read-only engine sees the last checkpoint.
    pub fn open(
        path: impl AsRef<Path>,
        create: Option<EngineConfig>,
        options: OpenOptions,
    ) -> Result<Engine> {
        let path = path.as_ref().to_path_buf();
        options.validate()?;
        if options.read_only {
            return super::open_read_only(&path, create.as_ref());
        }
        let wal = journal_path(&path);
        let lock = lock(&path)?;
        let (mut engine, journal) = if path.exists() {
            let engine = Engine::load(&path)?;
            if let Some(c) = &create
                && c.dim != engine.dim()
            {
                return Err(Error::invalid(
                    "dim",
                    format!("the dimension of the stored engine ({})", engine.dim()),
                    c.dim,
                ));
            }
            let mut head = [0u8; 32];
            std::fs::File::open(&path)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
                .map_err(|source| Error::Io {
                    op: "open",
                    path: path.clone(),
                    source,
                })?;
            let base = head;
            let journal = match Journal::open(&wal, options.sync)? {
                Some(o) if o.base == base => {
                    for (n, (kind, payload)) in o.records.iter().enumerate() {
                        engine
                            .replay(*kind, payload)
                            .map_err(|reason| Error::Corrupt {
                                path: wal.clone(),
                                section: format!("journal record {n}"),
                                reason,
                            })?;
                    }
                    o.journal
                }
                // No journal, a foreign file, or one that continues an older snapshot (a
                // checkpoint finished after writing the snapshot): start an empty one.
                _ => Journal::create(&wal, &base, options.sync)?,
            };
            (engine, journal)
        } else {
            if wal.exists() {
                return Err(Error::Corrupt {
                    path: wal,
                    section: "journal".into(),
                    reason: format!("a journal without its snapshot {}", path.display()),
                });
            }
            let config = create.ok_or_else(|| {
                Error::invalid(
                    "create",
                    format!("a configuration to create {}", path.display()),
                    "none (the file does not exist)",
                )
            })?;
            let engine = Engine::new(config)?;
            let journal = snapshot(&path, &engine, &engine.state(), &options)?;
            (engine, journal)
        };
        let o = options.clone();
        let target = path.clone();
        let checkpointer = move |e: &Engine, st: &State| snapshot(&target, e, st, &o);
        let durable = Durable::new(
            journal,
            lock,
            path,
            options.checkpoint_bytes,
            Box::new(checkpointer),
        );
        engine.make_durable(durable);
        Ok(engine)
    }
}
