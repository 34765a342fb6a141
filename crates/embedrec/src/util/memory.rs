//! Memory advice to the operating system: huge pages for large arrays, freed heap pages
//! handed back after large batches.

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
/// reallocation; glibc keeps the freed holes mapped (docs/benchmarks.md has the resident
/// memory measured). `malloc_trim` hands those pages back; it changes no allocator setting.
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the process heap; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
