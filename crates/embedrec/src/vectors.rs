//! Item vectors in one contiguous, 64-byte aligned block.
//!
//! Rows are padded to a whole number of cache lines when that costs at most 1/8 of the row
//! (so a 128-float vector occupies exactly 8 lines and a load never straddles two rows'
//! lines), otherwise to 16 bytes. On Linux the block is marked for transparent huge pages,
//! which cuts TLB misses when a graph walk touches vectors all over a large catalog.

/// One cache line of floats; the allocation unit, which gives the block its alignment.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; 16]);

const ZERO: Line = Line([0.0; 16]);

use crate::config::VectorStorage;

/// Row-major vectors, `stride` floats apart (`dim` used, the rest zero).
#[derive(Clone)]
pub(crate) struct VectorStore {
    dim: usize,
    stride: usize,
    rows: usize,
    lines: Vec<Line>,
}

impl std::fmt::Debug for VectorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorStore")
            .field("dim", &self.dim)
            .field("stride", &self.stride)
            .field("rows", &self.rows)
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
    pub(crate) fn new(dim: usize) -> Self {
        VectorStore {
            dim,
            stride: stride_for(dim),
            rows: 0,
            lines: Vec::new(),
        }
    }

    /// Number of rows.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    fn floats(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` over `[f32; 16]`, so the lines are `16 * len` floats.
        unsafe {
            std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.lines.len() * 16)
        }
    }

    fn floats_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `floats`.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.lines.as_mut_ptr().cast::<f32>(),
                self.lines.len() * 16,
            )
        }
    }

    /// Row `r` (`dim` floats).
    #[inline(always)]
    pub(crate) fn row(&self, r: usize) -> &[f32] {
        let s = r * self.stride;
        &self.floats()[s..s + self.dim]
    }

    /// Row `r`, mutable.
    pub(crate) fn row_mut(&mut self, r: usize) -> &mut [f32] {
        let (s, d) = (r * self.stride, self.dim);
        &mut self.floats_mut()[s..s + d]
    }

    /// Address of row `r` (for prefetching; `None` past the end).
    #[inline(always)]
    pub(crate) fn row_ptr(&self, r: usize) -> Option<*const u8> {
        (r < self.rows).then(|| self.floats()[r * self.stride..].as_ptr().cast::<u8>())
    }

    /// Appends a zero row.
    pub(crate) fn push_zero(&mut self) {
        self.rows += 1;
        let need = (self.rows * self.stride).div_ceil(16);
        if need > self.lines.len() {
            self.grow_to(need);
        }
    }

    /// Makes room for `additional` more rows (one reallocation for a whole batch).
    pub(crate) fn reserve(&mut self, additional: usize) {
        grow_advised(
            &mut self.lines,
            ((self.rows + additional) * self.stride).div_ceil(16),
        );
    }

    /// Extends the block to `lines` lines of zeros. New capacity is advised for huge pages
    /// before it is first written, so the kernel can back it with 2 MiB pages from the start.
    fn grow_to(&mut self, lines: usize) {
        grow_advised(&mut self.lines, lines);
        self.lines.resize(lines, ZERO);
    }

    /// Bytes held (capacity of the block).
    pub(crate) fn bytes(&self) -> usize {
        self.lines.capacity() * 64
    }

    /// Every row, concatenated without padding (`rows * dim` floats).
    pub(crate) fn to_dense(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.rows * self.dim);
        for r in 0..self.rows {
            out.extend_from_slice(self.row(r));
        }
        out
    }

    /// Builds a store from `rows * dim` dense floats.
    #[cfg(test)]
    pub(crate) fn from_dense(dim: usize, dense: &[f32]) -> Self {
        let bytes: Vec<u8> = dense.iter().flat_map(|x| x.to_le_bytes()).collect();
        let bytes: &[u8] = &bytes;
        let mut r = crate::persist::SectionReader::over(&bytes);
        Self::read_rows(dim, dense.len() / dim, &mut r).expect("whole rows")
    }

    /// Reads `rows * dim` little-endian f32s (the file's vector section) straight into a
    /// fresh block, one row at a time from the reader's chunks.
    pub(crate) fn read_rows(
        dim: usize,
        rows: usize,
        r: &mut crate::persist::SectionReader<'_>,
    ) -> std::result::Result<Self, String> {
        let mut v = VectorStore::new(dim);
        let (stride, total) = (v.stride, (rows * v.stride).div_ceil(16));
        grow_advised(&mut v.lines, total);
        let dst = v.lines.as_mut_ptr().cast::<f32>();
        for i in 0..rows {
            let src = r.take(dim * 4)?;
            // SAFETY: row `i` spans floats `i * stride .. (i + 1) * stride`, inside the
            // `total * 16` reserved; `src` is `dim * 4` bytes; any bit pattern is an f32.
            // Rows are only counted (`v.rows`) once written, so an early return leaves no
            // uninitialised row in view.
            unsafe {
                let row = dst.add(i * stride);
                #[cfg(target_endian = "little")]
                std::ptr::copy_nonoverlapping(src.as_ptr(), row.cast::<u8>(), dim * 4);
                #[cfg(not(target_endian = "little"))]
                for (j, b) in src.chunks_exact(4).enumerate() {
                    row.add(j)
                        .write(f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                }
                std::ptr::write_bytes(row.add(dim), 0, stride - dim);
            }
        }
        // SAFETY: the tail after the last row is inside the reservation; after it every
        // line is initialised, exactly once (no zero-fill pass before the copy).
        unsafe {
            std::ptr::write_bytes(dst.add(rows * stride), 0, total * 16 - rows * stride);
            v.lines.set_len(total);
        }
        v.rows = rows;
        Ok(v)
    }
}

/// One cache line of int8 codes (the allocation unit of [`CodeStore`]).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line8([i8; 64]);

/// Bytes between code row starts for `dim` components: whole cache lines when that costs at
/// most 1/8 of the row, otherwise 16-byte steps.
fn code_stride_for(dim: usize) -> usize {
    let lines = dim.div_ceil(64) * 64;
    if (lines - dim) * 8 <= dim {
        lines
    } else {
        dim.div_ceil(16) * 16
    }
}

/// Vectors stored as int8 codes with one scale per vector (`v ≈ scale · codes`, the scale
/// being `max |v_i| / 127`): a quarter of the f32 bytes. No fitting is needed and no value
/// is ever clamped, since each vector gets its own range; the stored vector is the decoded
/// one, and every score is computed on it exactly.
#[derive(Clone)]
pub(crate) struct CodeStore {
    dim: usize,
    stride: usize,
    rows: usize,
    lines: Vec<Line8>,
    /// Per row: the scale.
    scale: Vec<f32>,
    /// Per row, under L2 only (`keep_sq`): the squared norm of the decoded vector
    /// (`scale² · Σ codes²`). Other metrics never read it, so they do not pay for it.
    sq: Vec<f32>,
    keep_sq: bool,
}

impl CodeStore {
    fn new(dim: usize, metric: crate::Metric) -> Self {
        CodeStore {
            dim,
            stride: code_stride_for(dim),
            rows: 0,
            lines: Vec::new(),
            scale: Vec::new(),
            sq: Vec::new(),
            keep_sq: metric == crate::Metric::L2,
        }
    }

    fn all(&self) -> &[i8] {
        // SAFETY: `Line8` is `repr(C)` over `[i8; 64]`.
        unsafe {
            std::slice::from_raw_parts(self.lines.as_ptr().cast::<i8>(), self.lines.len() * 64)
        }
    }

    fn all_mut(&mut self) -> &mut [i8] {
        // SAFETY: as in `all`.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.lines.as_mut_ptr().cast::<i8>(),
                self.lines.len() * 64,
            )
        }
    }

    /// The codes of row `r`.
    #[inline(always)]
    pub(crate) fn codes(&self, r: usize) -> &[i8] {
        let s = r * self.stride;
        &self.all()[s..s + self.dim]
    }

    /// The scale of row `r`.
    #[inline(always)]
    pub(crate) fn scale(&self, r: usize) -> f32 {
        self.scale[r]
    }

    /// The squared norm of row `r`'s decoded vector (kept under L2 only).
    #[inline(always)]
    pub(crate) fn sq(&self, r: usize) -> f32 {
        self.sq[r]
    }

    /// Rows whose squared norm is kept (all of them under L2, none otherwise).
    #[cfg(test)]
    pub(crate) fn kept_sq(&self) -> usize {
        self.sq.len()
    }

    /// The norm of row `r`'s decoded vector (under any metric).
    fn norm(&self, r: usize) -> f32 {
        decoded_sq(self.codes(r), self.scale[r]).sqrt()
    }

    /// Encodes `v` (finite components) into row `r`.
    fn set(&mut self, r: usize, v: &[f32]) {
        let top = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let scale = top / 127.0;
        let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        let (s, d) = (r * self.stride, self.dim);
        for (c, x) in self.all_mut()[s..s + d].iter_mut().zip(v) {
            *c = (x * inv).round().clamp(-127.0, 127.0) as i8;
        }
        self.scale[r] = scale;
        if self.keep_sq {
            self.sq[r] = decoded_sq(self.codes(r), scale);
        }
    }

    /// Zeroes row `r`.
    fn zero(&mut self, r: usize) {
        let (s, d) = (r * self.stride, self.dim);
        self.all_mut()[s..s + d].fill(0);
        self.scale[r] = 0.0;
        if let Some(q) = self.sq.get_mut(r) {
            *q = 0.0;
        }
    }

    /// Makes room for `additional` more rows.
    fn reserve(&mut self, additional: usize) {
        grow_advised(
            &mut self.lines,
            ((self.rows + additional) * self.stride).div_ceil(64),
        );
        self.scale.reserve(additional);
        if self.keep_sq {
            self.sq.reserve(additional);
        }
    }

    /// Bytes held.
    fn bytes(&self) -> usize {
        self.lines.capacity() * 64 + (self.scale.capacity() + self.sq.capacity()) * 4
    }

    /// Address of row `r` (for prefetching; `None` past the end).
    fn row_ptr(&self, r: usize) -> Option<*const u8> {
        (r < self.rows).then(|| self.all()[r * self.stride..].as_ptr().cast::<u8>())
    }

    /// Appends rows of `scale (f32 LE) | dim codes`.
    fn write(&self, out: &mut Vec<u8>) {
        out.reserve(self.rows * (self.dim + 4));
        for r in 0..self.rows {
            out.extend_from_slice(&self.scale[r].to_le_bytes());
            out.extend(self.codes(r).iter().map(|&x| x as u8));
        }
    }

    fn decode(&self, r: usize) -> Vec<f32> {
        let s = self.scale[r];
        self.codes(r).iter().map(|&c| c as f32 * s).collect()
    }

    fn push_zero(&mut self) {
        self.rows += 1;
        self.scale.push(0.0);
        if self.keep_sq {
            self.sq.push(0.0);
        }
        let need = (self.rows * self.stride).div_ceil(64);
        if need > self.lines.len() {
            grow_advised(&mut self.lines, need);
            self.lines.resize(need, Line8([0; 64]));
        }
    }

    /// Reads rows of `scale (f32 LE) | dim codes` (the file's code section) into a fresh
    /// store, validating each scale (finite, not negative) and code (not -128).
    fn read_rows(
        dim: usize,
        metric: crate::Metric,
        rows: usize,
        r: &mut crate::persist::SectionReader<'_>,
    ) -> std::result::Result<Self, String> {
        let mut c = CodeStore::new(dim, metric);
        let keep_sq = c.keep_sq;
        let total = (rows * c.stride).div_ceil(64);
        grow_advised(&mut c.lines, total);
        c.lines.resize(total, Line8([0; 64]));
        c.scale.reserve_exact(rows);
        if keep_sq {
            c.sq.reserve_exact(rows);
        }
        let stride = c.stride;
        for i in 0..rows {
            let b = r.take(4 + dim)?;
            let scale = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if !(scale.is_finite() && scale >= 0.0) {
                return Err(format!(
                    "slot {i}: scale {scale} is not a finite non-negative number"
                ));
            }
            if b[4..].contains(&(i8::MIN as u8)) {
                return Err(format!("slot {i}: code -128 outside -127..=127"));
            }
            let row = &mut c.all_mut()[i * stride..i * stride + dim];
            for (dst, &x) in row.iter_mut().zip(&b[4..]) {
                *dst = x as i8;
            }
            let sq = keep_sq.then(|| decoded_sq(row, scale));
            c.sq.extend(sq);
            c.scale.push(scale);
        }
        c.rows = rows;
        Ok(c)
    }
}

/// Squared norm of the vector `scale · codes` (the integer sum is exact).
fn decoded_sq(codes: &[i8], scale: f32) -> f32 {
    let sum: i64 = codes.iter().map(|&c| c as i64 * c as i64).sum();
    scale * scale * sum as f32
}

/// The catalog's vectors, in the storage chosen by [`VectorStorage`].
#[derive(Clone)]
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
                .field("rows", &c.rows)
                .finish(),
        }
    }
}

impl Rows {
    /// Empty rows of `dim` components; `metric` decides what int8 storage keeps per row.
    pub(crate) fn new(dim: usize, storage: VectorStorage, metric: crate::Metric) -> Self {
        match storage {
            VectorStorage::F32 => Rows::F32(VectorStore::new(dim)),
            VectorStorage::Int8 => Rows::Int8(CodeStore::new(dim, metric)),
        }
    }

    pub(crate) fn storage(&self) -> VectorStorage {
        match self {
            Rows::F32(_) => VectorStorage::F32,
            Rows::Int8(_) => VectorStorage::Int8,
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

    /// Zeroes row `r`.
    pub(crate) fn zero_row(&mut self, r: usize) {
        match self {
            Rows::F32(s) => s.row_mut(r).fill(0.0),
            Rows::Int8(c) => c.zero(r),
        }
    }

    /// Appends a zero row.
    pub(crate) fn push_zero(&mut self) {
        match self {
            Rows::F32(v) => v.push_zero(),
            Rows::Int8(c) => c.push_zero(),
        }
    }

    /// Makes room for `additional` more rows.
    pub(crate) fn reserve(&mut self, additional: usize) {
        match self {
            Rows::F32(v) => v.reserve(additional),
            Rows::Int8(c) => c.reserve(additional),
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        match self {
            Rows::F32(v) => v.bytes(),
            Rows::Int8(c) => c.bytes(),
        }
    }

    /// Hints the CPU to load row `r` (a no-op past the end).
    #[inline(always)]
    pub(crate) fn prefetch(&self, r: usize) {
        let p = match self {
            Rows::F32(v) => v.row_ptr(r),
            Rows::Int8(c) => c.row_ptr(r),
        };
        if let Some(p) = p {
            crate::catalog::prefetch_ptr(p, self.row_bytes().div_ceil(64));
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
            Rows::Int8(c) => (0..c.rows).flat_map(|r| c.decode(r)).collect(),
        }
    }

    /// Appends the file section of these rows: `rows * dim` f32 LE for f32 storage, rows of
    /// `scale (f32 LE) | dim codes` for int8.
    pub(crate) fn write_section(&self, out: &mut Vec<u8>) {
        match self {
            Rows::F32(v) => {
                out.reserve(v.rows() * v.dim * 4);
                for r in 0..v.rows() {
                    for x in v.row(r) {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                }
            }
            Rows::Int8(c) => c.write(out),
        }
    }

    /// Bytes one row of `dim` components takes in the file section of this storage.
    pub(crate) fn section_row_bytes(storage: VectorStorage, dim: usize) -> u64 {
        match storage {
            VectorStorage::F32 => dim as u64 * 4,
            VectorStorage::Int8 => dim as u64 + 4,
        }
    }

    /// Reads a section written by [`Rows::write_section`].
    pub(crate) fn read_section(
        storage: VectorStorage,
        dim: usize,
        metric: crate::Metric,
        rows: usize,
        r: &mut crate::persist::SectionReader<'_>,
    ) -> std::result::Result<Self, String> {
        Ok(match storage {
            VectorStorage::F32 => Rows::F32(VectorStore::read_rows(dim, rows, r)?),
            VectorStorage::Int8 => Rows::Int8(CodeStore::read_rows(dim, metric, rows, r)?),
        })
    }
}

/// Grows `v`'s capacity to at least `min` (and at least double), in a new allocation that is
/// advised for huge pages *before* the old elements are moved in: growing in place with
/// `reserve` would fault the copied part in as 4 KiB pages first (with the kernel's default
/// `madvise` mode those stay small, and a graph walk over a freshly built index then pays a
/// TLB miss on almost every vector).
pub(crate) fn grow_advised<T>(v: &mut Vec<T>, min: usize) {
    if min <= v.capacity() {
        return;
    }
    let target = min.max(v.capacity() * 2);
    let mut new: Vec<T> = Vec::with_capacity(target);
    advise_huge_pages(new.as_ptr().cast(), target * std::mem::size_of::<T>());
    new.append(v);
    *v = new;
}

/// Asks Linux for transparent huge pages over `len` bytes from `start` (from 4 MiB on; the
/// whole 2 MiB pages inside the range). Large arrays that searches touch at random (vectors,
/// link lists) then cost far fewer TLB misses. A hint: failure is ignored.
pub(crate) fn advise_huge_pages(start: *const u8, len: usize) {
    #[cfg(target_os = "linux")]
    {
        if len < (4 << 20) {
            return;
        }
        const HUGE: usize = 2 << 20;
        let start = start as usize;
        let first = start.div_ceil(HUGE) * HUGE;
        let end = (start + len) / HUGE * HUGE;
        if end > first {
            // SAFETY: the range lies inside the caller's allocation; MADV_HUGEPAGE only
            // changes how the kernel backs it.
            unsafe {
                libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (start, len);
}

/// Batches at least this large give freed memory back to the OS when they finish.
pub(crate) const RELEASE_AFTER: usize = 4096;

/// Returns free heap memory to the operating system (glibc only; elsewhere a no-op).
///
/// A large upsert allocates transient buffers (the host's converted ids and attributes,
/// validation sets, per-insertion search heaps) between long-lived columns that grow by
/// reallocation; glibc keeps the freed holes mapped, which measured 43 MB of resident memory
/// left over after inserting 200,000 vectors of 128 floats (about a third of the index).
/// `malloc_trim` hands those pages back; it changes no allocator setting.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the process heap; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_aligned_and_round_trip() {
        for dim in [1, 3, 8, 16, 24, 100, 128, 129] {
            let dense: Vec<f32> = (0..dim * 5).map(|i| i as f32).collect();
            let v = VectorStore::from_dense(dim, &dense);
            assert_eq!(v.rows(), 5);
            assert_eq!(v.to_dense(), dense, "dim {dim}");
            if v.stride.is_multiple_of(16) {
                assert_eq!(v.row(3).as_ptr() as usize % 64, 0, "dim {dim}");
            }
            assert!(
                v.stride >= dim && (v.stride - dim) * 8 <= dim.max(24),
                "dim {dim}"
            );
        }
        let mut v = VectorStore::new(128);
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
}
