//! The row block: rows of link entries and a body, `stride` bytes apart, in one block of
//! whole cache lines, owned or viewed in a mapped file or a host's buffer.

use crate::util::mapped::{Buf, Mapping, Plain};
use crate::util::memory::grow_advised;
use std::sync::atomic::AtomicU32;

/// One cache line, the allocation unit (which gives the block its alignment). Atomics, so
/// that a row's header can be rewritten through a shared reference (many threads link nodes
/// at once) while other rows' vectors are read; vector bytes are only written through
/// `&mut`.
#[derive(Default)]
#[repr(C, align(64))]
struct Line([AtomicU32; 16]);

/// Sixteen bytes, the alignment a viewed block needs (a host's buffer is often aligned to
/// 16 bytes only; a mapped file's sections are page-aligned).
#[repr(C, align(16))]
struct Quad([AtomicU32; 4]);

// SAFETY: four `u32`s; any bit pattern is a value.
unsafe impl Plain for Quad {}

/// The block's bytes: owned cache lines, or a view (copied into owned lines before any
/// `&mut` access; headers are only written through shared references while linking, which
/// a read-only engine never does).
enum Lines {
    Owned(Vec<Line>),
    View(Buf<Quad>),
}

impl Lines {
    #[inline(always)]
    fn as_ptr(&self) -> *const u8 {
        match self {
            Lines::Owned(v) => v.as_ptr().cast(),
            Lines::View(b) => b.as_ptr().cast(),
        }
    }

    /// Whole lines of 64 bytes held.
    fn len(&self) -> usize {
        match self {
            Lines::Owned(v) => v.len(),
            Lines::View(b) => b.len() / 4,
        }
    }

    /// Every entry, as the atomics they are.
    fn words(&self) -> &[AtomicU32] {
        // SAFETY: `len() * 64` initialised bytes, 4-byte aligned; atomics of plain u32s.
        unsafe { std::slice::from_raw_parts(self.as_ptr().cast(), self.len() * 16) }
    }

    /// The owned lines, copying a view into them first.
    fn make_mut(&mut self) -> &mut Vec<Line> {
        if let Lines::View(_) = self {
            let n = self.len();
            let mut v: Vec<Line> = Vec::new();
            grow_advised(&mut v, n);
            // SAFETY: `n` lines reserved; the view holds `n * 64` initialised bytes; every
            // bit pattern is a `Line`.
            unsafe {
                std::ptr::copy_nonoverlapping(self.as_ptr(), v.as_mut_ptr().cast::<u8>(), n * 64);
                v.set_len(n);
            }
            *self = Lines::Owned(v);
        }
        match self {
            Lines::Owned(v) => v,
            Lines::View(_) => unreachable!("copied above"),
        }
    }
}

/// Plain element types a row body holds.
///
/// # Safety
/// Every bit pattern must be a valid value, and the alignment at most 16 bytes.
pub(crate) unsafe trait Elem: Copy {}
// SAFETY: plain numbers, 4-, 2- and 1-byte aligned.
unsafe impl Elem for f32 {}
unsafe impl Elem for i8 {}
unsafe impl Elem for u8 {}
unsafe impl Elem for u16 {}

/// Rows of `head` link entries followed by `body` bytes, `stride` bytes apart, in one
/// block (64-byte aligned when owned, at least 16 when a view).
pub(crate) struct RowBlock {
    head: usize,
    body: usize,
    stride: usize,
    rows: usize,
    lines: Lines,
}

impl RowBlock {
    /// An empty block of rows with `head` link entries (rounded up to a multiple of 4, so
    /// the body keeps 16-byte alignment) and `body` bytes (a multiple of 16).
    pub(crate) fn new(head: usize, body: usize) -> Self {
        debug_assert!(body.is_multiple_of(16));
        let head = head.div_ceil(4) * 4;
        RowBlock {
            head,
            body,
            stride: head * 4 + body,
            rows: 0,
            lines: Lines::Owned(Vec::new()),
        }
    }

    pub(crate) fn lines_for(&self, rows: usize) -> usize {
        (rows * self.stride).div_ceil(64)
    }

    /// Address of row `r`'s body. Callers check `r < rows`.
    #[inline(always)]
    pub(super) fn body_ptr(&self, r: usize) -> *const u8 {
        self.lines
            .as_ptr()
            .wrapping_add(r * self.stride + self.head * 4)
    }

    /// The first `n` elements of row `r`'s body.
    #[inline(always)]
    pub(crate) fn body<T: Elem>(&self, r: usize, n: usize) -> &[T] {
        assert!(r < self.rows && n * size_of::<T>() <= self.body, "row {r}");
        // SAFETY: the body lies inside the block (`r < rows`), is aligned for `T` (rows
        // and heads are multiples of 16 bytes) and initialised; any bit pattern is a `T`.
        // Body bytes are only written through `&mut self` (the atomics' cells are only
        // written through shared references in headers, which this slice does not cover).
        unsafe { std::slice::from_raw_parts(self.body_ptr(r).cast::<T>(), n) }
    }

    /// The first `n` elements of row `r`'s body, mutable.
    #[inline(always)]
    pub(crate) fn body_mut<T: Elem>(&mut self, r: usize, n: usize) -> &mut [T] {
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

    /// Body bytes per row.
    pub(super) fn body_bytes(&self) -> usize {
        self.body
    }

    /// Rows held.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes from one row's start to the next.
    pub(super) fn stride(&self) -> usize {
        self.stride
    }

    /// Address of row `r`'s body (for prefetching; `None` past the end).
    #[inline(always)]
    pub(crate) fn row_ptr(&self, r: usize) -> Option<*const u8> {
        (r < self.rows).then(|| self.body_ptr(r))
    }

    /// The owned lines (a mapped block is copied first).
    fn lines_mut(&mut self) -> &mut Vec<Line> {
        self.lines.make_mut()
    }

    /// The same rows without their headers (bodies copied into an owned block).
    pub(crate) fn without_head(&self) -> RowBlock {
        let mut out = RowBlock::new(0, self.body);
        out.reserve(self.rows);
        for r in 0..self.rows {
            out.push_zero();
            out.body_mut::<u8>(r, self.body)
                .copy_from_slice(self.body::<u8>(r, self.body));
        }
        out
    }

    /// Appends a zero row.
    pub(crate) fn push_zero(&mut self) {
        self.rows += 1;
        let need = self.lines_for(self.rows);
        if need > self.lines.len() {
            let lines = self.lines_mut();
            grow_advised(lines, need);
            lines.resize_with(need, Line::default);
        }
    }

    /// Makes room for `additional` more rows (one reallocation for a whole batch).
    pub(crate) fn reserve(&mut self, additional: usize) {
        let need = self.lines_for(self.rows + additional);
        grow_advised(self.lines_mut(), need);
    }

    /// Bytes held (capacity of the block; the block's size when it is a view of a mapped
    /// file).
    pub(crate) fn bytes(&self) -> usize {
        match &self.lines {
            Lines::Owned(v) => v.capacity() * 64,
            Lines::View(_) => self.lines.len() * 64,
        }
    }

    /// Whether the block is a view of a mapped file.
    pub(super) fn is_mapped(&self) -> bool {
        matches!(self.lines, Lines::View(_))
    }

    /// For a view of a mapped file: hints that its rows are read at random.
    pub(super) fn advise_random(&self) {
        if let Lines::View(b) = &self.lines {
            b.advise_random();
        }
    }

    /// Writes the block's image: the lines as they are in memory (little-endian hosts), the
    /// headers read with atomic loads.
    pub(super) fn write_image(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let words = &self.lines.words()[..self.lines_for(self.rows) * 16];
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        for chunk in words.chunks((1 << 20) / 4) {
            buf.clear();
            for x in chunk {
                buf.extend_from_slice(&x.load(std::sync::atomic::Ordering::Relaxed).to_le_bytes());
            }
            w.write_all(&buf)?;
        }
        Ok(())
    }

    /// A block of `rows` rows of the given shape viewed in `map` at `offset` (the image
    /// [`RowBlock::write_image`] wrote); `None` when it does not fit the mapping or is not
    /// 16-byte aligned there.
    pub(super) fn view(
        map: &std::sync::Arc<Mapping>,
        offset: usize,
        (head, body, rows): (usize, usize, usize),
    ) -> Option<Self> {
        let mut b = RowBlock::new(head, body);
        b.lines = Lines::View(Buf::view(map, offset, b.lines_for(rows) * 4)?);
        b.rows = rows;
        Some(b)
    }

    /// Reads an image written by [`RowBlock::write_image`] into an owned block.
    pub(super) fn read_image(
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
        b.lines = Lines::Owned(lines);
        b.rows = rows;
        Ok(b)
    }

    /// The part of [`RowBlock::bytes`] that row headers take.
    pub(super) fn head_bytes(&self) -> usize {
        // Rows of no bytes (no vector, no links: an engine without content vectors).
        if self.stride == 0 {
            return 0;
        }
        self.bytes() / self.stride * self.head * 4
    }

    /// A block of `rows` rows with empty headers, whose bodies `fill(i, body)` writes (each
    /// body zeroed first, just before, while its lines are in cache: no separate pass over
    /// the whole block). Stops at the first error.
    pub(super) fn filled(
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
        b.lines = Lines::Owned(lines);
        b.rows = rows;
        Ok(b)
    }
}
