//! Read-only engines: opened from a file that stays mapped, serving queries from its pages
//! (the persistence layer's `Engine::open` with `read_only`), or from a host's buffer used
//! in place (`Engine::from_bytes_read_only`). Every write is refused with
//! [`Error::ReadOnly`]; the cache, the metrics and the thread pool are the process's own.

use super::Engine;
use crate::util::mapped::Mapping;
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a read-only engine keeps of the file (or buffer) it was opened from.
pub(crate) struct ReadOnly {
    /// The file's path; `<bytes>` for a host buffer.
    path: PathBuf,
    /// Whether the bytes are a file's (a buffer has no snapshot to refer to).
    from_file: bool,
    /// The file's 32-byte header: its length and checksums, which cover every section.
    header: [u8; 32],
    /// The mapping the engine's large arrays are views of (also what [`Engine::verify`]
    /// reads).
    map: Arc<Mapping>,
}

impl ReadOnly {
    /// A file at `path` (`None`: a host buffer) whose header and mapping these are.
    pub(crate) fn new(path: Option<PathBuf>, header: [u8; 32], map: Arc<Mapping>) -> Self {
        ReadOnly {
            from_file: path.is_some(),
            path: path.unwrap_or_else(|| PathBuf::from("<bytes>")),
            header,
            map,
        }
    }

    /// The mapped file.
    pub(crate) fn mapping(&self) -> &Arc<Mapping> {
        &self.map
    }

    /// Bytes of the mapped file.
    pub(crate) fn mapped_bytes(&self) -> usize {
        self.map.bytes().len()
    }

    /// The file's 32-byte header.
    pub(crate) fn header(&self) -> &[u8; 32] {
        &self.header
    }

    /// The file's path (`<bytes>` for a host buffer).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl std::fmt::Debug for ReadOnly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnly")
            .field("path", &self.path)
            .finish()
    }
}

impl Engine {
    /// Marks the engine read-only (the persistence layer's read-only open).
    pub(crate) fn make_read_only(&mut self, ro: ReadOnly) {
        self.read_only = Some(ro);
    }

    /// What the engine keeps of the file it was opened read-only from.
    pub(crate) fn read_only_source(&self) -> Option<&ReadOnly> {
        self.read_only.as_ref()
    }

    /// Whether the engine was opened read-only (writes are refused with
    /// [`Error::ReadOnly`]).
    pub fn is_read_only(&self) -> bool {
        self.read_only.is_some()
    }

    /// For an engine opened read-only: the file's path and its identity, 32 hex digits of
    /// its length and checksums (which cover every byte of every section). Another process
    /// opening the same path can compare identities to be sure it serves the same snapshot
    /// (what pickling by reference does). `None` for other engines, including one reading
    /// a host's buffer ([`Engine::from_bytes_read_only`]).
    pub fn snapshot(&self) -> Option<(&Path, String)> {
        let ro = self.read_only.as_ref().filter(|ro| ro.from_file)?;
        let hex: String = ro.header[16..].iter().map(|b| format!("{b:02x}")).collect();
        Some((&ro.path, hex))
    }

    /// Refuses `op` on a read-only engine.
    pub(super) fn check_not_read_only(&self, op: &'static str) -> Result<()> {
        match &self.read_only {
            Some(ro) => Err(Error::ReadOnly {
                op,
                path: ro.path.clone(),
            }),
            None => Ok(()),
        }
    }
}
