//! AVX2+FMA and AVX-512 kernels. Each safe wrapper is only installed by
//! `available_kernels` after the CPU reported the features it needs.

use std::arch::x86_64::*;

#[inline]
unsafe fn hsum256(v: __m256) -> f32 {
    unsafe {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    unsafe {
        let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        while i + 16 <= n {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s0);
            s1 = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
                s1,
            );
            i += 16;
        }
        if i + 8 <= n {
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s0);
            i += 8;
        }
        let mut s = hsum256(_mm256_add_ps(s0, s1));
        while i < n {
            s += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        s
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn l2_avx2_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    unsafe {
        let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        while i + 16 <= n {
            let d0 = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            let d1 = _mm256_sub_ps(
                _mm256_loadu_ps(pa.add(i + 8)),
                _mm256_loadu_ps(pb.add(i + 8)),
            );
            s0 = _mm256_fmadd_ps(d0, d0, s0);
            s1 = _mm256_fmadd_ps(d1, d1, s1);
            i += 16;
        }
        if i + 8 <= n {
            let d0 = _mm256_sub_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)));
            s0 = _mm256_fmadd_ps(d0, d0, s0);
            i += 8;
        }
        let mut s = hsum256(_mm256_add_ps(s0, s1));
        while i < n {
            let d = *pa.add(i) - *pb.add(i);
            s += d * d;
            i += 1;
        }
        s
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn dot_avx512_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    unsafe {
        let mut s0 = _mm512_setzero_ps();
        while i + 16 <= n {
            s0 = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), s0);
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u16 << (n - i)) - 1;
            let x = _mm512_maskz_loadu_ps(mask, pa.add(i));
            let y = _mm512_maskz_loadu_ps(mask, pb.add(i));
            s0 = _mm512_fmadd_ps(x, y, s0);
        }
        _mm512_reduce_add_ps(s0)
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn l2_avx512_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    unsafe {
        let mut s0 = _mm512_setzero_ps();
        while i + 16 <= n {
            let d = _mm512_sub_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)));
            s0 = _mm512_fmadd_ps(d, d, s0);
            i += 16;
        }
        if i < n {
            let mask: __mmask16 = (1u16 << (n - i)) - 1;
            let d = _mm512_sub_ps(
                _mm512_maskz_loadu_ps(mask, pa.add(i)),
                _mm512_maskz_loadu_ps(mask, pb.add(i)),
            );
            s0 = _mm512_fmadd_ps(d, d, s0);
        }
        _mm512_reduce_add_ps(s0)
    }
}

/// Sum of two vectors of i32 lanes, widened to i64 (lanes never overflow within the
/// documented input ranges, their total could).
#[inline]
unsafe fn hsum2_epi32(a: __m256i, b: __m256i) -> i64 {
    let (mut x, mut y) = ([0i32; 8], [0i32; 8]);
    unsafe {
        _mm256_storeu_si256(x.as_mut_ptr() as *mut __m256i, a);
        _mm256_storeu_si256(y.as_mut_ptr() as *mut __m256i, b);
    }
    x.iter().chain(&y).map(|&v| v as i64).sum()
}

/// 16 codes widened to i16 lanes.
#[inline(always)]
unsafe fn codes16(p: *const u8) -> __m256i {
    unsafe { _mm256_cvtepu8_epi16(_mm_loadu_si128(p as *const __m128i)) }
}

#[target_feature(enable = "avx2")]
unsafe fn u8_dot_avx2_impl(q: &[i16], c: &[u8]) -> i64 {
    let n = q.len().min(c.len());
    let (pq, pc) = (q.as_ptr(), c.as_ptr());
    let mut i = 0;
    unsafe {
        let (mut s0, mut s1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        while i + 32 <= n {
            let q0 = _mm256_loadu_si256(pq.add(i) as *const __m256i);
            let q1 = _mm256_loadu_si256(pq.add(i + 16) as *const __m256i);
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(q0, codes16(pc.add(i))));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(q1, codes16(pc.add(i + 16))));
            i += 32;
        }
        if i + 16 <= n {
            let q0 = _mm256_loadu_si256(pq.add(i) as *const __m256i);
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(q0, codes16(pc.add(i))));
            i += 16;
        }
        let mut s = hsum2_epi32(s0, s1);
        while i < n {
            s += *pq.add(i) as i64 * *pc.add(i) as i64;
            i += 1;
        }
        s
    }
}

#[target_feature(enable = "avx2")]
unsafe fn u8_l2_avx2_impl(q: &[i16], c: &[u8]) -> i64 {
    let n = q.len().min(c.len());
    let (pq, pc) = (q.as_ptr(), c.as_ptr());
    let mut i = 0;
    unsafe {
        let (mut s0, mut s1) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        while i + 32 <= n {
            let d0 = _mm256_sub_epi16(
                _mm256_loadu_si256(pq.add(i) as *const __m256i),
                codes16(pc.add(i)),
            );
            let d1 = _mm256_sub_epi16(
                _mm256_loadu_si256(pq.add(i + 16) as *const __m256i),
                codes16(pc.add(i + 16)),
            );
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(d0, d0));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(d1, d1));
            i += 32;
        }
        if i + 16 <= n {
            let d0 = _mm256_sub_epi16(
                _mm256_loadu_si256(pq.add(i) as *const __m256i),
                codes16(pc.add(i)),
            );
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(d0, d0));
            i += 16;
        }
        let mut s = hsum2_epi32(s0, s1);
        while i < n {
            let d = *pq.add(i) as i64 - *pc.add(i) as i64;
            s += d * d;
            i += 1;
        }
        s
    }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn i8_dot_avx2_impl(q: &[f32], c: &[i8]) -> f32 {
    let n = q.len().min(c.len());
    let (pq, pc) = (q.as_ptr(), c.as_ptr());
    let mut i = 0;
    unsafe {
        let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        // 16 codes per step: two 8-byte loads widened to 8 i32 lanes, then to f32.
        while i + 16 <= n {
            let c0 = _mm256_cvtepi8_epi32(_mm_loadl_epi64(pc.add(i).cast()));
            let c1 = _mm256_cvtepi8_epi32(_mm_loadl_epi64(pc.add(i + 8).cast()));
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i)), _mm256_cvtepi32_ps(c0), s0);
            s1 = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i + 8)), _mm256_cvtepi32_ps(c1), s1);
            i += 16;
        }
        if i + 8 <= n {
            let c0 = _mm256_cvtepi8_epi32(_mm_loadl_epi64(pc.add(i).cast()));
            s0 = _mm256_fmadd_ps(_mm256_loadu_ps(pq.add(i)), _mm256_cvtepi32_ps(c0), s0);
            i += 8;
        }
        let mut s = hsum256(_mm256_add_ps(s0, s1));
        while i < n {
            s += *pq.add(i) * *pc.add(i) as f32;
            i += 1;
        }
        s
    }
}

pub(super) fn i8_dot_avx2(q: &[f32], c: &[i8]) -> f32 {
    // SAFETY: installed only after avx2 and fma were detected (AVX-512 CPUs have both).
    unsafe { i8_dot_avx2_impl(q, c) }
}

pub(super) fn u8_dot_avx2(q: &[i16], c: &[u8]) -> i64 {
    // SAFETY: installed only after avx2 was detected (AVX-512 CPUs have it).
    unsafe { u8_dot_avx2_impl(q, c) }
}
pub(super) fn u8_l2_avx2(q: &[i16], c: &[u8]) -> i64 {
    // SAFETY: as above.
    unsafe { u8_l2_avx2_impl(q, c) }
}

// Safe entry points, installed only when the features were detected.
pub(super) fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only reachable through `available_kernels`, which checked avx2 and fma.
    unsafe { dot_avx2_impl(a, b) }
}
pub(super) fn l2_avx2(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: as above.
    unsafe { l2_avx2_impl(a, b) }
}
pub(super) fn dot_avx512(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only reachable through `available_kernels`, which checked avx512f.
    unsafe { dot_avx512_impl(a, b) }
}
pub(super) fn l2_avx512(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: as above.
    unsafe { l2_avx512_impl(a, b) }
}

/// Lanes a kernel reads as f32: f32 loaded as is, f16 bits widened (F16C / AVX-512F).
trait Wide: super::half::Lane {
    /// Eight lanes from `p`.
    unsafe fn load8(p: *const Self) -> __m256;
    /// Sixteen lanes from `p`.
    unsafe fn load16(p: *const Self) -> __m512;
}
impl Wide for f32 {
    #[inline(always)]
    unsafe fn load8(p: *const f32) -> __m256 {
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load16(p: *const f32) -> __m512 {
        unsafe { _mm512_loadu_ps(p) }
    }
}
impl Wide for u16 {
    #[inline(always)]
    unsafe fn load8(p: *const u16) -> __m256 {
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
    }
    #[inline(always)]
    unsafe fn load16(p: *const u16) -> __m512 {
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)) }
    }
}

/// `sum(a[i] * b[i])` (`L2 = false`) or `sum((a[i] - b[i])^2)` (`L2 = true`) with at least
/// one side f16, 16 lanes per step in two accumulators.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn mixed_avx2<A: Wide, B: Wide, const L2: bool>(a: &[A], b: &[B]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    unsafe {
        let (mut s0, mut s1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        while i + 16 <= n {
            s0 = step8::<L2>(s0, A::load8(pa.add(i)), B::load8(pb.add(i)));
            s1 = step8::<L2>(s1, A::load8(pa.add(i + 8)), B::load8(pb.add(i + 8)));
            i += 16;
        }
        if i + 8 <= n {
            s0 = step8::<L2>(s0, A::load8(pa.add(i)), B::load8(pb.add(i)));
            i += 8;
        }
        hsum256(_mm256_add_ps(s0, s1)) + tail::<A, B, L2>(&a[i..n], &b[i..n])
    }
}

/// As [`mixed_avx2`], 32 lanes per step on AVX-512F (which includes the f16 widening).
#[target_feature(enable = "avx512f")]
unsafe fn mixed_avx512<A: Wide, B: Wide, const L2: bool>(a: &[A], b: &[B]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    unsafe {
        let (mut s0, mut s1) = (_mm512_setzero_ps(), _mm512_setzero_ps());
        while i + 32 <= n {
            s0 = step16::<L2>(s0, A::load16(pa.add(i)), B::load16(pb.add(i)));
            s1 = step16::<L2>(s1, A::load16(pa.add(i + 16)), B::load16(pb.add(i + 16)));
            i += 32;
        }
        if i + 16 <= n {
            s0 = step16::<L2>(s0, A::load16(pa.add(i)), B::load16(pb.add(i)));
            i += 16;
        }
        _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) + tail::<A, B, L2>(&a[i..n], &b[i..n])
    }
}

/// `s + x·y`, or `s + (x - y)²` under L2.
#[inline(always)]
unsafe fn step8<const L2: bool>(s: __m256, x: __m256, y: __m256) -> __m256 {
    unsafe {
        if L2 {
            let d = _mm256_sub_ps(x, y);
            _mm256_fmadd_ps(d, d, s)
        } else {
            _mm256_fmadd_ps(x, y, s)
        }
    }
}

/// [`step8`] on 16 lanes.
#[inline(always)]
unsafe fn step16<const L2: bool>(s: __m512, x: __m512, y: __m512) -> __m512 {
    unsafe {
        if L2 {
            let d = _mm512_sub_ps(x, y);
            _mm512_fmadd_ps(d, d, s)
        } else {
            _mm512_fmadd_ps(x, y, s)
        }
    }
}

/// The last few lanes, one at a time.
#[inline(always)]
fn tail<A: Wide, B: Wide, const L2: bool>(a: &[A], b: &[B]) -> f32 {
    if L2 {
        super::half::l2_scalar(a, b)
    } else {
        super::half::dot_scalar(a, b)
    }
}

/// The f16 kernels of one instruction set: f32 × f16 and f16 × f16, dot and squared L2.
macro_rules! half_kernels {
    ($imp:ident, $h_dot:ident, $h_l2:ident, $hh_dot:ident, $hh_l2:ident) => {
        pub(super) fn $h_dot(q: &[f32], h: &[u16]) -> f32 {
            // SAFETY: installed by `available_kernels` only after the features `$imp`
            // enables were detected.
            unsafe { $imp::<f32, u16, false>(q, h) }
        }
        pub(super) fn $h_l2(q: &[f32], h: &[u16]) -> f32 {
            // SAFETY: as above.
            unsafe { $imp::<f32, u16, true>(q, h) }
        }
        pub(super) fn $hh_dot(a: &[u16], b: &[u16]) -> f32 {
            // SAFETY: as above.
            unsafe { $imp::<u16, u16, false>(a, b) }
        }
        pub(super) fn $hh_l2(a: &[u16], b: &[u16]) -> f32 {
            // SAFETY: as above.
            unsafe { $imp::<u16, u16, true>(a, b) }
        }
    };
}
half_kernels!(mixed_avx2, h_dot_avx2, h_l2_avx2, hh_dot_avx2, hh_l2_avx2);
half_kernels!(
    mixed_avx512,
    h_dot_avx512,
    h_l2_avx512,
    hh_dot_avx512,
    hh_l2_avx512
);
