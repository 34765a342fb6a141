//! Item vectors in one contiguous, 64-byte aligned block, each row led by a header that the
//! graph index fills with the row's level-0 links.
//!
//! A row is `head` link entries (u32; none unless the engine's index is the native graph),
//! then the vector: hnswlib's layout, so that when a search expands a node whose vector it
//! scored, the links sit in the lines next to it, and one block serves the catalog, the exact
//! path, training and the graph without a second copy of the vectors. Vectors are padded to a
//! whole number of cache lines when that costs at most 1/8 of the row (so a 128-float vector
//! occupies exactly 8 lines), otherwise to 16 bytes; the header is a multiple of 16 bytes. On
//! Linux the block is marked for transparent huge pages, which cuts TLB misses when a graph
//! walk touches rows all over a large catalog.

mod block;
mod codes;
mod half;

pub(crate) use block::RowBlock;
pub(crate) use codes::CodeStore;
pub(crate) use half::HalfStore;

use crate::{Error, Result};
use serde::{Deserialize, Serialize};

/// How the catalog keeps item vectors in memory (and in the saved file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum VectorStorage {
    /// Raw f32 vectors, as given (4 bytes per dimension).
    #[default]
    F32,
    /// Int8 codes with one scale per vector (1 byte per dimension + 8 per item): each vector
    /// is stored as `scale · codes` with `scale = max |v_i| / 127`, so a component is off by
    /// at most `scale / 2`. The stored (decoded) vector is what every score, recommendation,
    /// training run and [`Engine::item_vector`](crate::Engine::item_vector) uses, and scores
    /// are exact for it. docs/benchmarks.md has the recall and memory measured with it.
    Int8,
    /// IEEE half-precision values (2 bytes per dimension): each component rounded to the
    /// nearest f16, about three significant digits. Components must lie within ±65504 (the
    /// f16 range; larger ones are refused, never stored as infinities). Scores are computed
    /// in f32 on the stored (rounded) vector, which is what every recommendation, training
    /// run and [`Engine::item_vector`](crate::Engine::item_vector) uses.
    F16,
}

impl VectorStorage {
    /// Parses `"f32"` (also `"float32"`), `"f16"` (also `"float16"`, `"half"`) or `"int8"`
    /// (also `"i8"`).
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(VectorStorage::F32),
            "f16" | "float16" | "half" => Ok(VectorStorage::F16),
            "int8" | "i8" => Ok(VectorStorage::Int8),
            _ => Err(Error::invalid(
                "vector_storage",
                "one of \"f32\", \"f16\", \"int8\"",
                format!("{name:?}"),
            )),
        }
    }
    /// The canonical lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            VectorStorage::F32 => "f32",
            VectorStorage::Int8 => "int8",
            VectorStorage::F16 => "f16",
        }
    }

    /// The code a ROWS section records for this storage.
    fn code(self) -> u32 {
        match self {
            VectorStorage::F32 => 0,
            VectorStorage::Int8 => 1,
            VectorStorage::F16 => 2,
        }
    }

    /// Checks that `v` (already finite and of the right length) can be stored without
    /// turning into something else: under f16, every component within ±65504 and, under
    /// cosine, not every component rounding to zero. `field` names the vector in the error.
    pub(crate) fn check_vector(self, metric: crate::Metric, field: &str, v: &[f32]) -> Result<()> {
        use crate::distance::half::{F16_MAX, F16_MIN_NONZERO};
        if self != VectorStorage::F16 {
            return Ok(());
        }
        if let Some(i) = v.iter().position(|x| x.abs() > F16_MAX) {
            return Err(Error::invalid(
                format!("{field}[{i}]"),
                "a value within ±65504 (the range of vector_storage \"f16\")",
                v[i],
            ));
        }
        if metric == crate::Metric::Cosine && v.iter().all(|x| x.abs() < F16_MIN_NONZERO) {
            return Err(Error::invalid(
                field,
                "a vector with a component of magnitude at least 3e-8 (smaller ones round to \
                 zero under vector_storage \"f16\", and cosine is undefined for the zero vector)",
                "a vector that rounds to zero",
            ));
        }
        Ok(())
    }
}

/// Magic of a ROWS section.
const IMAGE_MAGIC: &[u8; 4] = b"ROWS";
/// Bytes of a ROWS section before the block (one page, so that the block of a page-aligned
/// section is page-aligned in the file).
const IMAGE_PREFIX: usize = 4096;

/// Row-major vectors of `dim` floats (padded with zeros), each after its row's header.
pub(crate) struct VectorStore {
    dim: usize,
    block: RowBlock,
}

impl std::fmt::Debug for VectorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorStore")
            .field("dim", &self.dim)
            .field("stride", &self.block.stride())
            .field("rows", &self.block.rows())
            .finish()
    }
}

/// Floats between row starts for vectors of `dim` components.
fn stride_for(dim: usize) -> usize {
    let lines = dim.div_ceil(16) * 16;
    if (lines - dim) * 8 <= dim {
        lines
    } else {
        dim.div_ceil(4) * 4
    }
}

impl VectorStore {
    /// An empty store whose rows have `links` header entries.
    pub(crate) fn new(dim: usize, links: usize) -> Self {
        VectorStore {
            dim,
            block: RowBlock::new(links, stride_for(dim) * 4),
        }
    }

    /// Number of rows.
    pub(crate) fn rows(&self) -> usize {
        self.block.rows()
    }

    /// Row `r` (`dim` floats).
    #[inline(always)]
    pub(crate) fn row(&self, r: usize) -> &[f32] {
        self.block.body(r, self.dim)
    }

    /// Row `r`, mutable.
    pub(crate) fn row_mut(&mut self, r: usize) -> &mut [f32] {
        self.block.body_mut(r, self.dim)
    }

    /// Appends a zero row.
    pub(crate) fn push_zero(&mut self) {
        self.block.push_zero();
    }

    /// Every row, concatenated without padding (`rows * dim` floats).
    pub(crate) fn to_dense(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.rows() * self.dim);
        for r in 0..self.rows() {
            out.extend_from_slice(self.row(r));
        }
        out
    }

    /// Builds a store from `rows * dim` dense floats.
    #[cfg(test)]
    pub(crate) fn from_dense(dim: usize, links: usize, dense: &[f32]) -> Self {
        let bytes: Vec<u8> = dense.iter().flat_map(|x| x.to_le_bytes()).collect();
        let bytes: &[u8] = &bytes;
        let mut r = crate::codec::SectionReader::over(&bytes);
        Self::read_rows(dim, links, dense.len() / dim, &mut r).expect("whole rows")
    }

    /// Reads `rows * dim` little-endian f32s (the file's vector section) straight into a
    /// fresh block (rows with `links` empty header entries), one row at a time from the
    /// reader's chunks.
    pub(crate) fn read_rows(
        dim: usize,
        links: usize,
        rows: usize,
        r: &mut crate::codec::SectionReader<'_>,
    ) -> std::result::Result<Self, String> {
        let block = RowBlock::filled(links, stride_for(dim) * 4, rows, |_, body| {
            let src = r.take(dim * 4)?;
            #[cfg(target_endian = "little")]
            body[..dim * 4].copy_from_slice(src);
            #[cfg(not(target_endian = "little"))]
            for (d, b) in body.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
                d.copy_from_slice(&f32::from_le_bytes([b[0], b[1], b[2], b[3]]).to_ne_bytes());
            }
            Ok(())
        })?;
        Ok(VectorStore { dim, block })
    }
}

/// The catalog's vectors, in the storage chosen by [`VectorStorage`], each row led by its
/// header of link entries.
pub(crate) enum Rows {
    /// Raw f32 vectors.
    F32(VectorStore),
    /// Int8 codes and a scale per vector.
    Int8(CodeStore),
    /// Half-precision values.
    F16(HalfStore),
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rows::F32(v) => v.fmt(f),
            Rows::Int8(c) => f
                .debug_struct("CodeStore")
                .field("dim", &c.dim)
                .field("rows", &c.block.rows())
                .finish(),
            Rows::F16(h) => f
                .debug_struct("HalfStore")
                .field("dim", &h.dim)
                .field("rows", &h.block.rows())
                .finish(),
        }
    }
}

impl Rows {
    /// Empty rows of `dim` components with `links` header entries each; `metric` decides
    /// what int8 storage keeps per row.
    pub(crate) fn new(
        dim: usize,
        storage: VectorStorage,
        metric: crate::Metric,
        links: usize,
    ) -> Self {
        match storage {
            VectorStorage::F32 => Rows::F32(VectorStore::new(dim, links)),
            VectorStorage::Int8 => Rows::Int8(CodeStore::new(dim, metric, links)),
            VectorStorage::F16 => Rows::F16(HalfStore::new(dim, links)),
        }
    }

    /// The block holding the rows (headers and bodies).
    #[inline(always)]
    pub(crate) fn block(&self) -> &RowBlock {
        match self {
            Rows::F32(v) => &v.block,
            Rows::Int8(c) => &c.block,
            Rows::F16(h) => &h.block,
        }
    }

    /// Drops the link entries of every row header (the rows then hold bare vectors).
    pub(crate) fn drop_links(&mut self) {
        let block = match self {
            Rows::F32(v) => &mut v.block,
            Rows::Int8(c) => &mut c.block,
            Rows::F16(h) => &mut h.block,
        };
        *block = block.without_head();
    }

    /// Row `r` as stored (decoded for int8 storage).
    #[inline]
    pub(crate) fn row(&self, r: usize) -> std::borrow::Cow<'_, [f32]> {
        match self {
            Rows::F32(v) => std::borrow::Cow::Borrowed(v.row(r)),
            Rows::Int8(c) => std::borrow::Cow::Owned(c.decode(r)),
            Rows::F16(h) => std::borrow::Cow::Owned(h.decode(r)),
        }
    }

    /// Euclidean norm of row `r` as stored.
    pub(crate) fn norm(&self, r: usize) -> f32 {
        match self {
            Rows::F32(v) => crate::distance::norm(v.row(r)),
            Rows::Int8(c) => c.norm(r),
            Rows::F16(h) => h.norm(r),
        }
    }

    /// Stores `v` (validated: right length, finite) in row `r`.
    pub(crate) fn set_row(&mut self, r: usize, v: &[f32]) {
        match self {
            Rows::F32(s) => s.row_mut(r).copy_from_slice(v),
            Rows::Int8(c) => c.set(r, v),
            Rows::F16(h) => h.set(r, v),
        }
    }

    /// Zeroes row `r`'s vector (its header is the index's).
    pub(crate) fn zero_row(&mut self, r: usize) {
        match self {
            Rows::F32(s) => s.row_mut(r).fill(0.0),
            Rows::Int8(c) => c.zero(r),
            Rows::F16(h) => h.zero(r),
        }
    }

    /// Appends a zero row with an empty header.
    pub(crate) fn push_zero(&mut self) {
        match self {
            Rows::F32(v) => v.push_zero(),
            Rows::Int8(c) => c.push_zero(),
            Rows::F16(h) => h.block.push_zero(),
        }
    }

    /// Makes room for `additional` more rows.
    pub(crate) fn reserve(&mut self, additional: usize) {
        match self {
            Rows::F32(v) => v.block.reserve(additional),
            Rows::Int8(c) => c.reserve(additional),
            Rows::F16(h) => h.block.reserve(additional),
        }
    }

    /// Bytes held, headers excluded (they are the index's: [`Rows::link_bytes`]).
    pub(crate) fn bytes(&self) -> usize {
        let total = match self {
            Rows::F32(v) => v.block.bytes(),
            Rows::Int8(c) => c.bytes(),
            Rows::F16(h) => h.block.bytes(),
        };
        total - self.link_bytes()
    }

    /// Bytes the row headers hold.
    pub(crate) fn link_bytes(&self) -> usize {
        self.block().head_bytes()
    }

    /// Hints the CPU to load row `r`'s vector into `to` (a no-op past the end).
    #[inline(always)]
    pub(crate) fn prefetch(&self, r: usize, to: crate::util::prefetch::CacheLevel) {
        if let Some(p) = self.block().row_ptr(r) {
            crate::util::prefetch::prefetch_to(p, self.row_bytes().div_ceil(64), to);
        }
    }

    /// Bytes of one stored row (what [`Rows::prefetch`] requests).
    #[inline(always)]
    pub(crate) fn row_bytes(&self) -> usize {
        match self {
            Rows::F32(v) => v.dim * 4,
            Rows::Int8(c) => c.dim,
            Rows::F16(h) => h.dim * 2,
        }
    }

    /// Every row as stored, concatenated without padding (`rows * dim` floats).
    pub(crate) fn to_dense(&self) -> Vec<f32> {
        match self {
            Rows::F32(v) => v.to_dense(),
            Rows::Int8(c) => (0..c.block.rows()).flat_map(|r| c.decode(r)).collect(),
            Rows::F16(h) => (0..h.block.rows()).flat_map(|r| h.decode(r)).collect(),
        }
    }

    /// Whether the rows are a view of a mapped file.
    pub(crate) fn is_mapped(&self) -> bool {
        self.block().is_mapped()
    }

    /// Rows viewed in a mapped file: hints the kernel that they are read at random (a fault
    /// reads its own pages, not a window around them). No-op for rows in memory.
    pub(crate) fn advise_random(&self) {
        self.block().advise_random();
    }

    /// Writes the ROWS section: a page holding the shape (see `docs/format.md`), the block
    /// exactly as it is in memory (headers with the graph's level-0 links, then the vector
    /// or codes, row after row), then under int8 storage the scales and squared norms.
    /// A reader on a little-endian host can map the block without parsing it.
    pub(crate) fn write_image(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let b = self.block();
        let (storage, dim) = match self {
            Rows::F32(v) => (VectorStorage::F32, v.dim),
            Rows::Int8(c) => (VectorStorage::Int8, c.dim),
            Rows::F16(h) => (VectorStorage::F16, h.dim),
        };
        let mut head = Vec::with_capacity(IMAGE_PREFIX);
        head.extend_from_slice(IMAGE_MAGIC);
        head.extend_from_slice(&storage.code().to_le_bytes());
        for x in [dim, b.rows(), b.head(), b.body_bytes(), b.stride()] {
            head.extend_from_slice(&(x as u64).to_le_bytes());
        }
        head.resize(IMAGE_PREFIX, 0);
        w.write_all(&head)?;
        b.write_image(w)?;
        if let Rows::Int8(c) = self {
            c.write_tail(w)?;
        }
        Ok(())
    }

    /// The storage a ROWS section holds (its first bytes, left in place).
    pub(crate) fn image_storage(
        r: &mut crate::codec::SectionReader<'_>,
    ) -> std::result::Result<VectorStorage, String> {
        let p = r.peek(8)?;
        match (
            &p[..4] == IMAGE_MAGIC,
            u32::from_le_bytes(p[4..8].try_into().expect("4")),
        ) {
            (true, 0) => Ok(VectorStorage::F32),
            (true, 1) => Ok(VectorStorage::Int8),
            (true, 2) => Ok(VectorStorage::F16),
            (true, x) => Err(format!("unknown vector storage {x}")),
            (false, _) => Err("bad row section magic".into()),
        }
    }

    /// The link entries per row a ROWS section's prefix records (the reader stays put).
    pub(crate) fn image_links(
        r: &mut crate::codec::SectionReader<'_>,
    ) -> std::result::Result<usize, String> {
        let p = r.peek(32)?;
        Ok(u64::from_le_bytes(p[24..32].try_into().expect("8 bytes")) as usize)
    }

    /// Reads a ROWS section of `rows` rows for this shape. With a mapped source (on a
    /// little-endian host), the block is a view of the mapped pages: nothing is copied and
    /// the rows are not checked one by one (links are bounds-checked where they are
    /// followed, and the section's checksum is verified on demand); otherwise it is read
    /// into memory.
    pub(crate) fn read_image(
        (dim, storage, metric, links): (usize, VectorStorage, crate::Metric, usize),
        rows: usize,
        r: &mut crate::codec::SectionReader<'_>,
    ) -> std::result::Result<Self, String> {
        let shape = Rows::new(dim, storage, metric, links);
        let want = shape.block();
        let p = r.take(IMAGE_PREFIX)?;
        let u64_at = |o: usize| u64::from_le_bytes(p[o..o + 8].try_into().expect("8 bytes"));
        let got = (
            &p[..4],
            u32::from_le_bytes(p[4..8].try_into().expect("4 bytes")),
            [u64_at(8), u64_at(16), u64_at(24), u64_at(32), u64_at(40)],
        );
        let code = storage.code();
        let expected = [dim, rows, want.head(), want.body_bytes(), want.stride()].map(|x| x as u64);
        if got != (&IMAGE_MAGIC[..], code, expected) {
            return Err(format!(
                "row shape {:?} (dim, rows, links, body, stride; storage {}), expected {:?} \
                 (storage {code})",
                got.2, got.1, expected
            ));
        }
        let dims = (want.head(), want.body_bytes(), rows);
        let image = want.lines_for(rows) * 64;
        let block = match r.view_bytes(image)? {
            Some((map, at)) if cfg!(target_endian = "little") => RowBlock::view(&map, at, dims)
                .ok_or_else(|| "row block misaligned in the mapped file".to_string())?,
            _ => RowBlock::read_image(dims, r)?,
        };
        Ok(match storage {
            VectorStorage::F32 => Rows::F32(VectorStore { dim, block }),
            VectorStorage::Int8 => Rows::Int8(CodeStore::with_tail(dim, metric, block, r)?),
            VectorStorage::F16 => Rows::F16(HalfStore { dim, block }),
        })
    }

    /// Bytes one row of `dim` components takes in the file section of this storage.
    pub(crate) fn section_row_bytes(storage: VectorStorage, dim: usize) -> u64 {
        match storage {
            VectorStorage::F32 => dim as u64 * 4,
            VectorStorage::Int8 => dim as u64 + 4,
            VectorStorage::F16 => dim as u64 * 2,
        }
    }

    /// Reads a section written by [`Rows::write_section`] into rows with `links` empty
    /// header entries.
    pub(crate) fn read_section(
        storage: VectorStorage,
        dim: usize,
        metric: crate::Metric,
        links: usize,
        rows: usize,
        r: &mut crate::codec::SectionReader<'_>,
    ) -> std::result::Result<Self, String> {
        Ok(match storage {
            VectorStorage::F32 => Rows::F32(VectorStore::read_rows(dim, links, rows, r)?),
            VectorStorage::Int8 => Rows::Int8(CodeStore::read_rows(dim, metric, links, rows, r)?),
            VectorStorage::F16 => Rows::F16(HalfStore::read_rows(dim, links, rows, r)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_aligned_and_round_trip() {
        for links in [0, 10, 32] {
            for dim in [1, 3, 8, 16, 24, 100, 128, 129] {
                let dense: Vec<f32> = (0..dim * 5).map(|i| i as f32).collect();
                let v = VectorStore::from_dense(dim, links, &dense);
                assert_eq!(v.rows(), 5);
                assert_eq!(v.to_dense(), dense, "dim {dim}, {links} links");
                let b = &v.block;
                let (head, stride) = (b.head(), b.stride());
                assert_eq!(head % 4, 0);
                assert!(head >= links && head < links + 4);
                if stride.is_multiple_of(64) && (head * 4).is_multiple_of(64) {
                    assert_eq!(v.row(3).as_ptr() as usize % 64, 0, "dim {dim}");
                }
                let floats = b.body_bytes() / 4;
                assert!(
                    floats >= dim && (floats - dim) * 8 <= dim.max(24),
                    "dim {dim}"
                );
            }
        }
        let mut v = VectorStore::new(128, 0);
        for _ in 0..3 {
            v.push_zero();
        }
        v.row_mut(2)[5] = 1.5;
        assert_eq!(v.row(2)[5], 1.5);
        assert!(v.row(1).iter().all(|&x| x == 0.0));
        assert_eq!(stride_for(128), 128);
        assert_eq!(stride_for(100), 112);
        assert_eq!(stride_for(24), 24);
    }

    /// A row's header (the index's links) and its vector never overlap, nor touch the
    /// neighbouring rows: writing one leaves every other value as it was, for f32 and int8
    /// rows, grown one row at a time.
    #[test]
    fn headers_and_vectors_are_disjoint() {
        use std::sync::atomic::Ordering;
        for storage in [VectorStorage::F32, VectorStorage::Int8, VectorStorage::F16] {
            for (dim, links) in [(5, 10), (64, 32), (128, 32), (3, 1)] {
                let mut rows = Rows::new(dim, storage, crate::Metric::Dot, links);
                let n = 7;
                for _ in 0..n {
                    rows.push_zero();
                }
                let head = rows.block().head();
                for r in 0..n {
                    let v: Vec<f32> = (0..dim).map(|i| (r * 100 + i) as f32 + 1.0).collect();
                    rows.set_row(r, &v);
                }
                for r in 0..n {
                    for (j, x) in rows.block().links(r).iter().enumerate() {
                        assert_eq!(x.load(Ordering::Relaxed), 0, "fresh header {r}[{j}]");
                        x.store((r * 1000 + j) as u32 + 1, Ordering::Relaxed);
                    }
                }
                for r in 0..n {
                    let want: Vec<f32> = (0..dim).map(|i| (r * 100 + i) as f32 + 1.0).collect();
                    let got = rows.row(r);
                    for (g, w) in got.iter().zip(&want) {
                        // Int8 rows hold the vector to within one step (max / 127).
                        assert!((g - w).abs() <= w.abs().max(*want.last().unwrap()) / 127.0);
                    }
                    let l = rows.block().links(r);
                    assert_eq!(l.len(), head);
                    for (j, x) in l.iter().enumerate() {
                        assert_eq!(x.load(Ordering::Relaxed), (r * 1000 + j) as u32 + 1);
                    }
                }
                rows.zero_row(3);
                assert!(rows.row(3).iter().all(|&x| x == 0.0));
                assert_eq!(rows.block().links(3)[0].load(Ordering::Relaxed), 3001);
                assert_eq!(
                    rows.link_bytes(),
                    rows.block().bytes() / rows.block().stride() * head * 4
                );
            }
        }
    }
}
