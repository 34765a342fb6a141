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

mod codes;

pub(crate) use codes::CodeStore;

use crate::util::mapped::{Buf, Mapping, Plain};
use crate::util::memory::grow_advised;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicU32;

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
}

impl VectorStorage {
    /// Parses `"f32"` (also `"float32"`) or `"int8"` (also `"i8"`).
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(VectorStorage::F32),
            "int8" | "i8" => Ok(VectorStorage::Int8),
            _ => Err(Error::invalid(
                "vector_storage",
                "\"f32\" or \"int8\"",
                format!("{name:?}"),
            )),
        }
    }
    /// The canonical lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            VectorStorage::F32 => "f32",
            VectorStorage::Int8 => "int8",
        }
    }
}

/// Magic of a ROWS section.
const IMAGE_MAGIC: &[u8; 4] = b"ROWS";
/// Bytes of a ROWS section before the block (one page, so that the block of a page-aligned
/// section is page-aligned in the file).
const IMAGE_PREFIX: usize = 4096;

/// One cache line, the allocation unit (which gives the block its alignment). Atomics, so
/// that a row's header can be rewritten through a shared reference (many threads link nodes
/// at once) while other rows' vectors are read; vector bytes are only written through
/// `&mut`.
#[derive(Default)]
#[repr(C, align(64))]
struct Line([AtomicU32; 16]);

// SAFETY: sixteen `u32`s; any bit pattern is a value.
unsafe impl Plain for Line {}

impl Line {
    fn copy(&self) -> Self {
        Line(std::array::from_fn(|i| {
            AtomicU32::new(self.0[i].load(std::sync::atomic::Ordering::Relaxed))
        }))
    }
}

/// Plain element types a row body holds.
///
/// # Safety
/// Every bit pattern must be a valid value, and the alignment at most 16 bytes.
pub(crate) unsafe trait Elem: Copy {}
// SAFETY: plain numbers, 4- and 1-byte aligned.
unsafe impl Elem for f32 {}
unsafe impl Elem for i8 {}

/// Rows of `head` link entries followed by `body` bytes, `stride` bytes apart, in one
/// 64-byte aligned block.
pub(crate) struct RowBlock {
    head: usize,
    body: usize,
    stride: usize,
    rows: usize,
    /// Owned, or a view of a read-only engine's mapped file (copied before any `&mut`
    /// access; headers are only written through shared references while linking, which a
    /// read-only engine never does).
    lines: Buf<Line>,
}

impl RowBlock {
    /// An empty block of rows with `head` link entries (rounded up to a multiple of 4, so
    /// the body keeps 16-byte alignment) and `body` bytes (a multiple of 16).
    fn new(head: usize, body: usize) -> Self {
        debug_assert!(body.is_multiple_of(16));
        let head = head.div_ceil(4) * 4;
        RowBlock {
            head,
            body,
            stride: head * 4 + body,
            rows: 0,
            lines: Buf::default(),
        }
    }

    fn lines_for(&self, rows: usize) -> usize {
        (rows * self.stride).div_ceil(64)
    }

    /// Address of row `r`'s body. Callers check `r < rows`.
    #[inline(always)]
    fn body_ptr(&self, r: usize) -> *const u8 {
        self.lines
            .as_ptr()
            .cast::<u8>()
            .wrapping_add(r * self.stride + self.head * 4)
    }

    /// The first `n` elements of row `r`'s body.
    #[inline(always)]
    fn body<T: Elem>(&self, r: usize, n: usize) -> &[T] {
        assert!(r < self.rows && n * size_of::<T>() <= self.body, "row {r}");
        // SAFETY: the body lies inside the block (`r < rows`), is aligned for `T` (rows
        // and heads are multiples of 16 bytes) and initialised; any bit pattern is a `T`.
        // Body bytes are only written through `&mut self` (the atomics' cells are only
        // written through shared references in headers, which this slice does not cover).
        unsafe { std::slice::from_raw_parts(self.body_ptr(r).cast::<T>(), n) }
    }

    /// The first `n` elements of row `r`'s body, mutable.
    #[inline(always)]
    fn body_mut<T: Elem>(&mut self, r: usize, n: usize) -> &mut [T] {
        assert!(r < self.rows && n * size_of::<T>() <= self.body, "row {r}");
        let at = r * self.stride + self.head * 4;
        // SAFETY: as in `body`, with `&mut self` excluding every other access.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.lines_mut().as_mut_ptr().cast::<u8>().add(at).cast(),
                n,
            )
        }
    }

    /// Row `r`'s header: its link entries (empty when the block has no header).
    #[inline(always)]
    pub(crate) fn links(&self, r: usize) -> &[AtomicU32] {
        assert!(r < self.rows, "row {r}");
        // SAFETY: the header of a row inside the block, 4-byte aligned atomics.
        unsafe {
            std::slice::from_raw_parts(
                self.lines
                    .as_ptr()
                    .cast::<AtomicU32>()
                    .wrapping_add(r * self.stride / 4),
                self.head,
            )
        }
    }

    /// Link entries per row.
    pub(crate) fn head(&self) -> usize {
        self.head
    }

    /// Address of row `r`'s body (for prefetching; `None` past the end).
    #[inline(always)]
    fn row_ptr(&self, r: usize) -> Option<*const u8> {
        (r < self.rows).then(|| self.body_ptr(r))
    }

    /// The owned lines (a mapped block is copied first).
    fn lines_mut(&mut self) -> &mut Vec<Line> {
        self.lines.make_mut_with(Line::copy)
    }

    /// Appends a zero row.
    fn push_zero(&mut self) {
        self.rows += 1;
        let need = self.lines_for(self.rows);
        if need > self.lines.len() {
            let lines = self.lines_mut();
            grow_advised(lines, need);
            lines.resize_with(need, Line::default);
        }
    }

    /// Makes room for `additional` more rows (one reallocation for a whole batch).
    fn reserve(&mut self, additional: usize) {
        let need = self.lines_for(self.rows + additional);
        grow_advised(self.lines_mut(), need);
    }

    /// Bytes held (capacity of the block; the block's size when it is a view of a mapped
    /// file).
    fn bytes(&self) -> usize {
        match &self.lines {
            Buf::Owned(v) => v.capacity() * 64,
            Buf::Mapped { len, .. } => len * 64,
        }
    }

    /// Whether the block is a view of a mapped file.
    fn is_mapped(&self) -> bool {
        self.lines.is_mapped()
    }

    /// Writes the block's image: the lines as they are in memory (little-endian hosts), the
    /// headers read with atomic loads.
    fn write_image(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let lines = &self.lines[..self.lines_for(self.rows)];
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        for chunk in lines.chunks((1 << 20) / 64) {
            buf.clear();
            for line in chunk {
                for x in &line.0 {
                    buf.extend_from_slice(
                        &x.load(std::sync::atomic::Ordering::Relaxed).to_le_bytes(),
                    );
                }
            }
            w.write_all(&buf)?;
        }
        Ok(())
    }

    /// A block of `rows` rows of the given shape viewed in `map` at `offset` (the image
    /// [`RowBlock::write_image`] wrote); `None` when it does not fit the mapping or is not
    /// 64-byte aligned there.
    fn view(
        map: &std::sync::Arc<Mapping>,
        offset: usize,
        (head, body, rows): (usize, usize, usize),
    ) -> Option<Self> {
        let mut b = RowBlock::new(head, body);
        let lines = Buf::view(map, offset, b.lines_for(rows))?;
        b.lines = lines;
        b.rows = rows;
        Some(b)
    }

    /// Reads an image written by [`RowBlock::write_image`] into an owned block.
    fn read_image(
        (head, body, rows): (usize, usize, usize),
        r: &mut crate::codec::SectionReader<'_>,
    ) -> std::result::Result<Self, String> {
        let mut b = RowBlock::new(head, body);
        let total = b.lines_for(rows);
        let mut lines: Vec<Line> = Vec::new();
        grow_advised(&mut lines, total);
        while lines.len() < total {
            let n = (total - lines.len()).min((1 << 20) / 64);
            let raw = r.take(n * 64)?;
            lines.extend(raw.chunks_exact(64).map(|l| {
                Line(std::array::from_fn(|i| {
                    AtomicU32::new(u32::from_le_bytes(
                        l[i * 4..i * 4 + 4].try_into().expect("4 bytes"),
                    ))
                }))
            }));
        }
        b.lines = Buf::Owned(lines);
        b.rows = rows;
        Ok(b)
    }

    /// The part of [`RowBlock::bytes`] that row headers take.
    fn head_bytes(&self) -> usize {
        // Rows of no bytes (no vector, no links: an engine without content vectors).
        if self.stride == 0 {
            return 0;
        }
        self.bytes() / self.stride * self.head * 4
    }

    /// A block of `rows` rows with empty headers, whose bodies `fill(i, body)` writes (each
    /// body zeroed first, just before, while its lines are in cache: no separate pass over
    /// the whole block). Stops at the first error.
    fn filled(
        head: usize,
        body: usize,
        rows: usize,
        mut fill: impl FnMut(usize, &mut [u8]) -> std::result::Result<(), String>,
    ) -> std::result::Result<Self, String> {
        let mut b = RowBlock::new(head, body);
        let total = b.lines_for(rows);
        let mut lines: Vec<Line> = Vec::new();
        grow_advised(&mut lines, total);
        let base = lines.as_mut_ptr().cast::<u8>();
        for i in 0..rows {
            // SAFETY: row `i` spans bytes `i * stride .. (i + 1) * stride`, inside the
            // `total * 64` reserved. Rows are only counted (`b.rows`) and the lines only
            // made visible (`set_len`) once every byte is written, so an early return
            // leaves no uninitialised memory in view.
            unsafe {
                let row = base.add(i * b.stride);
                std::ptr::write_bytes(row, 0, b.stride);
                fill(
                    i,
                    std::slice::from_raw_parts_mut(row.add(b.head * 4), b.body),
                )?;
            }
        }
        // SAFETY: the tail after the last row is inside the reservation; after it every
        // line is initialised (zero is a valid `AtomicU32`).
        unsafe {
            std::ptr::write_bytes(base.add(rows * b.stride), 0, total * 64 - rows * b.stride);
            lines.set_len(total);
        }
        b.lines = Buf::Owned(lines);
        b.rows = rows;
        Ok(b)
    }
}

/// Row-major vectors of `dim` floats (padded with zeros), each after its row's header.
pub(crate) struct VectorStore {
    dim: usize,
    block: RowBlock,
}

impl std::fmt::Debug for VectorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorStore")
            .field("dim", &self.dim)
            .field("stride", &self.block.stride)
            .field("rows", &self.block.rows)
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
        self.block.rows
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
}

impl std::fmt::Debug for Rows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rows::F32(v) => v.fmt(f),
            Rows::Int8(c) => f
                .debug_struct("CodeStore")
                .field("dim", &c.dim)
                .field("rows", &c.block.rows)
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
        }
    }

    /// The block holding the rows (headers and bodies).
    #[inline(always)]
    pub(crate) fn block(&self) -> &RowBlock {
        match self {
            Rows::F32(v) => &v.block,
            Rows::Int8(c) => &c.block,
        }
    }

    /// Row `r` as stored (decoded for int8 storage).
    #[inline]
    pub(crate) fn row(&self, r: usize) -> std::borrow::Cow<'_, [f32]> {
        match self {
            Rows::F32(v) => std::borrow::Cow::Borrowed(v.row(r)),
            Rows::Int8(c) => std::borrow::Cow::Owned(c.decode(r)),
        }
    }

    /// Euclidean norm of row `r` as stored.
    pub(crate) fn norm(&self, r: usize) -> f32 {
        match self {
            Rows::F32(v) => crate::distance::norm(v.row(r)),
            Rows::Int8(c) => c.norm(r),
        }
    }

    /// Stores `v` (validated: right length, finite) in row `r`.
    pub(crate) fn set_row(&mut self, r: usize, v: &[f32]) {
        match self {
            Rows::F32(s) => s.row_mut(r).copy_from_slice(v),
            Rows::Int8(c) => c.set(r, v),
        }
    }

    /// Zeroes row `r`'s vector (its header is the index's).
    pub(crate) fn zero_row(&mut self, r: usize) {
        match self {
            Rows::F32(s) => s.row_mut(r).fill(0.0),
            Rows::Int8(c) => c.zero(r),
        }
    }

    /// Appends a zero row with an empty header.
    pub(crate) fn push_zero(&mut self) {
        match self {
            Rows::F32(v) => v.push_zero(),
            Rows::Int8(c) => c.push_zero(),
        }
    }

    /// Makes room for `additional` more rows.
    pub(crate) fn reserve(&mut self, additional: usize) {
        match self {
            Rows::F32(v) => v.block.reserve(additional),
            Rows::Int8(c) => c.reserve(additional),
        }
    }

    /// Bytes held, headers excluded (they are the index's: [`Rows::link_bytes`]).
    pub(crate) fn bytes(&self) -> usize {
        let total = match self {
            Rows::F32(v) => v.block.bytes(),
            Rows::Int8(c) => c.bytes(),
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
        }
    }

    /// Every row as stored, concatenated without padding (`rows * dim` floats).
    pub(crate) fn to_dense(&self) -> Vec<f32> {
        match self {
            Rows::F32(v) => v.to_dense(),
            Rows::Int8(c) => (0..c.block.rows).flat_map(|r| c.decode(r)).collect(),
        }
    }

    /// Whether the rows are a view of a mapped file.
    pub(crate) fn is_mapped(&self) -> bool {
        self.block().is_mapped()
    }

    /// Writes the ROWS section: a page holding the shape (see `docs/format.md`), the block
    /// exactly as it is in memory (headers with the graph's level-0 links, then the vector
    /// or codes, row after row), then under int8 storage the scales and squared norms.
    /// A reader on a little-endian host can map the block without parsing it.
    pub(crate) fn write_image(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let b = self.block();
        let (storage, dim) = match self {
            Rows::F32(v) => (0u32, v.dim),
            Rows::Int8(c) => (1u32, c.dim),
        };
        let mut head = Vec::with_capacity(IMAGE_PREFIX);
        head.extend_from_slice(IMAGE_MAGIC);
        head.extend_from_slice(&storage.to_le_bytes());
        for x in [dim, b.rows, b.head, b.body, b.stride] {
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
            (true, x) => Err(format!("unknown vector storage {x}")),
            (false, _) => Err("bad row section magic".into()),
        }
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
        let code = match storage {
            VectorStorage::F32 => 0,
            VectorStorage::Int8 => 1,
        };
        let expected = [dim, rows, want.head, want.body, want.stride].map(|x| x as u64);
        if got != (&IMAGE_MAGIC[..], code, expected) {
            return Err(format!(
                "row shape {:?} (dim, rows, links, body, stride; storage {}), expected {:?} \
                 (storage {code})",
                got.2, got.1, expected
            ));
        }
        let dims = (want.head, want.body, rows);
        let image = want.lines_for(rows) * 64;
        let block = match r.view_bytes(image)? {
            Some((map, at)) if cfg!(target_endian = "little") => RowBlock::view(&map, at, dims)
                .ok_or_else(|| "row block misaligned in the mapped file".to_string())?,
            _ => RowBlock::read_image(dims, r)?,
        };
        Ok(match storage {
            VectorStorage::F32 => Rows::F32(VectorStore { dim, block }),
            VectorStorage::Int8 => Rows::Int8(CodeStore::with_tail(dim, metric, block, r)?),
        })
    }

    /// Bytes one row of `dim` components takes in the file section of this storage.
    pub(crate) fn section_row_bytes(storage: VectorStorage, dim: usize) -> u64 {
        match storage {
            VectorStorage::F32 => dim as u64 * 4,
            VectorStorage::Int8 => dim as u64 + 4,
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
                assert_eq!(b.head % 4, 0);
                assert!(b.head >= links && b.head < links + 4);
                if b.stride.is_multiple_of(64) && (b.head * 4).is_multiple_of(64) {
                    assert_eq!(v.row(3).as_ptr() as usize % 64, 0, "dim {dim}");
                }
                let floats = b.body / 4;
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
        for storage in [VectorStorage::F32, VectorStorage::Int8] {
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
                    rows.block().bytes() / rows.block().stride * head * 4
                );
            }
        }
    }
}
