//! IEEE 754 half-precision (f16) values, held as their `u16` bits: conversions and the
//! portable kernels that score f32 queries or f16 rows against f16 rows (accumulating in f32).

/// The largest finite f16 value.
pub const F16_MAX: f32 = 65504.0;

/// The smallest f32 magnitude that does not round to zero in f16: the next float above 2⁻²⁵
/// (half the smallest subnormal, which rounds to zero under round-to-nearest-even).
pub const F16_MIN_NONZERO: f32 = f32::from_bits((102 << 23) + 1);

/// `x` rounded to the nearest f16 (ties to even), as bits. Magnitudes above [`F16_MAX`]
/// become infinities: callers validate the range first.
#[inline]
pub fn to_f16(x: f32) -> u16 {
    half::f16::from_f32(x).to_bits()
}

/// The f32 value of f16 bits (exact).
#[inline]
pub fn from_f16(h: u16) -> f32 {
    half::f16::from_bits(h).to_f32()
}

const LANES: usize = 8;

/// A value a kernel reads as f32: an f32 itself, or f16 bits.
pub(crate) trait Lane: Copy {
    fn f32(self) -> f32;
}
impl Lane for f32 {
    #[inline(always)]
    fn f32(self) -> f32 {
        self
    }
}
impl Lane for u16 {
    #[inline(always)]
    fn f32(self) -> f32 {
        from_f16(self)
    }
}

/// Portable `sum(a[i] * b[i])` with either side f32 or f16, in fixed-width chunks.
pub(crate) fn dot_scalar<A: Lane, B: Lane>(a: &[A], b: &[B]) -> f32 {
    fold(a, b, |x, y| x * y)
}

/// Portable `sum((a[i] - b[i])^2)` with either side f32 or f16.
pub(crate) fn l2_scalar<A: Lane, B: Lane>(a: &[A], b: &[B]) -> f32 {
    fold(a, b, |x, y| (x - y) * (x - y))
}

#[inline(always)]
fn fold<A: Lane, B: Lane>(a: &[A], b: &[B], f: impl Fn(f32, f32) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let chunks = n / LANES;
    for c in 0..chunks {
        for (l, x) in acc.iter_mut().enumerate() {
            let i = c * LANES + l;
            *x += f(a[i].f32(), b[i].f32());
        }
    }
    let mut tail = 0.0f32;
    for i in chunks * LANES..n {
        tail += f(a[i].f32(), b[i].f32());
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_to_nearest_and_keep_the_range() {
        for x in [
            0.0f32, 1.0, -2.5, 0.1, 1e-3, 65504.0, -65504.0, 6.1e-5, 1e-7,
        ] {
            let back = from_f16(to_f16(x));
            assert!((back - x).abs() <= x.abs() / 1024.0 + 6e-8, "{x} -> {back}");
        }
        assert_eq!(from_f16(to_f16(F16_MAX)), F16_MAX);
        assert!(from_f16(to_f16(70000.0)).is_infinite());
        assert_ne!(to_f16(F16_MIN_NONZERO) & 0x7fff, 0);
        assert_eq!(to_f16(2.0f32.powi(-25)) & 0x7fff, 0);
    }
}
