//! The embedrec file format, version 1, and atomic saving.
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
//! Sections: `1` META — bincode 2 (standard config, byte limit) of the configuration, item
//! ids, tags, numeric attributes, users and interactions; `2` ITEM_VECTORS — `slots * dim`
//! raw little-endian f32; `3` MODEL (optional) — bincode 2 of the trained model, checked
//! against the catalog's size after decoding; `4` GRAPH (optional) — the native HNSW graph
//! (levels and links), every level, count and link id validated before use, so loading skips
//! the rebuild; `5` ITEM_CODES — instead of ITEM_VECTORS under int8 vector storage: per slot
//! a scale (f32 LE, finite and not negative) then `dim` codes (i8, never -128). The storage
//! is recorded by which of the two kinds is present (exactly one must be), so files written
//! before int8 storage existed load unchanged. Other kinds are rejected by this version.
//!
//! Loading verifies the header, the file length, the table and every section's bounds
//! before any section is read. META (and MODEL) are then read whole, checksummed, decoded
//! under a byte limit and re-validated value by value (dimensions, ids unique and
//! non-empty, tag and slot references in range, finite numbers). The two large sections,
//! the vectors (or codes) and GRAPH, are streamed from the file at their offsets in 1 MiB chunks
//! straight into their final structures, on two threads, with the checksum computed as
//! they stream; every value read is validated anyway, and a section is accepted only once
//! it was consumed exactly and its checksum matches (damage found while parsing is
//! reported as a checksum mismatch when the checksum disagrees).
//!
//! The hnsw_rs graph is never stored (it is rebuilt); its loader is never used.

use crate::catalog::Catalog;
use crate::config::{EngineConfig, VectorStorage};
use crate::tags::{MAX_TAG_ENTRIES, TagLists};
use crate::train::Model;
use crate::users::{Interaction, Users};
use crate::vectors::Rows;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

/// File magic.
pub const MAGIC: &[u8; 8] = b"EMBEDREC";
/// Format version written and read by this build.
pub const FORMAT_VERSION: u16 = 1;
const HEADER: usize = 32;
const ENTRY: usize = 32;
const MAX_SECTIONS: usize = 16;
const KIND_META: u32 = 1;
const KIND_VECTORS: u32 = 2;
const KIND_MODEL: u32 = 3;
const KIND_GRAPH: u32 = 4;
const KIND_CODES: u32 = 5;

/// The section kind and name of the vectors in a storage.
fn vector_section(storage: VectorStorage) -> (u32, &'static str) {
    match storage {
        VectorStorage::F32 => (KIND_VECTORS, "item_vectors"),
        VectorStorage::Int8 => (KIND_CODES, "item_codes"),
    }
}

/// Upper bound for the decoded metadata (bincode's allocation guard).
const META_LIMIT: usize = 1 << 31;

#[derive(Serialize, Deserialize)]
struct Meta<'a> {
    config: EngineConfig,
    /// Borrowed from the catalog when saving and from the file's bytes when loading (no
    /// allocation per id either way).
    #[serde(borrow)]
    ids: Vec<Option<&'a str>>,
    tags: Vec<Vec<u32>>,
    tag_names: Vec<String>,
    attr_names: Vec<String>,
    attrs: Vec<Vec<f64>>,
    users: Vec<String>,
    histories: Vec<Vec<Interaction>>,
}

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_little_endian()
        .with_fixed_int_encoding()
        .with_limit::<META_LIMIT>()
}

pub(crate) fn encode(
    config: &EngineConfig,
    cat: &Catalog,
    users: &Users,
    model: Option<&Model>,
    graph: Option<Vec<u8>>,
) -> Result<Vec<u8>> {
    let meta = Meta {
        config: config.clone(),
        ids: (0..cat.slots() as u32).map(|s| cat.ids.get(s)).collect(),
        tags: cat.tags.iter().map(|t| t.to_vec()).collect(),
        tag_names: cat.tag_names.names.clone(),
        attr_names: cat.attr_names.names.clone(),
        attrs: cat.attrs.clone(),
        users: users.ids.iter().map(|s| s.to_string()).collect(),
        histories: users.histories.clone(),
    };
    let meta_bytes = bincode::serde::encode_to_vec(&meta, bincode_config())
        .map_err(|e| Error::Internal(format!("cannot encode metadata: {e}")))?;
    let mut vec_bytes = Vec::new();
    cat.vectors.write_section(&mut vec_bytes);
    let model_bytes = match model {
        Some(m) => Some(
            bincode::serde::encode_to_vec(m, bincode_config())
                .map_err(|e| Error::Internal(format!("cannot encode model: {e}")))?,
        ),
        None => None,
    };
    let mut sections = vec![
        (KIND_META, &meta_bytes),
        (vector_section(cat.vectors.storage()).0, &vec_bytes),
    ];
    if let Some(mb) = &model_bytes {
        sections.push((KIND_MODEL, mb));
    }
    if let Some(g) = &graph {
        sections.push((KIND_GRAPH, g));
    }
    let table_len = ENTRY * sections.len();
    let total = HEADER + table_len + sections.iter().map(|(_, d)| d.len()).sum::<usize>();
    let mut table = Vec::with_capacity(table_len);
    let mut offset = (HEADER + table_len) as u64;
    for (kind, data) in &sections {
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
    for (_, data) in &sections {
        out.extend_from_slice(data);
    }
    debug_assert_eq!(out.len(), total);
    Ok(out)
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}

/// Everything a file holds, verified.
pub(crate) struct Decoded<G> {
    pub(crate) config: EngineConfig,
    pub(crate) cat: Catalog,
    pub(crate) users: Users,
    pub(crate) model: Option<Model>,
    /// The stored graph, as read by the `read_graph` given to [`decode`].
    pub(crate) graph: Option<G>,
}

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
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_dir() {
            // Opening a directory succeeds on Unix; reading it would then look like damage.
            return Err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a directory, not an embedrec file",
            ));
        }
        let size = meta.len();
        #[cfg(not(any(unix, windows)))]
        let file = std::sync::Mutex::new(file);
        Ok(Self { file, size })
    }
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
}

impl<'a> SectionReader<'a> {
    fn new(src: &'a dyn Source, off: u64, len: u64, expected_crc: u32) -> Self {
        Self {
            src,
            next: off,
            end: off + len,
            buf: Vec::new(),
            pos: 0,
            crc: crc32fast::Hasher::new(),
            expected_crc,
        }
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

    /// The whole section in one buffer, checked (for the small sections decoded at once).
    fn into_bytes(mut self) -> std::result::Result<Vec<u8>, String> {
        let n = usize::try_from(self.remaining())
            .map_err(|_| "section too large for this platform".to_string())?;
        self.take(n)?;
        self.finish()?;
        // Nothing was taken before: the buffer holds exactly the section.
        debug_assert_eq!(self.buf.len(), n);
        Ok(std::mem::take(&mut self.buf))
    }

    /// Checks that the section was read to its end and that its checksum matches.
    pub(crate) fn finish(&mut self) -> std::result::Result<(), String> {
        if self.pos != self.buf.len() || self.next != self.end {
            return Err(self.fail("trailing bytes after the data".into()));
        }
        if self.crc.clone().finalize() != self.expected_crc {
            return Err("checksum mismatch".into());
        }
        Ok(())
    }

    /// The error to report for `reason`, found while parsing: "checksum mismatch" when the
    /// section's bytes are damaged (the rest is read to tell), else `reason`.
    pub(crate) fn fail(&mut self, reason: String) -> String {
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

/// Decodes and verifies a file. `read_graph(reader, config, slots)` reads the graph section
/// (when there is one) into the index's structure, validating it against the number of
/// catalog slots; it runs on a second thread while the catalog is built, since the two are
/// independent (`None`: this configuration does not use a stored graph).
pub(crate) fn decode<G: Send>(
    src: &dyn Source,
    path: &Path,
    read_graph: impl FnOnce(
        &mut SectionReader<'_>,
        &EngineConfig,
        usize,
    ) -> Option<std::result::Result<G, String>>
    + Send,
) -> Result<Decoded<G>> {
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
    let mut meta_r: Option<SectionReader<'_>> = None;
    let mut vec_r: Option<(VectorStorage, SectionReader<'_>)> = None;
    let mut model_r: Option<SectionReader<'_>> = None;
    let mut graph_r: Option<SectionReader<'_>> = None;
    let mut expected_offset = table_end;
    for i in 0..n {
        let e = &table[i * ENTRY..(i + 1) * ENTRY];
        let (kind, off, len, crc) = (u32_at(e, 0), u64_at(e, 8), u64_at(e, 16), u32_at(e, 24));
        let name = match kind {
            KIND_META => "meta",
            KIND_VECTORS => "item_vectors",
            KIND_CODES => "item_codes",
            KIND_MODEL => "model",
            KIND_GRAPH => "graph",
            _ => {
                return Err(corrupt(
                    "section table",
                    format!("entry {i} has unknown section kind {kind}"),
                ));
            }
        };
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
        let reader = SectionReader::new(src, off, len, crc);
        let twice = match kind {
            KIND_META => meta_r.replace(reader).is_some(),
            KIND_VECTORS => vec_r.replace((VectorStorage::F32, reader)).is_some(),
            KIND_CODES => vec_r.replace((VectorStorage::Int8, reader)).is_some(),
            KIND_MODEL => model_r.replace(reader).is_some(),
            _ => graph_r.replace(reader).is_some(),
        };
        if twice {
            return Err(corrupt(
                name,
                "section appears twice (or both vector kinds appear)".into(),
            ));
        }
        expected_offset = end;
    }
    if expected_offset != size {
        return Err(corrupt(
            "section table",
            "bytes after the last section".into(),
        ));
    }
    // The small sections are read whole and checked before they are decoded.
    let whole = |r: Option<SectionReader<'_>>, name: &str| -> Result<Option<Vec<u8>>> {
        r.map(|r| r.into_bytes().map_err(|e| corrupt(name, e)))
            .transpose()
    };
    let meta_bytes =
        whole(meta_r, "meta")?.ok_or_else(|| corrupt("meta", "section missing".into()))?;
    let (storage, mut vec_r) =
        vec_r.ok_or_else(|| corrupt("item_vectors", "section missing".into()))?;
    let model_bytes = whole(model_r, "model")?;
    let (meta, used): (Meta<'_>, usize) =
        bincode::serde::borrow_decode_from_slice(&meta_bytes, bincode_config())
            .map_err(|e| corrupt("meta", format!("cannot decode: {e}")))?;
    if used != meta_bytes.len() {
        return Err(corrupt(
            "meta",
            format!("{} trailing bytes", meta_bytes.len() - used),
        ));
    }
    let slots = meta.ids.len();
    let config_for_graph = meta.config.clone();
    let (built, graph) = std::thread::scope(|scope| {
        // The graph reader sizes its arrays from the configuration: only a valid one is
        // used (an invalid one fails in `build` with the precise error).
        let graph = graph_r
            .filter(|_| config_for_graph.validate().is_ok())
            .map(|mut r| {
                scope.spawn(move || {
                    read_graph(&mut r, &config_for_graph, slots).map(|g| match g {
                        Ok(g) => r.finish().map(|()| g),
                        Err(reason) => Err(r.fail(reason)),
                    })
                })
            });
        let built = build(meta, storage, &mut vec_r, &corrupt);
        let graph = graph.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (built, graph.flatten())
    });
    let (config, cat, users) = built?;
    let graph = graph
        .transpose()
        .map_err(|reason| corrupt("graph", reason))?;
    let model = match model_bytes {
        None => None,
        Some(mb) => {
            let (model, used): (Model, usize) =
                bincode::serde::decode_from_slice(&mb, bincode_config())
                    .map_err(|e| corrupt("model", format!("cannot decode: {e}")))?;
            if used != mb.len() {
                return Err(corrupt(
                    "model",
                    format!("{} trailing bytes", mb.len() - used),
                ));
            }
            model
                .check(cat.slots(), cat.dim)
                .map_err(|e| corrupt("model", e))?;
            Some(model)
        }
    };
    Ok(Decoded {
        config,
        cat,
        users,
        model,
        graph,
    })
}

/// The vector section as [`Rows`] plus the inverse norms (cosine only), every vector validated (live
/// ones as upserts would; free slots, which may keep a tombstone's vector, finite).
fn load_vectors(
    storage: VectorStorage,
    dim: usize,
    metric: crate::Metric,
    links: usize,
    r: &mut SectionReader<'_>,
    ids: &[Option<&str>],
) -> std::result::Result<(Rows, Vec<f32>), String> {
    let vectors =
        Rows::read_section(storage, dim, metric, links, ids.len(), r).map_err(|e| r.fail(e))?;
    r.finish()?;
    let cosine = metric == crate::Metric::Cosine;
    let mut inv_norm = vec![0.0f32; if cosine { ids.len() } else { 0 }];
    for (s, id) in ids.iter().enumerate() {
        // One SIMD pass: a finite norm means every component is finite; otherwise the full
        // check finds the offending component (or, for huge finite values whose square
        // overflows, passes).
        let n = vectors.norm(s);
        match id {
            None => {
                if !n.is_finite()
                    && let Some(i) = vectors.row(s).iter().position(|x| !x.is_finite())
                {
                    return Err(format!("free slot {s}: component {i} is not finite"));
                }
            }
            Some(id) => {
                if !(n.is_finite() && n > 0.0) {
                    Catalog::check_vector(dim, metric, "vector", Some(id), &vectors.row(s))
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        if cosine && n.is_finite() && n > 0.0 {
            inv_norm[s] = 1.0 / n;
        }
    }
    Ok((vectors, inv_norm))
}

fn build(
    meta: Meta<'_>,
    storage: VectorStorage,
    vec_r: &mut SectionReader<'_>,
    corrupt: &dyn Fn(&str, String) -> Error,
) -> Result<(EngineConfig, Catalog, Users)> {
    let mut config = meta.config;
    config.vector_storage = storage;
    let section = vector_section(storage).1;
    config
        .validate()
        .map_err(|e| corrupt("meta", format!("invalid configuration: {e}")))?;
    let (dim, metric) = (config.dim, config.metric);
    let slots = meta.ids.len();
    if slots >= u32::MAX as usize {
        return Err(corrupt("meta", format!("{slots} slots exceed the limit")));
    }
    let row_bytes = Rows::section_row_bytes(storage, dim);
    if (slots as u64).checked_mul(row_bytes) != Some(vec_r.remaining()) {
        return Err(corrupt(
            section,
            format!(
                "{} bytes, expected {slots} slots x {row_bytes} bytes",
                vec_r.remaining()
            ),
        ));
    }
    if meta.tags.len() != slots {
        return Err(corrupt(
            "meta",
            format!("{} tag lists for {slots} slots", meta.tags.len()),
        ));
    }
    if meta.attrs.len() != meta.attr_names.len() || meta.attrs.iter().any(|c| c.len() != slots) {
        return Err(corrupt(
            "meta",
            "attribute columns do not match the attribute names and slots".into(),
        ));
    }
    let links = crate::index::links_per_row(&config);
    let mut cat = Catalog::new(dim, metric, storage, links);
    let ids = &meta.ids;
    // Vectors (copy, validation, norms) on a second thread while ids and tags are indexed.
    let (vectors, ids_done) = std::thread::scope(|scope| {
        let vectors = scope.spawn(|| load_vectors(storage, dim, metric, links, vec_r, ids));
        let ids_done = (|| -> Result<()> {
            cat.tag_names.names = meta.tag_names;
            cat.tag_names
                .rebuild_map()
                .map_err(|e| corrupt("meta", format!("tag names: {e}")))?;
            cat.attr_names.names = meta.attr_names;
            cat.attr_names
                .rebuild_map()
                .map_err(|e| corrupt("meta", format!("attribute names: {e}")))?;
            let n_tags = cat.tag_names.names.len() as u32;
            cat.ids
                .reserve(slots, ids.iter().map(|id| id.map_or(0, str::len)).sum());
            for (s, (id, tags)) in ids.iter().zip(&meta.tags).enumerate() {
                cat.ids.push_free();
                match id {
                    None => {
                        if !tags.is_empty() {
                            return Err(corrupt("meta", format!("free slot {s} carries tags")));
                        }
                        cat.free.push(s as u32);
                    }
                    Some(id) => {
                        if id.is_empty() || id.len() > crate::engine::MAX_ID_BYTES {
                            return Err(corrupt(
                                "meta",
                                format!("slot {s}: invalid id of {} bytes", id.len()),
                            ));
                        }
                        if tags.windows(2).any(|w| w[0] >= w[1])
                            || tags.iter().any(|&t| t >= n_tags)
                        {
                            return Err(corrupt(
                                "meta",
                                format!("item {id:?}: tag list unsorted or out of range"),
                            ));
                        }
                        if !cat.ids.insert(s as u32, id) {
                            return Err(corrupt("meta", format!("item id {id:?} appears twice")));
                        }
                    }
                }
            }
            Ok(())
        })();
        let vectors = vectors
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (vectors, ids_done)
    });
    ids_done?;
    (cat.vectors, cat.inv_norm) = vectors.map_err(|reason| corrupt(section, reason))?;
    cat.free.reverse();
    cat.tags = TagLists::from_lists(&meta.tags).ok_or_else(|| {
        corrupt(
            "meta",
            format!("tag lists exceed {MAX_TAG_ENTRIES} entries"),
        )
    })?;
    drop(meta.tags);
    for (c, col) in meta.attrs.iter().enumerate() {
        if let Some(s) = col.iter().position(|x| x.is_infinite()) {
            return Err(corrupt(
                "meta",
                format!(
                    "attribute {:?} of slot {s} is infinite",
                    cat.attr_names.names[c]
                ),
            ));
        }
    }
    cat.attrs = meta.attrs;
    if meta.histories.len() != meta.users.len() {
        return Err(corrupt(
            "meta",
            format!(
                "{} histories for {} users",
                meta.histories.len(),
                meta.users.len()
            ),
        ));
    }
    let mut users = Users::default();
    for (u, (uid, hist)) in meta.users.into_iter().zip(meta.histories).enumerate() {
        if uid.is_empty() || uid.len() > crate::engine::MAX_ID_BYTES {
            return Err(corrupt(
                "meta",
                format!("user {u}: invalid id of {} bytes", uid.len()),
            ));
        }
        for it in &hist {
            if !(cat.is_live(it.slot) && it.weight.is_finite() && it.weight > 0.0) {
                return Err(corrupt(
                    "meta",
                    format!(
                        "user {uid:?}: interaction with slot {} weight {} is invalid",
                        it.slot, it.weight
                    ),
                ));
            }
        }
        if users.ensure_user(&uid) as usize != u {
            return Err(corrupt("meta", format!("user id {uid:?} appears twice")));
        }
        for it in hist {
            users.add(&uid, it);
        }
    }
    Ok((config, cat, users))
}

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
