//! Reading a file's sections: where the bytes come from ([`Source`]) and a checksummed,
//! chunked reader of one section ([`SectionReader`]).

use crate::util::mapped::Mapping;
use std::path::Path;
use std::sync::Arc;

/// Where a file's bytes come from: the bytes themselves ([`Engine::from_bytes`]) or an open
/// file read at offsets ([`Engine::load`]). Large sections are streamed from it in chunks into
/// their final structures, so loading a file never holds a second copy of it.
///
/// [`Engine::from_bytes`]: crate::Engine::from_bytes
/// [`Engine::load`]: crate::Engine::load
pub(crate) trait Source: Sync {
    /// Length in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from offset `off`; an error when the bytes are not there (any more).
    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<()>;
    /// The mapping when the bytes are a mapped file (whose parts may then be viewed rather
    /// than copied).
    fn mapping(&self) -> Option<&Arc<Mapping>> {
        None
    }
}

/// A mapped file as a source.
pub(crate) struct MappedSource(pub(crate) Arc<Mapping>);

impl Source for MappedSource {
    fn size(&self) -> u64 {
        self.0.bytes().len() as u64
    }
    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.0.bytes().read_at(off, buf)
    }
    fn mapping(&self) -> Option<&Arc<Mapping>> {
        Some(&self.0)
    }
}

impl Source for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let src = usize::try_from(off)
            .ok()
            .and_then(|o| self.get(o..o.checked_add(buf.len())?))
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// An open file read at offsets (positioned reads: the section readers of different threads
/// share it without a lock where the platform allows).
pub(crate) struct FileSource {
    #[cfg(any(unix, windows))]
    file: std::fs::File,
    #[cfg(not(any(unix, windows)))]
    file: std::sync::Mutex<std::fs::File>,
    size: u64,
}

impl FileSource {
    /// Opens `path` for reading ([`open_regular`]).
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let file = open_regular(path)?;
        let size = file.metadata()?.len();
        #[cfg(not(any(unix, windows)))]
        let file = std::sync::Mutex::new(file);
        Ok(Self { file, size })
    }
}

/// Opens `path` for reading, refusing anything but a regular file (or a link to one) at
/// once: a directory would read as damage, and opening a FIFO for reading waits for a
/// writer, so on Linux the file is opened without blocking and checked before any read.
pub(crate) fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    #[cfg(not(target_os = "linux"))]
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    Ok(file)
}

fn not_regular() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "not a regular file (a directory, FIFO, socket or device), so not an embedrec file",
    )
}

impl Source for FileSource {
    fn size(&self) -> u64 {
        self.size
    }
    #[cfg(unix)]
    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, off)
    }
    #[cfg(windows)]
    fn read_at(&self, mut off: u64, mut buf: &mut [u8]) -> std::io::Result<()> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            match self.file.seek_read(buf, off) {
                Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => {
                    buf = &mut buf[n..];
                    off += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
    #[cfg(not(any(unix, windows)))]
    fn read_at(&self, off: u64, buf: &mut [u8]) -> std::io::Result<()> {
        use std::io::{Read, Seek};
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        f.seek(std::io::SeekFrom::Start(off))?;
        f.read_exact(buf)
    }
}

/// Bytes per read of a [`SectionReader`]: large enough that a read costs little next to its
/// copy, small enough to stay in cache.
const CHUNK: usize = 1 << 20;

/// Reads one section in chunks, computing its checksum over the bytes as they arrive.
/// What is read is parsed and validated before the checksum is known (every value is checked
/// anyway); [`finish`](Self::finish) then requires the section consumed exactly and the
/// checksum right, and [`fail`](Self::fail) reports damage as a checksum mismatch.
pub(crate) struct SectionReader<'a> {
    src: &'a dyn Source,
    /// File offsets of the next byte to read and of the section's end.
    next: u64,
    end: u64,
    buf: Vec<u8>,
    pos: usize,
    crc: crc32fast::Hasher,
    expected_crc: u32,
    /// Some bytes were viewed in a mapping rather than read: the checksum is left to an
    /// on-demand verification.
    viewed: bool,
}

impl<'a> SectionReader<'a> {
    pub(crate) fn new(src: &'a dyn Source, off: u64, len: u64, expected_crc: u32) -> Self {
        Self {
            src,
            next: off,
            end: off + len,
            buf: Vec::new(),
            pos: 0,
            crc: crc32fast::Hasher::new(),
            expected_crc,
            viewed: false,
        }
    }

    /// With a mapped source, the mapping and the file offset of the next `n` bytes, which
    /// are then skipped (viewed, not read; the section's checksum is no longer computed);
    /// `None` for other sources. An error when fewer than `n` bytes are left.
    pub(crate) fn view_bytes(
        &mut self,
        n: usize,
    ) -> std::result::Result<Option<(Arc<Mapping>, usize)>, String> {
        if self.remaining() < n as u64 {
            return Err("section ends early (truncated)".into());
        }
        let Some(map) = self.src.mapping() else {
            return Ok(None);
        };
        let at = self.next - (self.buf.len() - self.pos) as u64;
        self.buf.clear();
        self.pos = 0;
        self.next = at + n as u64;
        self.viewed = true;
        Ok(Some((Arc::clone(map), at as usize)))
    }

    /// A reader over `bytes` as a whole section with the given checksum.
    #[cfg(test)]
    pub(crate) fn over(bytes: &'a &'a [u8]) -> Self {
        Self::new(bytes, 0, bytes.len() as u64, crc32fast::hash(bytes))
    }

    /// The next `n` bytes of the section; an error when fewer are left.
    pub(crate) fn take(&mut self, n: usize) -> std::result::Result<&[u8], String> {
        if self.buf.len() - self.pos < n {
            self.refill(n)?;
        }
        let r = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(r)
    }

    /// The next `n` bytes of the section, left in place for the next `take`.
    pub(crate) fn peek(&mut self, n: usize) -> std::result::Result<&[u8], String> {
        if self.buf.len() - self.pos < n {
            self.refill(n)?;
        }
        Ok(&self.buf[self.pos..self.pos + n])
    }

    fn refill(&mut self, n: usize) -> std::result::Result<(), String> {
        let kept = self.buf.len() - self.pos;
        let left = self.end - self.next;
        if (kept as u64).saturating_add(left) < n as u64 {
            return Err("section ends early (truncated)".into());
        }
        self.buf.copy_within(self.pos.., 0);
        self.buf.truncate(kept);
        self.pos = 0;
        let want = (CHUNK.max(n) - kept).min(usize::try_from(left).unwrap_or(usize::MAX));
        self.buf.resize(kept + want, 0);
        let fresh = &mut self.buf[kept..];
        self.src
            .read_at(self.next, fresh)
            .map_err(|e| format!("cannot read {want} bytes at offset {}: {e}", self.next))?;
        self.crc.update(fresh);
        self.next += want as u64;
        Ok(())
    }

    /// Bytes not yet taken.
    pub(crate) fn remaining(&self) -> u64 {
        self.end - self.next + (self.buf.len() - self.pos) as u64
    }

    /// The whole section in one buffer, checked (for the small sections decoded at once). A
    /// section declared longer than `limit` is refused before anything is read or allocated;
    /// otherwise the buffer grows chunk by chunk as the bytes arrive, so the memory a load
    /// takes follows what the file holds, never what its table claims.
    pub(crate) fn into_bytes(mut self, limit: u64) -> std::result::Result<Vec<u8>, String> {
        let n = self.remaining();
        if n > limit {
            return Err(format!(
                "declares {n} bytes, more than this section may hold ({limit})"
            ));
        }
        let mut out: Vec<u8> = std::mem::take(&mut self.buf);
        out.drain(..self.pos);
        self.pos = 0;
        while self.next < self.end {
            let want = (self.end - self.next).min(CHUNK as u64) as usize;
            let start = out.len();
            out.resize(start + want, 0);
            self.src
                .read_at(self.next, &mut out[start..])
                .map_err(|e| format!("cannot read {want} bytes at offset {}: {e}", self.next))?;
            self.crc.update(&out[start..]);
            self.next += want as u64;
        }
        if self.crc.clone().finalize() != self.expected_crc {
            return Err("checksum mismatch".into());
        }
        Ok(out)
    }

    /// Reads the whole (untouched) section only to check its checksum.
    pub(crate) fn verify(mut self) -> std::result::Result<(), String> {
        if let Some(map) = self.src.mapping() {
            let bytes = map
                .bytes()
                .get(self.next as usize..self.end as usize)
                .ok_or("section outside the file")?;
            return if crc32fast::hash(bytes) == self.expected_crc {
                Ok(())
            } else {
                Err("checksum mismatch".into())
            };
        }
        let mut buf = vec![0u8; CHUNK];
        while self.next < self.end {
            let n = (self.end - self.next).min(CHUNK as u64) as usize;
            self.src
                .read_at(self.next, &mut buf[..n])
                .map_err(|e| format!("cannot read {n} bytes at offset {}: {e}", self.next))?;
            self.crc.update(&buf[..n]);
            self.next += n as u64;
        }
        if self.crc.clone().finalize() != self.expected_crc {
            return Err("checksum mismatch".into());
        }
        Ok(())
    }

    /// Checks that the section was read to its end and that its checksum matches.
    pub(crate) fn finish(&mut self) -> std::result::Result<(), String> {
        if self.pos != self.buf.len() || self.next != self.end {
            return Err(self.fail("trailing bytes after the data".into()));
        }
        if !self.viewed && self.crc.clone().finalize() != self.expected_crc {
            return Err("checksum mismatch".into());
        }
        Ok(())
    }

    /// The error to report for `reason`, found while parsing: "checksum mismatch" when the
    /// section's bytes are damaged (the rest is read to tell), else `reason`.
    pub(crate) fn fail(&mut self, reason: String) -> String {
        if self.viewed {
            return reason;
        }
        while self.next < self.end {
            self.pos = self.buf.len();
            if self.refill(0).is_err() {
                return reason;
            }
        }
        if self.crc.clone().finalize() != self.expected_crc {
            return "checksum mismatch".into();
        }
        reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_reader_streams_across_chunks_and_checks_the_end_and_checksum() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i * 7 % 251) as u8).collect();
        let src: &[u8] = &data;
        // Small takes straddling chunk boundaries, then one larger than a chunk.
        let mut r = SectionReader::over(&src);
        let mut got = Vec::new();
        while got.len() < CHUNK + 5 {
            got.extend_from_slice(r.take(13).unwrap());
        }
        got.extend_from_slice(r.take(CHUNK + 3).unwrap());
        let rest = r.remaining() as usize;
        got.extend_from_slice(r.take(rest).unwrap());
        assert_eq!(got, data);
        assert!(r.take(1).unwrap_err().contains("truncated"));
        assert_eq!(r.finish(), Ok(()));
        // Stopping short is an error; so is a wrong checksum, which `fail` reports instead
        // of the parse error it is given.
        let mut r = SectionReader::over(&src);
        r.take(10).unwrap();
        assert!(r.finish().unwrap_err().contains("trailing"));
        let mut r = SectionReader::new(&src, 0, data.len() as u64, 0);
        assert_eq!(r.fail("bad link".into()), "checksum mismatch");
        let mut r = SectionReader::over(&src);
        assert_eq!(r.fail("bad link".into()), "bad link");
        // A section that starts at an offset reads from there.
        let mut r = SectionReader::new(&src, 5, 4, crc32fast::hash(&data[5..9]));
        assert_eq!(r.take(4).unwrap(), &data[5..9]);
        assert_eq!(r.finish(), Ok(()));
    }
}
