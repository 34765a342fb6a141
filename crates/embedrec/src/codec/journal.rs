//! The write-ahead journal beside a snapshot: an append-only file of checksummed records.
//! It knows nothing of what the records mean (the engine encodes them); it frames them,
//! syncs them as its [`SyncMode`] says, and on open returns the records of the longest valid
//! prefix, cutting off a torn or damaged tail.
//!
//! Layout (docs/format.md): a 48-byte header — magic `EMBEDWAL`, version u16 = 1, 6 reserved
//! zero bytes, then the first 32 bytes of the snapshot the journal continues — followed by
//! records `length u32 | CRC-32 u32 | kind u32 | payload (length bytes)`, the CRC taken over
//! kind and payload.

use crate::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Magic bytes of a journal file.
pub const JOURNAL_MAGIC: &[u8; 8] = b"EMBEDWAL";
const VERSION: u16 = 1;
/// Bytes of the journal header; the snapshot identity is its last 32.
pub(crate) const HEADER: usize = 48;
/// Bytes of a record's frame before its payload.
const FRAME: usize = 12;
/// Largest record payload accepted when reading (a length beyond it is a damaged tail).
pub(crate) const MAX_RECORD: usize = 1 << 31;

/// When acknowledged writes reach the disk, like SQLite's `synchronous`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncMode {
    /// Every acknowledged write is fsynced before the call returns: nothing acknowledged is
    /// lost, even by a power failure.
    Full,
    /// Writes reach the operating system before the call returns (a crash of the process
    /// loses nothing) and are fsynced in the background at least every `interval_ms`
    /// milliseconds: a power failure loses at most that window.
    Grouped {
        /// Longest time between a write and its fsync.
        interval_ms: u64,
    },
    /// Writes reach the operating system before the call returns (a crash of the process
    /// loses nothing); the disk is synced only at checkpoints.
    Off,
}

/// A journal record: its kind and payload.
pub(crate) type Record = (u32, Vec<u8>);

/// An existing journal, opened: ready to append after its valid records.
pub(crate) struct Opened {
    pub(crate) journal: Journal,
    /// The identity of the snapshot it continues.
    pub(crate) base: [u8; 32],
    pub(crate) records: Vec<Record>,
}

/// Default longest time between a write and its fsync in [`SyncMode::Grouped`].
pub const DEFAULT_SYNC_INTERVAL_MS: u64 = 100;

impl SyncMode {
    /// `"full"`, `"grouped"` (every `interval_ms`, default [`DEFAULT_SYNC_INTERVAL_MS`]) or
    /// `"off"`; an interval with another mode is an error.
    pub fn parse(name: &str, interval_ms: Option<u64>) -> Result<SyncMode> {
        let mode = match name.to_ascii_lowercase().as_str() {
            "full" => SyncMode::Full,
            "grouped" => SyncMode::Grouped {
                interval_ms: interval_ms.unwrap_or(DEFAULT_SYNC_INTERVAL_MS),
            },
            "off" => SyncMode::Off,
            _ => {
                return Err(Error::invalid(
                    "sync",
                    "one of \"full\", \"grouped\", \"off\"",
                    format!("{name:?}"),
                ));
            }
        };
        match (mode, interval_ms) {
            (SyncMode::Grouped { interval_ms: 0 }, _) => Err(Error::invalid(
                "sync_interval_ms",
                "at least 1 millisecond",
                0,
            )),
            (SyncMode::Grouped { .. }, _) | (_, None) => Ok(mode),
            (_, Some(ms)) => Err(Error::invalid(
                "sync_interval_ms",
                "an interval only with sync \"grouped\"",
                ms,
            )),
        }
    }

    /// The mode's name, as [`SyncMode::parse`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            SyncMode::Full => "full",
            SyncMode::Grouped { .. } => "grouped",
            SyncMode::Off => "off",
        }
    }
}

/// An open journal, appending.
#[derive(Debug)]
pub(crate) struct Journal {
    file: File,
    /// A second handle on the file, for fsyncs run outside the caller's locks.
    sync_file: Arc<File>,
    path: PathBuf,
    len: u64,
    sync: SyncMode,
    /// Set by a write in `Grouped` mode, cleared by the background sync.
    dirty: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    syncer: Option<std::thread::JoinHandle<()>>,
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Io { op, path, source }
}

impl Journal {
    /// Creates (or replaces, atomically) the journal at `path`, empty, continuing the
    /// snapshot identified by `base`.
    pub(crate) fn create(path: &Path, base: &[u8; 32], sync: SyncMode) -> Result<Journal> {
        let mut header = Vec::with_capacity(HEADER);
        header.extend_from_slice(JOURNAL_MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&[0; 6]);
        header.extend_from_slice(base);
        super::write_atomic(path, &header)?;
        Journal::append_to(path, HEADER as u64, sync)
    }

    /// Opens an existing journal: its snapshot identity and the records of its longest valid
    /// prefix (`(kind, payload)`), the file cut to that prefix. `Ok(None)` when the file
    /// does not exist or its header is not a journal's (it is then replaced by the caller).
    pub(crate) fn open(path: &Path, sync: SyncMode) -> Result<Option<Opened>> {
        let mut bytes = Vec::new();
        match File::open(path) {
            Ok(mut f) => f
                .read_to_end(&mut bytes)
                .map_err(io("read journal", path))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("open journal", path)(e)),
        };
        if bytes.len() < HEADER
            || &bytes[..8] != JOURNAL_MAGIC
            || u16::from_le_bytes([bytes[8], bytes[9]]) != VERSION
        {
            return Ok(None);
        }
        let base: [u8; 32] = bytes[16..HEADER].try_into().expect("32 bytes");
        let (records, valid) = parse(&bytes);
        if valid < bytes.len() {
            let f = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(io("open journal", path))?;
            f.set_len(valid as u64)
                .map_err(io("truncate journal", path))?;
            f.sync_all().map_err(io("fsync journal", path))?;
        }
        let journal = Journal::append_to(path, valid as u64, sync)?;
        Ok(Some(Opened {
            journal,
            base,
            records,
        }))
    }

    fn append_to(path: &Path, len: u64, sync: SyncMode) -> Result<Journal> {
        let mut file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io("open journal", path))?;
        file.seek(SeekFrom::Start(len))
            .map_err(io("seek journal", path))?;
        let sync_file = Arc::new(file.try_clone().map_err(io("open journal", path))?);
        let (dirty, stop) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let syncer = match sync {
            SyncMode::Grouped { interval_ms } => {
                let f = file.try_clone().map_err(io("open journal", path))?;
                let (d, s) = (dirty.clone(), stop.clone());
                let every = Duration::from_millis(interval_ms.max(1));
                Some(
                    std::thread::Builder::new()
                        .name("embedrec-journal-sync".into())
                        .spawn(move || {
                            while !s.load(Ordering::Acquire) {
                                std::thread::park_timeout(every);
                                if d.swap(false, Ordering::AcqRel) {
                                    let _ = f.sync_data();
                                }
                            }
                        })
                        .map_err(io("start journal sync thread", path))?,
                )
            }
            _ => None,
        };
        Ok(Journal {
            file,
            sync_file,
            path: path.to_path_buf(),
            len,
            sync,
            dirty,
            stop,
            syncer,
        })
    }

    /// Bytes in the journal, header included.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Appends a record (written to the operating system); in [`SyncMode::Full`] the caller
    /// then runs the returned [`PendingSync`] before acknowledging the write — outside its
    /// locks, so readers never wait for the disk. On error the file is cut back to its
    /// previous length (best effort).
    pub(crate) fn append(&mut self, kind: u32, payload: &[u8]) -> Result<Option<PendingSync>> {
        let mut rec = Vec::with_capacity(FRAME + payload.len());
        let len = u32::try_from(payload.len())
            .ok()
            .filter(|&n| (n as usize) < MAX_RECORD)
            .ok_or_else(|| Error::CapacityExceeded {
                what: "journal record bytes".into(),
                limit: MAX_RECORD as u64 - 1,
                got: payload.len() as u64,
            })?;
        let mut h = crc32fast::Hasher::new();
        h.update(&kind.to_le_bytes());
        h.update(payload);
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(&h.finalize().to_le_bytes());
        rec.extend_from_slice(&kind.to_le_bytes());
        rec.extend_from_slice(payload);
        let path = self.path.clone();
        let written = self
            .file
            .write_all(&rec)
            .map_err(io("write journal", &path))
            .map(|_| match self.sync {
                SyncMode::Full => Some(PendingSync {
                    file: self.sync_file.clone(),
                    path: path.clone(),
                }),
                SyncMode::Grouped { .. } => {
                    self.dirty.store(true, Ordering::Release);
                    None
                }
                SyncMode::Off => None,
            });
        match written {
            Ok(pending) => {
                self.len += rec.len() as u64;
                Ok(pending)
            }
            Err(e) => {
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(SeekFrom::Start(self.len));
                Err(e)
            }
        }
    }
}

/// An fsync the caller owes before acknowledging a write ([`SyncMode::Full`]); it covers
/// every record appended before it.
#[derive(Debug)]
pub(crate) struct PendingSync {
    file: Arc<File>,
    path: PathBuf,
}

impl PendingSync {
    pub(crate) fn run(self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(io("fsync journal", &self.path))
    }
}

impl Journal {
    /// Syncs the journal's data to disk and closes it.
    pub(crate) fn close(self) -> Result<()> {
        let out = self
            .file
            .sync_data()
            .map_err(io("fsync journal", &self.path));
        drop(self);
        out
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.syncer.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        if self.sync != SyncMode::Off {
            let _ = self.file.sync_data();
        }
    }
}

/// The records of the longest valid prefix of a journal's bytes and that prefix's length.
fn parse(bytes: &[u8]) -> (Vec<Record>, usize) {
    let mut out = Vec::new();
    let mut at = HEADER;
    while bytes.len() - at >= FRAME {
        let word = |o: usize| u32::from_le_bytes(bytes[at + o..at + o + 4].try_into().unwrap());
        let (len, crc, kind) = (word(0) as usize, word(4), word(8));
        if len >= MAX_RECORD || bytes.len() - at - FRAME < len {
            break;
        }
        let payload = &bytes[at + FRAME..at + FRAME + len];
        let mut h = crc32fast::Hasher::new();
        h.update(&kind.to_le_bytes());
        h.update(payload);
        if h.finalize() != crc {
            break;
        }
        out.push((kind, payload.to_vec()));
        at += FRAME + len;
    }
    (out, at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_and_a_torn_tail_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j");
        let base = [7u8; 32];
        let mut j = Journal::create(&path, &base, SyncMode::Full).unwrap();
        j.append(1, b"one").unwrap().unwrap().run().unwrap();
        j.append(2, b"").unwrap();
        j.append(3, &[9; 1000]).unwrap();
        let full = j.len();
        drop(j);
        // A torn last record: cut somewhere inside it.
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(full - 10).unwrap();
        drop(f);
        let o = Journal::open(&path, SyncMode::Off).unwrap().unwrap();
        let mut j = o.journal;
        assert_eq!(o.base, base);
        assert_eq!(o.records, vec![(1, b"one".to_vec()), (2, vec![])]);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), j.len());
        // Appending continues after the valid prefix; a flipped byte ends the prefix there.
        j.append(4, b"four").unwrap();
        drop(j);
        let mut bytes = std::fs::read(&path).unwrap();
        let n = bytes.len();
        bytes[n - 2] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let grouped = SyncMode::Grouped { interval_ms: 5 };
        let o = Journal::open(&path, grouped).unwrap().unwrap();
        assert_eq!(o.records.len(), 2);
        std::fs::write(&path, b"not a journal").unwrap();
        assert!(Journal::open(&path, SyncMode::Off).unwrap().is_none());
        assert!(
            Journal::open(&dir.path().join("none"), SyncMode::Off)
                .unwrap()
                .is_none()
        );
    }
}
