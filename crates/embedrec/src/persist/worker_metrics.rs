//! Metrics of a multi-process server (uvicorn/gunicorn workers, a Node cluster): each worker
//! writes its exposition (with its `pid` label) to `embedrec-<pid>.prom` in a directory the
//! workers share; whichever worker answers a scrape returns every worker's samples merged
//! ([`merge_expositions`]), so Prometheus sees each worker's series on every scrape. Files
//! of processes that no longer run are removed when gathering (Linux; elsewhere call
//! [`forget_worker_metrics`] when a worker exits). The same idea as prometheus_client's
//! multiprocess directory, for embedrec's own metrics.

use crate::codec::{process_runs, write_atomic};
use crate::engine::{Engine, ExpositionOptions, merge_expositions, metrics_text};
use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// Bytes read from one worker's file at most (an exposition is a few tens of kB).
pub const MAX_WORKER_METRICS_BYTES: u64 = 16 << 20;

const PREFIX: &str = "embedrec-";
const SUFFIX: &str = ".prom";

fn file_of(dir: &Path, pid: u32) -> PathBuf {
    dir.join(format!("{PREFIX}{pid}{SUFFIX}"))
}

fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Io { op, path, source }
}

/// Writes this process's exposition of `engines` (see [`metrics_text`], `pid` label on) to
/// `dir/embedrec-<pid>.prom`, atomically; creates `dir` when missing. Returns the file.
pub fn write_worker_metrics(dir: impl AsRef<Path>, engines: &[(&str, &Engine)]) -> Result<PathBuf> {
    let dir = dir.as_ref();
    let text = metrics_text(engines, &ExpositionOptions::default().with_pid(true))?;
    std::fs::create_dir_all(dir).map_err(io("create directory", dir))?;
    let path = file_of(dir, std::process::id());
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Every worker's exposition in `dir` as one (each family's `HELP` and `TYPE` once, workers
/// in pid order). Files of processes that no longer run are removed first (Linux). A file
/// larger than [`MAX_WORKER_METRICS_BYTES`] is an error naming it.
pub fn gather_worker_metrics(dir: impl AsRef<Path>) -> Result<String> {
    let dir = dir.as_ref();
    let mut workers = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io("read directory", dir))? {
        let entry = entry.map_err(io("read directory", dir))?;
        let name = entry.file_name();
        let Some(pid) = (name.to_str())
            .and_then(|n| n.strip_prefix(PREFIX)?.strip_suffix(SUFFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !process_runs(pid) {
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        workers.push((pid, entry.path()));
    }
    workers.sort();
    let mut parts = Vec::with_capacity(workers.len());
    for (_, path) in workers {
        let len = std::fs::metadata(&path).map_err(io("stat", &path))?.len();
        if len > MAX_WORKER_METRICS_BYTES {
            return Err(Error::invalid(
                format!("{}", path.display()),
                format!("a worker exposition of at most {MAX_WORKER_METRICS_BYTES} bytes"),
                format!("{len} bytes"),
            ));
        }
        match std::fs::read(&path) {
            Ok(bytes) => parts.push(String::from_utf8_lossy(&bytes).into_owned()),
            // Removed by its worker (or another gatherer) meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("read", &path)(e)),
        }
    }
    Ok(merge_expositions(&parts))
}

/// Removes the metrics file of worker `pid` from `dir` (a server calls it when a worker
/// exits; nothing to do if there is none).
pub fn forget_worker_metrics(dir: impl AsRef<Path>, pid: u32) -> Result<()> {
    let path = file_of(dir.as_ref(), pid);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &path)(e)),
        _ => Ok(()),
    }
}
