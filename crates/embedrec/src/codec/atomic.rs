//! Atomic file replacement.
//!
//! A save writes `.NAME.tmp-PID-TOKEN` beside the target (PID: the writer's process; TOKEN: a
//! per-process counter and a random part, so no two writers, even with a reused PID, pick
//! the same name; a name that exists anyway is skipped), fsyncs it and renames it over the
//! target. A writer killed mid-save leaves its temp file; the next save of the same target
//! removes those whose process no longer runs.

use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically (temp file in the same directory, fsync, rename,
/// directory fsync). On error the temp file is removed and `path` is untouched.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| {
        f.write_all(bytes).map_err(|source| Error::Io {
            op: "write",
            path: path.to_path_buf(),
            source,
        })
    })
}

/// Writes `path` atomically with what `fill` writes into the (empty) temp file, then
/// fsync, rename and directory fsync. On error the temp file is removed and `path` is
/// untouched.
pub(crate) fn write_atomic_with<T>(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> Result<T>,
) -> Result<T> {
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
    let prefix = format!(".{file_name}.tmp-");
    remove_stale(&dir, &prefix);
    let (tmp, mut f) = create_temp(&dir, &prefix).map_err(io("create temp file", &dir))?;
    let result = (|| {
        let out = fill(&mut f)?;
        f.sync_all().map_err(io("fsync", &tmp))?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(io("rename", path))?;
        // Persist the directory entry; not every platform can open a directory, so only
        // a failing sync (not a failing open) is reported.
        if let Ok(d) = std::fs::File::open(&dir) {
            d.sync_all().map_err(io("fsync directory", &dir))?;
        }
        Ok(out)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// A new temp file in `dir` named `prefix` + `PID-TOKEN`, created exclusively.
fn create_temp(dir: &Path, prefix: &str) -> std::io::Result<(std::path::PathBuf, std::fs::File)> {
    use std::hash::{BuildHasher, RandomState};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut last = None;
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // RandomState is seeded from the OS once per process and varies per instance.
        let random = RandomState::new().hash_one(n);
        let tmp = dir.join(format!("{prefix}{}-{n}{random:016x}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::ErrorKind::AlreadyExists.into()))
}

/// Removes temp files of this target left by writers that no longer run (a kill in the
/// middle of a save). A file whose writer may still run is left alone; failures are ignored
/// (the save itself does not depend on them).
fn remove_stale(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !process_runs(pid) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether a process with this id runs (Linux: it has an entry in /proc). Elsewhere every
/// writer is assumed alive, so nothing is removed.
pub(crate) fn process_runs(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}
