//! The container: a 32-byte header, a table of sections, then the sections back to back.
//! It knows sizes, offsets and checksums, not what a section holds (see `persist`).
//!
//! ```text
//! offset  size  field
//! 0       8     magic  b"EMBEDREC"
//! 8       2     format version (u16 LE) = 1
//! 10      2     flags (u16 LE) = 0
//! 12      4     section count (u32 LE), at most 16
//! 16      8     total file length (u64 LE)
//! 24      4     CRC-32 of the section table
//! 28      4     CRC-32 of bytes 0..28
//! 32      32*n  section table: kind u32 | reserved u32 | offset u64 | length u64 | CRC-32 u32 | reserved u32
//! ...           sections, in table order, without gaps or overlaps
//! ```

use super::source::{SectionReader, Source};
use crate::{Error, Result};
use std::path::Path;

/// File magic.
pub const MAGIC: &[u8; 8] = b"EMBEDREC";
/// Format version written and read by this build.
pub const FORMAT_VERSION: u16 = 1;
const HEADER: usize = 32;
const ENTRY: usize = 32;
const MAX_SECTIONS: usize = 16;

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// The whole file for these `(kind, bytes)` sections, in order.
pub(crate) fn write(sections: &[(u32, &[u8])]) -> Vec<u8> {
    let table_len = ENTRY * sections.len();
    let total = HEADER + table_len + sections.iter().map(|(_, d)| d.len()).sum::<usize>();
    let mut table = Vec::with_capacity(table_len);
    let mut offset = (HEADER + table_len) as u64;
    for (kind, data) in sections {
        table.extend_from_slice(&kind.to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        table.extend_from_slice(&offset.to_le_bytes());
        table.extend_from_slice(&(data.len() as u64).to_le_bytes());
        table.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
        table.extend_from_slice(&0u32.to_le_bytes());
        offset += data.len() as u64;
    }
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    out.extend_from_slice(&(total as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&table).to_le_bytes());
    let hcrc = crc32fast::hash(&out[..28]);
    out.extend_from_slice(&hcrc.to_le_bytes());
    out.extend_from_slice(&table);
    for (_, data) in sections {
        out.extend_from_slice(data);
    }
    debug_assert_eq!(out.len(), total);
    out
}

/// One entry of the section table, with a reader over its bytes.
pub(crate) struct Section<'a> {
    /// The section kind as stored.
    pub(crate) kind: u32,
    /// Its name, as `name_of` gave it.
    pub(crate) name: &'static str,
    pub(crate) reader: SectionReader<'a>,
}

/// Verifies the header, the file length, the table and every section's bounds, and returns
/// a reader per section. `name_of(kind)` names the kinds this build knows; any other kind
/// is an error.
pub(crate) fn read<'a>(
    src: &'a dyn Source,
    path: &Path,
    name_of: impl Fn(u32) -> Option<&'static str>,
) -> Result<Vec<Section<'a>>> {
    let corrupt = |section: &str, reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        section: section.to_string(),
        reason,
    };
    let size = src.size();
    if size < HEADER as u64 {
        return Err(corrupt(
            "header",
            format!("file is {size} bytes, shorter than the {HEADER}-byte header"),
        ));
    }
    let read = |off: u64, len: usize, what: &str| -> Result<Vec<u8>> {
        let mut v = vec![0u8; len];
        src.read_at(off, &mut v).map_err(|e| {
            corrupt(
                what,
                format!("cannot read {len} bytes at offset {off}: {e}"),
            )
        })?;
        Ok(v)
    };
    let b = read(0, HEADER, "header")?;
    if &b[..8] != MAGIC {
        return Err(corrupt(
            "header",
            "not an embedrec file (bad magic bytes)".into(),
        ));
    }
    let version = u16_at(&b, 8);
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if crc32fast::hash(&b[..28]) != u32_at(&b, 28) {
        return Err(corrupt("header", "header checksum mismatch".into()));
    }
    let flags = u16_at(&b, 10);
    if flags != 0 {
        return Err(corrupt("header", format!("unknown flags {flags:#x}")));
    }
    let total = u64_at(&b, 16);
    if total != size {
        return Err(corrupt(
            "header",
            format!("header says {total} bytes but the file has {size} (truncated or extended)"),
        ));
    }
    let n = u32_at(&b, 12) as usize;
    if n == 0 || n > MAX_SECTIONS {
        return Err(corrupt(
            "section table",
            format!("section count {n} outside 1..={MAX_SECTIONS}"),
        ));
    }
    let table_end = (HEADER + n * ENTRY) as u64;
    if table_end > size {
        return Err(corrupt(
            "section table",
            "table extends past the end of the file".into(),
        ));
    }
    let table = read(HEADER as u64, n * ENTRY, "section table")?;
    if crc32fast::hash(&table) != u32_at(&b, 24) {
        return Err(corrupt("section table", "table checksum mismatch".into()));
    }
    let mut sections = Vec::with_capacity(n);
    let mut expected_offset = table_end;
    for i in 0..n {
        let e = &table[i * ENTRY..(i + 1) * ENTRY];
        let (kind, off, len, crc) = (u32_at(e, 0), u64_at(e, 8), u64_at(e, 16), u32_at(e, 24));
        let name = name_of(kind).ok_or_else(|| {
            corrupt(
                "section table",
                format!("entry {i} has unknown section kind {kind}"),
            )
        })?;
        if off != expected_offset {
            return Err(corrupt(
                name,
                format!("starts at {off}, expected {expected_offset} (gap or overlap)"),
            ));
        }
        let end = off.checked_add(len).filter(|&e| e <= size).ok_or_else(|| {
            corrupt(
                name,
                format!("offset {off} + length {len} exceeds the file length {size}"),
            )
        })?;
        sections.push(Section {
            kind,
            name,
            reader: SectionReader::new(src, off, len, crc),
        });
        expected_offset = end;
    }
    if expected_offset != size {
        return Err(corrupt(
            "section table",
            "bytes after the last section".into(),
        ));
    }
    Ok(sections)
}
