//! Atomic file replacement.

use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename,
/// directory fsync). On error the temp file is removed and `path` is untouched.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let io = |op: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io {
            op,
            path: p,
            source,
        }
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::invalid("path", "a file path", format!("{path:?}")))?
        .to_string_lossy()
        .into_owned();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{file_name}.tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io("create temp file", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("fsync", &tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io("rename", path))?;
        // Persist the directory entry; not every platform can open a directory, so only
        // a failing sync (not a failing open) is reported.
        if let Ok(d) = std::fs::File::open(&dir) {
            d.sync_all().map_err(io("fsync directory", &dir))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
