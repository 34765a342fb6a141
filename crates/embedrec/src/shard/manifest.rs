//! The manifest of a set of shard files: which files, in shard order, and the identity of
//! each (its length and checksums), so that a set is never opened from mixed splits.
//! Layout in docs/format.md.

use super::MAX_SHARDS;
use crate::codec::write_atomic;
use crate::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// File name of a set's manifest, in the directory of its shard files.
pub const MANIFEST: &str = "embedrec-shards.txt";

const HEADER: &str = "embedrec shards 1";

/// Longest manifest read: the header, the count and `MAX_SHARDS` lines.
const MAX_BYTES: u64 = 64 + 128 * MAX_SHARDS as u64;

/// The file name of shard `i` of `n`.
pub(super) fn file_name(i: usize, n: usize) -> String {
    format!("shard-{i}-of-{n}.embedrec")
}

/// Writes the manifest of `shards` (`(file name, identity)` in shard order) into `dir`,
/// atomically; returns its path.
pub(super) fn write(dir: &Path, shards: &[(String, String)]) -> Result<PathBuf> {
    let mut text = format!("{HEADER}\ncount {}\n", shards.len());
    for (name, id) in shards {
        text.push_str(&format!("{name} {id}\n"));
    }
    let path = dir.join(MANIFEST);
    write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Reads a manifest (its path, or a directory holding one): the manifest's path and its
/// shard files' `(file name, identity)` in shard order (the files are beside it).
pub(super) fn read(path: &Path) -> Result<(PathBuf, Vec<(String, String)>)> {
    let path = if path.is_dir() {
        path.join(MANIFEST)
    } else {
        path.to_path_buf()
    };
    let io = |source| Error::Io {
        op: "read manifest",
        path: path.clone(),
        source,
    };
    let mut text = String::new();
    std::fs::File::open(&path)
        .map_err(io)?
        .take(MAX_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => corrupt(&path, "not UTF-8 text".into()),
            _ => io(e),
        })?;
    if text.len() as u64 > MAX_BYTES {
        return Err(corrupt(&path, format!("longer than {MAX_BYTES} bytes")));
    }
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(corrupt(&path, format!("the first line is not {HEADER:?}")));
    }
    let n = (lines.next())
        .and_then(|l| l.strip_prefix("count "))
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|n| (1..=MAX_SHARDS).contains(n))
        .ok_or_else(|| {
            corrupt(
                &path,
                format!("no line \"count N\" with N in 1..={MAX_SHARDS}"),
            )
        })?;
    let mut shards = Vec::with_capacity(n);
    for i in 0..n {
        let expected = file_name(i, n);
        let entry = lines.next().and_then(|l| {
            let (name, id) = l.split_once(' ')?;
            let hex = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
            (name == expected && hex).then(|| (name.to_string(), id.to_string()))
        });
        shards.push(entry.ok_or_else(|| {
            corrupt(
                &path,
                format!("line {} is not \"{expected} <32 hex digits>\"", i + 3),
            )
        })?);
    }
    if lines.any(|l| !l.is_empty()) {
        return Err(corrupt(&path, format!("more lines than its {n} shards")));
    }
    Ok((path, shards))
}

fn corrupt(path: &Path, reason: String) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        section: "shard manifest".into(),
        reason,
    }
}
