//! Durable mode: an engine opened on a path writes every acknowledged mutation to the
//! journal beside its snapshot before the call returns (`codec::Journal` frames and syncs;
//! this file encodes the records, byte by byte as docs/format.md describes them, and replays
//! them). A fit or an installed model is made durable by a checkpoint (a new snapshot),
//! which the persistence layer provides.

use super::{Engine, State};
use crate::codec::bytes::{Reader, Writer};
use crate::codec::{Journal, PendingSync, SyncMode};
use crate::store::{IdColumn, ItemAttrs};
use crate::{Error, Result};
use ndarray::{Array2, ArrayView2};
use parking_lot::Mutex;
use std::path::PathBuf;

/// Record kinds of the journal.
const UPSERT: u32 = 1;
const REMOVE: u32 = 2;
const INTERACTIONS: u32 = 3;
const CLEAR_MODEL: u32 = 4;

thread_local! {
    /// The fsync a write on this thread owes before it returns (sync mode `full`): set when
    /// its record is appended under the state's lock, run by [`Engine::after_write`] once
    /// the lock is released, so readers never wait for the disk.
    static OWED: std::cell::RefCell<Option<PendingSync>> = const { std::cell::RefCell::new(None) };
}

/// Writes a snapshot of the engine (its state held by the caller) and starts a new journal
/// that continues it; returns the new journal.
pub(crate) type Checkpointer = dyn Fn(&Engine, &State) -> Result<Journal> + Send + Sync;

/// What an engine in durable mode holds.
pub(crate) struct Durable {
    /// `None` once closed, or once a write failed (the engine is then ahead of its journal):
    /// further writes are refused until the engine is reopened.
    journal: Mutex<Option<Journal>>,
    /// The writer's lock file, held (locked) until the engine is closed or dropped.
    lock: Mutex<Option<std::fs::File>>,
    path: PathBuf,
    checkpoint_bytes: u64,
    checkpointer: Box<Checkpointer>,
}

impl Durable {
    pub(crate) fn new(
        journal: Journal,
        lock: std::fs::File,
        path: PathBuf,
        checkpoint_bytes: u64,
        checkpointer: Box<Checkpointer>,
    ) -> Self {
        Durable {
            journal: Mutex::new(Some(journal)),
            lock: Mutex::new(Some(lock)),
            path,
            checkpoint_bytes,
            checkpointer,
        }
    }
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durable").field("path", &self.path).finish()
    }
}

/// Options of [`Engine::open`](crate::Engine::open).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OpenOptions {
    /// When acknowledged writes reach the disk (default [`SyncMode::Full`]).
    pub sync: SyncMode,
    /// A checkpoint (new snapshot, empty journal) runs after a write that grows the journal
    /// past this many bytes (default 64 MiB).
    pub checkpoint_bytes: u64,
    /// Open the file read-only, memory-mapped (default `false`): no journal and no lock;
    /// many processes share one copy of the file's pages; writes are refused.
    pub read_only: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            sync: SyncMode::Full,
            checkpoint_bytes: 64 << 20,
            read_only: false,
        }
    }
}

impl OpenOptions {
    /// These options with another sync mode.
    pub fn with_sync(mut self, sync: SyncMode) -> Self {
        self.sync = sync;
        self
    }

    /// These options, read-only or not.
    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// These options with another checkpoint threshold (bytes of journal).
    pub fn with_checkpoint_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_bytes = bytes;
        self
    }

    /// Refuses a write option (sync mode, checkpoint threshold) other than the default on a
    /// read-only open: such an engine writes nothing, so the option would silently not apply.
    pub(crate) fn validate(&self) -> Result<()> {
        if !self.read_only {
            return Ok(());
        }
        let d = OpenOptions::default();
        let expected = "no write option with read_only (a read-only engine writes nothing)";
        if self.sync != d.sync {
            return Err(Error::invalid("sync", expected, format!("{:?}", self.sync)));
        }
        if self.checkpoint_bytes != d.checkpoint_bytes {
            return Err(Error::invalid(
                "checkpoint_bytes",
                expected,
                self.checkpoint_bytes,
            ));
        }
        Ok(())
    }
}

impl Engine {
    /// Attaches durable mode (the persistence layer's `open`, after replaying the journal).
    pub(crate) fn make_durable(&mut self, durable: Durable) {
        self.durable = Some(durable);
    }

    /// Whether the engine writes a journal (it was opened with [`Engine::open`]).
    pub fn is_durable(&self) -> bool {
        self.durable.is_some()
    }

    /// Whether `path` is the snapshot of this engine's durable mode (the same file).
    pub(crate) fn is_own_snapshot(&self, path: &std::path::Path) -> bool {
        let Some(d) = &self.durable else {
            return false;
        };
        let same = |p: &std::path::Path| std::fs::canonicalize(p).ok();
        path == d.path || (same(path).is_some() && same(path) == same(&d.path))
    }

    /// Fails when the engine is read-only, or when durable mode stopped after a failed
    /// journal write.
    pub(super) fn check_writable(&self, op: &'static str) -> Result<()> {
        self.check_not_read_only(op)?;
        match &self.durable {
            Some(d) if d.journal.lock().is_none() => Err(Error::Io {
                op: "write (the engine was closed, or a journal write failed; reopen it)",
                path: d.path.clone(),
                source: std::io::Error::other("journal closed"),
            }),
            _ => Ok(()),
        }
    }

    /// In durable mode, appends a record (called under the state's write lock, after the
    /// change was applied, so the journal's order is the order of the changes). A failed
    /// append fails the call and closes the journal.
    fn journal(&self, kind: u32, record: impl FnOnce() -> Writer) -> Result<()> {
        let Some(d) = &self.durable else {
            return Ok(());
        };
        let mut j = d.journal.lock();
        let Some(journal) = j.as_mut() else {
            return self.check_writable("write");
        };
        match journal.append(kind, &record().0) {
            Ok(sync) => {
                OWED.with(|o| *o.borrow_mut() = sync);
                Ok(())
            }
            Err(e) => {
                *j = None;
                Err(e)
            }
        }
    }

    /// Durable mode: syncs and closes the journal and releases the writer's lock, so another
    /// process (or a new [`Engine::open`]) can open the engine; later writes fail, reads keep
    /// working. A no-op for an engine in memory or one already closed.
    pub fn close(&self) -> Result<()> {
        let Some(d) = &self.durable else {
            return Ok(());
        };
        // Upgradable: waits for a writer that is still linking with its lock downgraded
        // (its record is not in the journal yet), lets readers run.
        let st = self.state.upgradable_read();
        let journal = d.journal.lock().take();
        drop(st);
        let synced = journal.map_or(Ok(()), Journal::close);
        d.lock.lock().take();
        synced
    }

    /// After a write, outside the write lock: the fsync it owes (sync mode `full`), then a
    /// checkpoint when the journal has grown past its bound. A failed fsync fails the call
    /// and closes the journal; a failed automatic checkpoint is retried after the next write
    /// (the write itself is in the journal).
    pub(super) fn after_write<T>(&self, out: Result<T>) -> Result<T> {
        let Some(d) = &self.durable else {
            return out;
        };
        let sync = OWED.with(|o| o.borrow_mut().take());
        let value = out?;
        if let Some(sync) = sync
            && let Err(e) = sync.run()
        {
            *d.journal.lock() = None;
            return Err(e);
        }
        let big = d
            .journal
            .lock()
            .as_ref()
            .is_some_and(|j| j.len() > d.checkpoint_bytes);
        if big {
            let _ = self.checkpoint();
        }
        Ok(value)
    }

    /// Writes a new snapshot and starts an empty journal: from then on the journal's records
    /// continue the new snapshot. Readers keep running; writers wait. A no-op outside
    /// durable mode.
    pub fn checkpoint(&self) -> Result<()> {
        let Some(d) = &self.durable else {
            return Ok(());
        };
        // Lock order, as for writes: the state, then the journal. Upgradable, not a plain
        // read: a writer linking with its lock downgraded has changed the state but not yet
        // journaled it, and the snapshot must not hold a change the new journal repeats.
        let st = self.state.upgradable_read();
        let mut j = d.journal.lock();
        if j.is_none() {
            drop(j);
            return self.check_writable("checkpoint");
        }
        let fresh = (d.checkpointer)(self, &st)?;
        *j = Some(fresh);
        Ok(())
    }

    pub(super) fn journal_upsert<S: AsRef<str>>(
        &self,
        ids: &[S],
        vectors: Option<&ArrayView2<'_, f32>>,
        attrs: Option<&[ItemAttrs]>,
    ) -> Result<()> {
        self.journal(UPSERT, || {
            let mut w = Writer::default();
            w.u8(u8::from(vectors.is_some()) | u8::from(attrs.is_some()) << 1);
            w.len(ids.len());
            w.len(vectors.map_or(0, |v| v.ncols()));
            for (i, id) in ids.iter().enumerate() {
                w.str(id.as_ref());
                if let Some(v) = vectors {
                    let row = v.row(i);
                    match row.as_slice() {
                        Some(s) => w.f32s(s),
                        None => w.f32s(&row.to_vec()),
                    }
                }
                if let Some(a) = attrs {
                    let a = &a[i];
                    w.len(a.tags.len());
                    for t in &a.tags {
                        w.str(t);
                    }
                    w.len(a.numbers.len());
                    for (name, x) in &a.numbers {
                        w.str(name);
                        w.f64(*x);
                    }
                }
            }
            w
        })
    }

    pub(super) fn journal_remove<S: AsRef<str>>(&self, ids: &[S]) -> Result<()> {
        self.journal(REMOVE, || {
            let mut w = Writer::default();
            w.len(ids.len());
            for id in ids {
                w.str(id.as_ref());
            }
            w
        })
    }

    pub(super) fn journal_interactions(
        &self,
        users: &IdColumn,
        items: &IdColumn,
        weights: Option<&[f32]>,
        timestamps: Option<&[i64]>,
    ) -> Result<()> {
        self.journal(INTERACTIONS, || {
            let mut w = Writer::default();
            w.len(users.len());
            for col in [users, items] {
                w.len(col.values().len());
                for v in col.values() {
                    w.str(v);
                }
                w.u32s(col.codes());
            }
            w.u8(u8::from(weights.is_some()));
            if let Some(x) = weights {
                w.f32s(x);
            }
            w.u8(u8::from(timestamps.is_some()));
            if let Some(t) = timestamps {
                w.i64s(t);
            }
            w
        })
    }

    pub(super) fn journal_clear_model(&self) -> Result<()> {
        self.journal(CLEAR_MODEL, Writer::default)
    }

    /// Applies one journal record (replay at open, before durable mode is attached).
    pub(crate) fn replay(&self, kind: u32, payload: &[u8]) -> std::result::Result<(), String> {
        let mut r = Reader::new(payload);
        let applied = match kind {
            UPSERT => {
                let flags = r.u8()?;
                let n = r.len(4)?;
                let dim = r.len(0)?;
                let (mut ids, mut rows, mut attrs) = (Vec::with_capacity(n), Vec::new(), vec![]);
                for _ in 0..n {
                    ids.push(r.str()?);
                    if flags & 1 != 0 {
                        rows.extend(r.f32s(dim)?);
                    }
                    if flags & 2 != 0 {
                        let tags = (0..r.len(4)?)
                            .map(|_| r.str().map(String::from))
                            .collect::<std::result::Result<Vec<_>, _>>()?;
                        let numbers = (0..r.len(12)?)
                            .map(|_| Ok((r.str()?.to_string(), r.f64()?)))
                            .collect::<std::result::Result<Vec<_>, String>>()?;
                        attrs.push(ItemAttrs { tags, numbers });
                    }
                }
                r.finish()?;
                let attrs = (flags & 2 != 0).then_some(attrs.as_slice());
                if flags & 1 != 0 {
                    let v = Array2::from_shape_vec((n, dim), rows).map_err(|e| e.to_string())?;
                    self.upsert_items(&ids, v.view(), attrs)
                } else {
                    self.upsert_attributes(&ids, attrs)
                }
            }
            REMOVE => {
                let ids = (0..r.len(4)?)
                    .map(|_| r.str())
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                r.finish()?;
                self.remove_items(&ids).map(|_| ())
            }
            INTERACTIONS => {
                let n = r.len(8)?;
                let mut col = || -> std::result::Result<IdColumn, String> {
                    let values = (0..r.len(4)?)
                        .map(|_| r.str().map(String::from))
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    let codes = r.u32s(n)?;
                    IdColumn::from_parts(values, codes)
                        .ok_or_else(|| "an id code out of range".into())
                };
                let (users, items) = (col()?, col()?);
                let weights = if r.u8()? != 0 { Some(r.f32s(n)?) } else { None };
                let ts = if r.u8()? != 0 { Some(r.i64s(n)?) } else { None };
                r.finish()?;
                self.add_interaction_columns(&users, &items, weights.as_deref(), ts.as_deref())
            }
            CLEAR_MODEL => {
                r.finish()?;
                self.clear_model()
            }
            other => return Err(format!("unknown record kind {other}")),
        };
        applied.map_err(|e| format!("cannot be applied: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineConfig;

    /// Records as the journal holds them, then every truncation and many single-byte
    /// changes of each: replay applies or refuses them, never panics.
    #[test]
    fn hostile_records_are_refused_not_trusted() {
        let mut up = Writer::default();
        up.u8(3);
        up.len(2);
        up.len(2);
        for (id, v) in [("a", [1.0f32, 0.0]), ("b", [0.0, 1.0])] {
            up.str(id);
            up.f32s(&v);
            up.len(1);
            up.str("rock");
            up.len(1);
            up.str("year");
            up.f64(1999.0);
        }
        let mut rows = Writer::default();
        rows.len(2);
        for col in [["u", "v"], ["a", "b"]] {
            rows.len(2);
            for id in col {
                rows.str(id);
            }
            rows.u32s(&[0, 1]);
        }
        rows.u8(1);
        rows.f32s(&[1.0, 2.0]);
        rows.u8(1);
        rows.i64s(&[5, 6]);
        let mut rm = Writer::default();
        rm.len(1);
        rm.str("a");
        let records = [
            (UPSERT, up.0),
            (INTERACTIONS, rows.0),
            (REMOVE, rm.0),
            (CLEAR_MODEL, vec![]),
        ];
        let e = Engine::new(EngineConfig::new(2).with_threads(1)).unwrap();
        for (kind, payload) in &records {
            e.replay(*kind, payload).unwrap();
        }
        assert_eq!((e.len(), e.stats().interactions), (1, 1));
        let mut rng = crate::util::rng::SplitMix64(1);
        for (kind, payload) in &records {
            for cut in 0..payload.len() {
                let _ = e.replay(*kind, &payload[..cut]);
            }
            for _ in 0..300 {
                let mut p = payload.clone();
                if !p.is_empty() {
                    let i = rng.below(p.len());
                    p[i] = rng.below(256) as u8;
                }
                let _ = e.replay(*kind, &p);
            }
        }
        assert!(e.replay(99, &[]).is_err());
    }
}
