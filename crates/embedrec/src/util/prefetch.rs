//! CPU prefetch hints.

/// The CPU cache level a prefetch fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheLevel {
    /// The first level: for data about to be used.
    L1,
    /// The second level: for data wanted a little later. A core can have more misses in
    /// flight towards L2 than towards L1, so requesting far ahead into L2 overlaps more of
    /// the memory latency without stalling on a full set of L1 miss buffers.
    L2,
}

/// Prefetches `lines` cache lines from `p` into L1 (a no-op off x86_64). Prefetches never
/// fault.
#[inline(always)]
pub(crate) fn prefetch_ptr(p: *const u8, lines: usize) {
    prefetch_to(p, lines, CacheLevel::L1);
}

/// Prefetches `lines` cache lines from `p` into `to` (a no-op off x86_64).
#[inline(always)]
pub(crate) fn prefetch_to(p: *const u8, lines: usize, to: CacheLevel) {
    #[cfg(target_arch = "x86_64")]
    for i in 0..lines {
        // SAFETY: `_mm_prefetch` is a hint; it never faults, whatever the address.
        #[allow(unused_unsafe)]
        unsafe {
            use std::arch::x86_64::{_MM_HINT_T0, _MM_HINT_T1, _mm_prefetch};
            let at = p.wrapping_add(64 * i) as *const i8;
            match to {
                CacheLevel::L1 => _mm_prefetch::<_MM_HINT_T0>(at),
                CacheLevel::L2 => _mm_prefetch::<_MM_HINT_T1>(at),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, lines, to);
}
