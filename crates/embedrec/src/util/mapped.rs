//! Arrays that are either owned or borrowed from a file mapped into memory (or from a
//! host's buffer).
//!
//! A read-only engine serves its largest arrays (vector rows with their links, the id arena)
//! straight from the pages of its file: every process that maps the same file shares one
//! copy in the page cache. [`Buf`] is such an array: owned (a `Vec`) or a view into a
//! [`Mapping`]; any mutable access first copies a view into an owned `Vec`, so code that
//! writes never touches the file.

use std::sync::Arc;

/// The bytes a read-only engine serves from: a whole file mapped privately, or a buffer the
/// host handed over (kept alive, never written).
///
/// A file is mapped copy-on-write: its pages are the page cache's, shared by every process
/// mapping the same file, until a process writes one (which then gets a private copy; the
/// file itself never changes). The file must not be truncated or rewritten in place while
/// mapped; embedrec replaces files by renaming a new one over them, which leaves existing
/// mappings on the old contents. A host buffer must likewise not change while an engine
/// serves from it: changed bytes give wrong answers (every value read is still
/// bounds-checked where it is followed, as for a damaged file), never unsafety.
pub(crate) struct Mapping {
    /// Owns the bytes (read through `ptr` and `len`).
    #[cfg_attr(not(test), allow(dead_code))]
    backing: Backing,
    /// Start and length of the bytes (read once from the backing).
    ptr: *const u8,
    len: usize,
}

/// What owns a [`Mapping`]'s bytes (only held, never read through).
#[allow(dead_code)]
enum Backing {
    File(memmap2::MmapMut),
    Host(Box<dyn AsRef<[u8]> + Send + Sync>),
    /// A copy of a host buffer that was not aligned to [`ALIGN`].
    Aligned(Vec<Block>),
}

/// [`ALIGN`] bytes, aligned to [`ALIGN`].
#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Block([u8; ALIGN]);

// SAFETY: the bytes are only read, and the backing (which owns them) is `Send + Sync`.
unsafe impl Send for Mapping {}
unsafe impl Sync for Mapping {}

/// Alignment a host buffer needs to be used in place: the row block's rows start on
/// 16-byte boundaries (a file's sections are page-aligned; allocators align to 16).
const ALIGN: usize = 16;

impl Mapping {
    /// Maps the whole of `file` (an empty file gives an empty mapping).
    pub(crate) fn of_file(file: &std::fs::File) -> std::io::Result<Arc<Self>> {
        // SAFETY: a private mapping; the bytes are only read as plain values (`Plain`) or
        // through atomics, and the engine never truncates or rewrites a file in place (see
        // the type's documentation for what the host must not do either).
        let map = unsafe { memmap2::MmapOptions::new().map_copy(file)? };
        // A hint for huge pages where the kernel maps page-cache folios that large: a graph
        // walk touches rows at random, and a TLB miss per row costs. Failure is ignored.
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        let (ptr, len) = (map.as_ptr(), map.len());
        Ok(Arc::new(Mapping {
            backing: Backing::File(map),
            ptr,
            len,
        }))
    }

    /// Serves from a host's buffer, kept alive by the mapping. A buffer not aligned to 16
    /// bytes (rare: allocators align to 16) is copied once into one that is.
    pub(crate) fn of_host(buf: Box<dyn AsRef<[u8]> + Send + Sync>) -> Arc<Self> {
        let bytes = (*buf).as_ref();
        let (ptr, len) = (bytes.as_ptr(), bytes.len());
        if (ptr as usize).is_multiple_of(ALIGN) {
            return Arc::new(Mapping {
                backing: Backing::Host(buf),
                ptr,
                len,
            });
        }
        let mut words = vec![Block([0; ALIGN]); len.div_ceil(ALIGN)];
        // SAFETY: `words` holds at least `len` bytes of plain bytes.
        unsafe { std::ptr::copy_nonoverlapping(ptr, words.as_mut_ptr().cast::<u8>(), len) };
        let ptr = words.as_ptr().cast::<u8>();
        Arc::new(Mapping {
            backing: Backing::Aligned(words),
            ptr,
            len,
        })
    }

    /// Whether the bytes are the host's own buffer (not a file, not a copy).
    #[cfg(test)]
    pub(crate) fn is_host_buffer(&self) -> bool {
        matches!(self.backing, Backing::Host(_))
    }

    /// Tells the kernel that `len` bytes from `ptr` (inside the mapping) are read at random,
    /// so a fault on them reads that page and not the pages around it (which, under memory
    /// pressure, would push out pages that are still wanted). Only for a mapped file; errors
    /// are ignored (it is a hint).
    pub(crate) fn advise_random(&self, ptr: *const u8, len: usize) {
        #[cfg(unix)]
        if let Backing::File(map) = &self.backing {
            let offset = (ptr as usize).wrapping_sub(self.ptr as usize);
            if offset.checked_add(len).is_some_and(|end| end <= self.len) {
                let _ = map.advise_range(memmap2::Advice::Random, offset, len);
            }
        }
        #[cfg(not(unix))]
        let _ = (ptr, len);
    }

    /// The mapped bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr..ptr+len` is owned by `backing`, which lives as long as `self` and
        // never moves its bytes (a mapping, a boxed buffer, a Vec never resized).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
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

impl<T: Clone> Clone for Buf<T> {
    /// An owned array is copied; a view is viewed again (the mapping is shared).
    fn clone(&self) -> Self {
        match self {
            Buf::Owned(v) => Buf::Owned(v.clone()),
            Buf::Mapped { _map, ptr, len } => Buf::Mapped {
                _map: Arc::clone(_map),
                ptr: *ptr,
                len: *len,
            },
        }
    }
}

impl<T: serde::Serialize> serde::Serialize for Buf<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self[..].serialize(s)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Buf<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(d).map(Buf::Owned)
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

    /// For a view: tells the kernel its bytes are read at random ([`Mapping::advise_random`]).
    pub(crate) fn advise_random(&self) {
        if let Buf::Mapped { _map, ptr, len } = self {
            _map.advise_random(ptr.cast(), len * size_of::<T>());
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

    #[test]
    fn a_host_buffer_is_used_in_place_when_aligned_and_copied_once_when_not() {
        let words: Vec<u8> = (1u32..=8).flat_map(|x| x.to_le_bytes()).collect();
        // An aligned buffer is used in place.
        struct Aligned(Vec<Block>);
        impl AsRef<[u8]> for Aligned {
            fn as_ref(&self) -> &[u8] {
                // SAFETY: two blocks of plain bytes.
                unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast(), 2 * ALIGN) }
            }
        }
        let mut host = Aligned(vec![Block([0; ALIGN]); 2]);
        host.0[0].0.copy_from_slice(&words[..16]);
        host.0[1].0.copy_from_slice(&words[16..]);
        let base = host.0.as_ptr() as usize;
        let map = Mapping::of_host(Box::new(host));
        assert!(map.is_host_buffer());
        assert_eq!(map.bytes().as_ptr() as usize, base);
        assert_eq!(&Buf::<u32>::view(&map, 4, 2).unwrap()[..], &[2, 3]);
        // A buffer that starts one byte past an aligned address is copied into aligned
        // storage, so views of it still work.
        struct Shifted(Vec<u8>);
        impl AsRef<[u8]> for Shifted {
            fn as_ref(&self) -> &[u8] {
                let start = (ALIGN - self.0.as_ptr() as usize % ALIGN) % ALIGN + 1;
                &self.0[start..start + 32]
            }
        }
        let mut raw = vec![0u8; 128];
        let start = (ALIGN - raw.as_ptr() as usize % ALIGN) % ALIGN + 1;
        raw[start..start + 32].copy_from_slice(&words);
        let map = Mapping::of_host(Box::new(Shifted(raw)));
        assert!(!map.is_host_buffer());
        assert_eq!(&Buf::<u32>::view(&map, 8, 3).unwrap()[..], &[3, 4, 5]);
    }
}
