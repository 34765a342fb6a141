//! The container: a 32-byte header, a table of sections, then the sections. It knows
//! sizes, offsets and checksums, not what a section holds (see `persist`).
//!
//! ```text
//! offset  size  field
//! 0       8     magic  b"EMBEDREC"
//! 8       2     format version (u16 LE): 2 (1 is still read)
//! 10      2     flags (u16 LE) = 0
//! 12      4     section count (u32 LE), at most 16
//! 16      8     total file length (u64 LE)
//! 24      4     CRC-32 of the section table
//! 28      4     CRC-32 of bytes 0..28
//! 32      32*n  section table: kind u32 | reserved u32 | offset u64 | length u64 | CRC-32 u32 | reserved u32
//! ...           sections, in table order: version 2 starts each on a 4096-byte page
//!               boundary (the first at 4096; zero padding between), version 1 put them back
//!               to back
//! ```
//!
//! Version 2 is written by streaming each section into the file (the table is written
//! last, at the start), so a save never holds the file in memory, and its page-aligned
//! sections can be mapped and used in place.

use super::source::{SectionReader, Source};
use crate::{Error, Result};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

/// File magic.
pub const MAGIC: &[u8; 8] = b"EMBEDREC";
/// Format version written by this build (it also reads version 1).
pub const FORMAT_VERSION: u16 = 2;
/// Sections of a version-2 file start on multiples of this.
pub(crate) const PAGE: u64 = 4096;
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

/// Writes a version-2 file section by section to `w`: the first page is reserved for the
/// header and table, each section is padded to a page boundary and streamed with its
/// checksum computed on the way, and [`ContainerWriter::finish`] writes the table.
pub(crate) struct ContainerWriter<W: Write + Seek> {
    w: W,
    pos: u64,
    /// Per section: kind, offset, length, checksum.
    entries: Vec<(u32, u64, u64, u32)>,
}

/// Counts and checksums what passes through.
struct Tally<'a> {
    w: &'a mut dyn Write,
    n: u64,
    crc: crc32fast::Hasher,
}

impl Write for Tally<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.w.write(buf)?;
        self.crc.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.w.flush()
    }
}

impl<W: Write + Seek> ContainerWriter<W> {
    /// Starts a file at the current end of `w` (which must be empty).
    pub(crate) fn new(mut w: W) -> std::io::Result<Self> {
        w.write_all(&[0; PAGE as usize])?;
        Ok(ContainerWriter {
            w,
            pos: PAGE,
            entries: Vec::new(),
        })
    }

    /// Appends a section of `kind` whose bytes `content` writes.
    pub(crate) fn section(
        &mut self,
        kind: u32,
        content: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        assert!(self.entries.len() < MAX_SECTIONS, "too many sections");
        let pad = self.pos.next_multiple_of(PAGE) - self.pos;
        self.w.write_all(&vec![0; pad as usize])?;
        self.pos += pad;
        let mut t = Tally {
            w: &mut self.w,
            n: 0,
            crc: crc32fast::Hasher::new(),
        };
        content(&mut t)?;
        let (n, crc) = (t.n, t.crc.finalize());
        self.entries.push((kind, self.pos, n, crc));
        self.pos += n;
        Ok(())
    }

    /// Writes the header and table; returns the writer and the 32-byte header (which
    /// identifies the file: it covers the table, which covers every section's checksum).
    pub(crate) fn finish(mut self) -> std::io::Result<(W, [u8; HEADER])> {
        let mut table = Vec::with_capacity(ENTRY * self.entries.len());
        for &(kind, offset, len, crc) in &self.entries {
            table.extend_from_slice(&kind.to_le_bytes());
            table.extend_from_slice(&0u32.to_le_bytes());
            table.extend_from_slice(&offset.to_le_bytes());
            table.extend_from_slice(&len.to_le_bytes());
            table.extend_from_slice(&crc.to_le_bytes());
            table.extend_from_slice(&0u32.to_le_bytes());
        }
        let mut head = [0u8; HEADER];
        head[..8].copy_from_slice(MAGIC);
        head[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        head[12..16].copy_from_slice(&(self.entries.len() as u32).to_le_bytes());
        head[16..24].copy_from_slice(&self.pos.to_le_bytes());
        head[24..28].copy_from_slice(&crc32fast::hash(&table).to_le_bytes());
        let hcrc = crc32fast::hash(&head[..28]);
        head[28..32].copy_from_slice(&hcrc.to_le_bytes());
        self.w.seek(SeekFrom::Start(0))?;
        self.w.write_all(&head)?;
        self.w.write_all(&table)?;
        self.w.seek(SeekFrom::Start(self.pos))?;
        self.w.flush()?;
        Ok((self.w, head))
    }
}

/// The sections of a file and its format version.
pub(crate) struct Contents<'a> {
    pub(crate) version: u16,
    pub(crate) sections: Vec<Section<'a>>,
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
) -> Result<Contents<'a>> {
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
    if !(1..=FORMAT_VERSION).contains(&version) {
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
        // Version 1: back to back; version 2: at the first page boundary from the end of
        // the table or the previous section.
        let start = if version == 1 {
            expected_offset
        } else {
            expected_offset.next_multiple_of(PAGE)
        };
        if off != start {
            return Err(corrupt(
                name,
                format!("starts at {off}, expected {start} (gap or overlap)"),
            ));
        }
        // The padding before a section is zeros (no checksum covers it; any other byte is
        // damage).
        if start > expected_offset {
            let pad = read(expected_offset, (start - expected_offset) as usize, name)?;
            if pad.iter().any(|&b| b != 0) {
                return Err(corrupt(
                    name,
                    "padding before the section is not zeros".into(),
                ));
            }
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
    Ok(Contents { version, sections })
}
