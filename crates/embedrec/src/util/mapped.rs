//! Arrays that are either owned or borrowed from a file mapped into memory.
//!
//! A read-only engine serves its largest arrays (vector rows with their links, the id arena)
//! straight from the pages of its file: every process that maps the same file shares one
//! copy in the page cache. [`Buf`] is such an array: owned (a `Vec`) or a view into a
//! [`Mapping`]; any mutable access first copies a view into an owned `Vec`, so code that
//! writes never touches the file.

use std::sync::Arc;

/// A whole file mapped privately (copy-on-write): its pages are the page cache's, shared
/// by every process mapping the same file, until a process writes one (which then gets a
/// private copy; the file itself never changes). The file must not be truncated or
/// rewritten in place while mapped; embedrec replaces files by renaming a new one over
/// them, which leaves existing mappings on the old contents.
pub(crate) struct Mapping {
    map: memmap2::MmapMut,
}

impl Mapping {
    /// Maps the whole of `file` (an empty file gives an empty mapping).
    pub(crate) fn of_file(file: &std::fs::File) -> std::io::Result<Arc<Self>> {
        // SAFETY: a private mapping; the bytes are only read as plain values (`Plain`) or
        // through atomics, and the engine never truncates or rewrites a file in place (see
        // the type's documentation for what the host must not do either).
        let map = unsafe { memmap2::MmapOptions::new().map_copy(file)? };
        Ok(Arc::new(Mapping { map }))
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }
}

/// Element types a mapped array may hold.
///
/// # Safety
/// Every bit pattern must be a valid value.
pub(crate) unsafe trait Plain: Sized {}
// SAFETY: plain numbers.
unsafe impl Plain for u8 {}
unsafe impl Plain for i8 {}
unsafe impl Plain for u32 {}
unsafe impl Plain for u64 {}
unsafe impl Plain for f32 {}

/// An array owned or viewed in a [`Mapping`] (which the view keeps alive).
pub(crate) enum Buf<T> {
    Owned(Vec<T>),
    Mapped {
        /// Keeps the mapping alive as long as the view.
        _map: Arc<Mapping>,
        ptr: *const T,
        len: usize,
    },
}

// SAFETY: a view only reads memory its `Arc<Mapping>` keeps mapped; sharing it across
// threads is sharing `&[T]`.
unsafe impl<T: Sync> Send for Buf<T> {}
unsafe impl<T: Sync> Sync for Buf<T> {}

impl<T> std::fmt::Debug for Buf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buf")
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

impl<T> Default for Buf<T> {
    fn default() -> Self {
        Buf::Owned(Vec::new())
    }
}

impl<T> From<Vec<T>> for Buf<T> {
    fn from(v: Vec<T>) -> Self {
        Buf::Owned(v)
    }
}

impl<T> std::ops::Deref for Buf<T> {
    type Target = [T];
    #[inline(always)]
    fn deref(&self) -> &[T] {
        match self {
            Buf::Owned(v) => v,
            // SAFETY: checked in bounds and aligned by `Buf::view`; the mapping lives as
            // long as `self`; every bit pattern is a `T`.
            Buf::Mapped { ptr, len, .. } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
        }
    }
}

impl<T: Plain> Buf<T> {
    /// `len` values of `T` at byte `offset` of `map`; `None` when they do not lie inside
    /// it or are not aligned for `T`.
    pub(crate) fn view(map: &Arc<Mapping>, offset: usize, len: usize) -> Option<Self> {
        let bytes = map.bytes();
        let end = len
            .checked_mul(size_of::<T>())
            .and_then(|n| n.checked_add(offset))?;
        let b = bytes.get(offset..end)?;
        let ptr = b.as_ptr().cast::<T>();
        if !(ptr as usize).is_multiple_of(align_of::<T>()) {
            return None;
        }
        Some(Buf::Mapped {
            _map: Arc::clone(map),
            ptr,
            len,
        })
    }
}

impl<T> Buf<T> {
    /// The owned `Vec`, copying a view into one first (`copy` clones an element).
    pub(crate) fn make_mut_with(&mut self, copy: impl Fn(&T) -> T) -> &mut Vec<T> {
        if let Buf::Mapped { .. } = self {
            *self = Buf::Owned(self.iter().map(copy).collect());
        }
        match self {
            Buf::Owned(v) => v,
            Buf::Mapped { .. } => unreachable!("converted above"),
        }
    }

    /// Whether the array is a view into a mapped file.
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self, Buf::Mapped { .. })
    }
}

impl<T: Clone> Buf<T> {
    /// The owned `Vec`, copying a view into one first.
    pub(crate) fn make_mut(&mut self) -> &mut Vec<T> {
        self.make_mut_with(T::clone)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_view_reads_the_file_and_copies_before_any_write() {
        let mut f = tempfile::tempfile().unwrap();
        let words: Vec<u8> = (1u32..=8).flat_map(|x| x.to_le_bytes()).collect();
        f.write_all(&words).unwrap();
        let map = Mapping::of_file(&f).unwrap();
        let mut b = Buf::<u32>::view(&map, 8, 4).unwrap();
        assert!(b.is_mapped());
        assert_eq!(&b[..], &[3, 4, 5, 6]);
        // Out of bounds and misaligned views are refused.
        assert!(Buf::<u32>::view(&map, 24, 3).is_none());
        assert!(Buf::<u32>::view(&map, 2, 1).is_none());
        assert!(Buf::<u32>::view(&map, usize::MAX, 2).is_none());
        b.make_mut()[0] = 99;
        assert!(!b.is_mapped());
        assert_eq!(&b[..], &[99, 4, 5, 6]);
        // The mapping (and so the file) is unchanged.
        assert_eq!(&map.bytes()[8..12], &3u32.to_le_bytes());
    }
}
