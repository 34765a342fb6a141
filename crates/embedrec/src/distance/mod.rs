//! Distance kernels, written as fixed-width chunked loops so that the compiler vectorises them.

use serde::{Deserialize, Serialize};

/// How similarity between vectors is measured. Scores returned by the engine are always
/// "higher is better".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Metric {
    /// Cosine similarity in `[-1, 1]`. Zero vectors are rejected.
    Cosine,
    /// Inner (dot) product, unnormalised.
    Dot,
    /// Euclidean distance; the score is the *negated squared* L2 distance.
    L2,
}

impl Metric {
    /// Parses `"cosine"`, `"dot"` (also `"ip"`, `"inner_product"`) or `"l2"` (also `"euclidean"`).
    pub fn parse(name: &str) -> crate::Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "cosine" | "cos" => Ok(Metric::Cosine),
            "dot" | "ip" | "inner_product" | "innerproduct" => Ok(Metric::Dot),
            "l2" | "euclidean" => Ok(Metric::L2),
            _ => Err(crate::Error::invalid(
                "metric",
                "one of \"cosine\", \"dot\", \"l2\"",
                format!("{name:?}"),
            )),
        }
    }

    /// The canonical lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
            Metric::L2 => "l2",
        }
    }
}

const LANES: usize = 8;

/// Inner product of two equally long slices, on the fastest kernel this CPU supports.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    (kernels().dot)(&a[..n], &b[..n])
}

/// Squared Euclidean distance of two equally long slices, on the fastest kernel available.
#[inline]
pub fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    (kernels().l2_sq)(&a[..n], &b[..n])
}

/// Name of the distance kernels chosen at run time for this CPU: `"avx512"`, `"avx2+fma"`,
/// `"neon"` or `"scalar"`.
pub fn simd_level() -> &'static str {
    kernels().name
}

/// A set of kernels for one instruction set. Every function takes equally long slices.
#[derive(Clone, Copy)]
pub(crate) struct Kernels {
    pub(crate) name: &'static str,
    pub(crate) dot: fn(&[f32], &[f32]) -> f32,
    pub(crate) l2_sq: fn(&[f32], &[f32]) -> f32,
    /// `sum(q[i] * c[i])` of a quantised query against 8-bit codes; exact while
    /// `|q[i]| <= 1023` and the length is at most [`MAX_DIM`](crate::MAX_DIM) (each i32
    /// lane then sums at most 4,096 products of at most 260,865).
    pub(crate) u8_dot: fn(&[i16], &[u8]) -> i64,
    /// `sum(q[i] * c[i])` of an f32 query against signed 8-bit codes (the int8 vector
    /// storage: a stored vector is its codes times one scale).
    pub(crate) i8_dot: fn(&[f32], &[i8]) -> f32,
    /// `sum((q[i] - c[i])^2)`; exact while `-128 <= q[i] <= 383` and the length is at most
    /// [`MAX_DIM`](crate::MAX_DIM) (each i32 lane sums at most 4,096 squares of at most 383).
    pub(crate) u8_l2: fn(&[i16], &[u8]) -> i64,
    /// `sum(q[i] * h[i])` of an f32 query against an f16 row (as bits), accumulated in f32.
    pub(crate) h_dot: fn(&[f32], &[u16]) -> f32,
    /// `sum((q[i] - h[i])^2)` of an f32 query against an f16 row.
    pub(crate) h_l2: fn(&[f32], &[u16]) -> f32,
    /// `sum(a[i] * b[i])` of two f16 rows, accumulated in f32.
    pub(crate) hh_dot: fn(&[u16], &[u16]) -> f32,
    /// `sum((a[i] - b[i])^2)` of two f16 rows.
    pub(crate) hh_l2: fn(&[u16], &[u16]) -> f32,
}

static KERNELS: std::sync::OnceLock<Kernels> = std::sync::OnceLock::new();

#[inline]
pub(crate) fn kernels() -> &'static Kernels {
    KERNELS.get_or_init(detect)
}

/// Every kernel set this CPU can run, best first (the scalar set is always last). The
/// environment variable `EMBEDREC_SIMD=scalar` (read once, at first use) forces the scalar set.
pub(crate) fn available_kernels() -> Vec<Kernels> {
    #[allow(unused_mut)]
    let mut v: Vec<Kernels> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            v.push(Kernels {
                name: "avx512",
                dot: x86::dot_avx512,
                l2_sq: x86::l2_avx512,
                u8_dot: x86::u8_dot_avx2,
                u8_l2: x86::u8_l2_avx2,
                i8_dot: x86::i8_dot_avx2,
                h_dot: x86::h_dot_avx512,
                h_l2: x86::h_l2_avx512,
                hh_dot: x86::hh_dot_avx512,
                hh_l2: x86::hh_l2_avx512,
            });
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            let mut k = Kernels {
                name: "avx2+fma",
                dot: x86::dot_avx2,
                l2_sq: x86::l2_avx2,
                u8_dot: x86::u8_dot_avx2,
                u8_l2: x86::u8_l2_avx2,
                i8_dot: x86::i8_dot_avx2,
                ..SCALAR
            };
            if std::arch::is_x86_feature_detected!("f16c") {
                (k.h_dot, k.h_l2, k.hh_dot, k.hh_l2) = (
                    x86::h_dot_avx2,
                    x86::h_l2_avx2,
                    x86::hh_dot_avx2,
                    x86::hh_l2_avx2,
                );
            }
            v.push(k);
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            v.push(Kernels {
                name: "neon",
                dot: arm::dot_neon,
                l2_sq: arm::l2_neon,
                u8_dot: u8_dot_scalar,
                u8_l2: u8_l2_scalar,
                i8_dot: i8_dot_scalar,
                ..SCALAR
            });
        }
    }
    v.push(SCALAR);
    v
}

const SCALAR: Kernels = Kernels {
    name: "scalar",
    dot: dot_scalar,
    l2_sq: l2_sq_scalar,
    u8_dot: u8_dot_scalar,
    u8_l2: u8_l2_scalar,
    i8_dot: i8_dot_scalar,
    h_dot: half::dot_scalar::<f32, u16>,
    h_l2: half::l2_scalar::<f32, u16>,
    hh_dot: half::dot_scalar::<u16, u16>,
    hh_l2: half::l2_scalar::<u16, u16>,
};

/// Portable `sum(q[i] * c[i])` of f32s against i8 codes, in fixed-width chunks.
pub(crate) fn i8_dot_scalar(q: &[f32], c: &[i8]) -> f32 {
    let n = q.len().min(c.len());
    let (q, c) = (&q[..n], &c[..n]);
    let mut acc = [0.0f32; LANES];
    let chunks = n / LANES;
    for k in 0..chunks {
        for l in 0..LANES {
            acc[l] += q[k * LANES + l] * c[k * LANES + l] as f32;
        }
    }
    let mut tail = 0.0f32;
    for i in chunks * LANES..n {
        tail += q[i] * c[i] as f32;
    }
    acc.iter().sum::<f32>() + tail
}

/// Portable `sum(q[i] * c[i])` (integer, so every kernel gives the same result).
pub(crate) fn u8_dot_scalar(q: &[i16], c: &[u8]) -> i64 {
    q.iter().zip(c).map(|(&a, &b)| a as i64 * b as i64).sum()
}

/// Portable `sum((q[i] - c[i])^2)`.
pub(crate) fn u8_l2_scalar(q: &[i16], c: &[u8]) -> i64 {
    q.iter()
        .zip(c)
        .map(|(&a, &b)| {
            let d = a as i64 - b as i64;
            d * d
        })
        .sum()
}

fn detect() -> Kernels {
    if std::env::var("EMBEDREC_SIMD").is_ok_and(|v| v.eq_ignore_ascii_case("scalar")) {
        return SCALAR;
    }
    available_kernels()[0]
}

/// Portable inner product: fixed-width chunks the compiler can vectorise for the baseline ISA.
pub(crate) fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let chunks = n / LANES;
    for c in 0..chunks {
        let x = &a[c * LANES..c * LANES + LANES];
        let y = &b[c * LANES..c * LANES + LANES];
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0f32;
    for i in chunks * LANES..n {
        tail += a[i] * b[i];
    }
    acc.iter().sum::<f32>() + tail
}

/// Portable squared L2 distance.
pub(crate) fn l2_sq_scalar(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; LANES];
    let chunks = n / LANES;
    for c in 0..chunks {
        let x = &a[c * LANES..c * LANES + LANES];
        let y = &b[c * LANES..c * LANES + LANES];
        for l in 0..LANES {
            let d = x[l] - y[l];
            acc[l] += d * d;
        }
    }
    let mut tail = 0.0f32;
    for i in chunks * LANES..n {
        let d = a[i] - b[i];
        tail += d * d;
    }
    acc.iter().sum::<f32>() + tail
}

pub(crate) mod half;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(target_arch = "aarch64")]
mod arm;

/// Euclidean norm.
#[inline]
pub fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

#[cfg(feature = "hnsw-rs")]
pub(crate) use hnsw_distances::*;

#[cfg(feature = "hnsw-rs")]
mod hnsw_distances {
    use super::{dot, l2_sq};

    /// Distance given to `hnsw_rs` for cosine: vectors are stored unit-normalised, so
    /// `1 - dot` is the cosine distance; clamped at 0 because hnsw_rs asserts non-negative distances.
    #[derive(Clone, Copy, Debug, Default)]
    pub(crate) struct HnswCosine;
    impl anndists::dist::Distance<f32> for HnswCosine {
        fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
            (1.0 - dot(va, vb)).max(0.0)
        }
    }

    /// Distance given to `hnsw_rs` for inner product. hnsw_rs asserts distances are
    /// non-negative, so the dot product `s` is mapped through a positive, strictly decreasing,
    /// continuous function: `1 - s` for `s <= 0`, `1 / (1 + s)` for `s > 0`. Orderings (which is
    /// all HNSW uses) are preserved; final scores are recomputed exactly by the engine.
    #[derive(Clone, Copy, Debug, Default)]
    pub(crate) struct HnswDot;
    impl anndists::dist::Distance<f32> for HnswDot {
        fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
            dot_to_distance(dot(va, vb))
        }
    }

    #[inline]
    pub(crate) fn dot_to_distance(s: f32) -> f32 {
        if s <= 0.0 { 1.0 - s } else { 1.0 / (1.0 + s) }
    }

    /// Squared L2 for hnsw_rs (monotone in L2, cheaper than the square root).
    #[derive(Clone, Copy, Debug, Default)]
    pub(crate) struct HnswL2;
    impl anndists::dist::Distance<f32> for HnswL2 {
        fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
            l2_sq(va, vb)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn kernels_match_naive_for_all_lengths() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            assert!((dot(&a, &b) - naive_dot(&a, &b)).abs() < 1e-4, "n={n}");
            let l2: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            assert!((l2_sq(&a, &b) - l2).abs() < 1e-4, "n={n}");
        }
    }

    #[test]
    fn every_available_kernel_matches_scalar() {
        let kernels = available_kernels();
        assert_eq!(kernels.last().unwrap().name, "scalar");
        let mut rng = crate::util::rng::SplitMix64(7);
        for k in &kernels {
            for n in (0..70).chain([127, 128, 129, 255, 256, 257, 383, 384, 768, 1000, 1536]) {
                let a: Vec<f32> = (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect();
                let b: Vec<f32> = (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect();
                let (d, ds) = ((k.dot)(&a, &b), dot_scalar(&a, &b));
                let (l, ls) = ((k.l2_sq)(&a, &b), l2_sq_scalar(&a, &b));
                let tol = 1e-5 * (n as f32 + 1.0);
                assert!((d - ds).abs() <= tol, "{} dot n={n}: {d} vs {ds}", k.name);
                assert!((l - ls).abs() <= tol, "{} l2 n={n}: {l} vs {ls}", k.name);
                // Unaligned starts must work as well.
                if n > 3 {
                    let (d1, ds1) = ((k.dot)(&a[1..], &b[3..]), dot_scalar(&a[1..], &b[3..]));
                    assert!((d1 - ds1).abs() <= tol, "{} unaligned n={n}", k.name);
                }
                // f32 x i8: against the plain f64 sum, extremes of the code range included.
                let c: Vec<i8> = (0..n)
                    .map(|i| match i % 4 {
                        0 => -127,
                        1 => 127,
                        _ => (rng.below(255) as i32 - 127) as i8,
                    })
                    .collect();
                let wide: f64 = a.iter().zip(&c).map(|(&x, &y)| x as f64 * y as f64).sum();
                let tol8 = 1e-4 * (n as f64 + 1.0) * 127.0;
                for (got, what) in [
                    ((k.i8_dot)(&a, &c), "i8_dot"),
                    (i8_dot_scalar(&a, &c), "i8_dot_scalar"),
                ] {
                    assert!(
                        (got as f64 - wide).abs() <= tol8,
                        "{} {what} n={n}: {got} vs {wide}",
                        k.name
                    );
                }
                if n > 3 {
                    let (g, w) = (
                        (k.i8_dot)(&a[1..], &c[3..]),
                        i8_dot_scalar(&a[1..], &c[3..]),
                    );
                    assert!(
                        (g - w).abs() as f64 <= tol8,
                        "{} i8_dot unaligned n={n}",
                        k.name
                    );
                }
            }
        }
        for k in &kernels {
            // f16 kernels: against f64 sums of the widened values, for every length and
            // alignment, large and tiny (subnormal) values included.
            for n in (0..70).chain([127, 128, 129, 383, 384, 768, 1000, 1536]) {
                let q: Vec<f32> = (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect();
                let h = |rng: &mut crate::util::rng::SplitMix64, i: usize| {
                    half::to_f16(match i % 7 {
                        0 => 60000.0 * (rng.uniform() - 0.5),
                        1 => 1e-6 * rng.uniform(),
                        _ => rng.uniform() * 2.0 - 1.0,
                    })
                };
                let a: Vec<u16> = (0..n).map(|i| h(&mut rng, i)).collect();
                let b: Vec<u16> = (0..n).map(|i| h(&mut rng, i + 3)).collect();
                let w = |x: &[u16]| x.iter().map(|&v| half::from_f16(v) as f64).collect();
                let (wa, wb): (Vec<f64>, Vec<f64>) = (w(&a), w(&b));
                let qd: Vec<f64> = q.iter().map(|&x| x as f64).collect();
                let dot64 = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f64>();
                let l264 = |x: &[f64], y: &[f64]| {
                    x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum::<f64>()
                };
                let cases: [(f32, f64, &str); 4] = [
                    ((k.h_dot)(&q, &a), dot64(&qd, &wa), "h_dot"),
                    ((k.h_l2)(&q, &a), l264(&qd, &wa), "h_l2"),
                    ((k.hh_dot)(&a, &b), dot64(&wa, &wb), "hh_dot"),
                    ((k.hh_l2)(&a, &b), l264(&wa, &wb), "hh_l2"),
                ];
                for (got, want, what) in cases {
                    let scale = want.abs().max(1.0);
                    assert!(
                        (got as f64 - want).abs() <= 1e-5 * scale * (n as f64 + 1.0),
                        "{} {what} n={n}: {got} vs {want}",
                        k.name
                    );
                }
                if n > 3 {
                    let (g, s) = (
                        (k.hh_l2)(&a[1..], &b[3..]),
                        (SCALAR.hh_l2)(&a[1..], &b[3..]),
                    );
                    assert!(
                        (g - s).abs() <= 1e-5 * s.abs().max(1.0) * n as f32,
                        "{}",
                        k.name
                    );
                    let (g, s) = (
                        (k.h_dot)(&q[3..], &a[1..]),
                        (SCALAR.h_dot)(&q[3..], &a[1..]),
                    );
                    assert!(
                        (g - s).abs() <= 1e-5 * s.abs().max(1.0) * n as f32,
                        "{}",
                        k.name
                    );
                }
            }
        }
        for k in &kernels {
            // Integer kernels are exact: every set must agree to the unit, at the extremes of
            // the documented input ranges too, and on lengths up to MAX_DIM (no overflow).
            for n in (0..70).chain([127, 128, 129, 300, crate::MAX_DIM]) {
                let c: Vec<u8> = (0..n).map(|_| rng.below(256) as u8).collect();
                for extreme in [false, true] {
                    let pick = |rng: &mut crate::util::rng::SplitMix64, lo: i64, hi: i64| -> i16 {
                        if extreme {
                            if rng.below(2) == 0 {
                                lo as i16
                            } else {
                                hi as i16
                            }
                        } else {
                            (lo + rng.below((hi - lo + 1) as usize) as i64) as i16
                        }
                    };
                    let qd: Vec<i16> = (0..n).map(|_| pick(&mut rng, -1023, 1023)).collect();
                    let ql: Vec<i16> = (0..n).map(|_| pick(&mut rng, -128, 383)).collect();
                    let wide_dot: i64 = qd.iter().zip(&c).map(|(&a, &b)| a as i64 * b as i64).sum();
                    let wide_l2: i64 = ql
                        .iter()
                        .zip(&c)
                        .map(|(&a, &b)| (a as i64 - b as i64).pow(2))
                        .sum();
                    assert_eq!((k.u8_dot)(&qd, &c), wide_dot, "{} u8_dot n={n}", k.name);
                    assert_eq!((k.u8_l2)(&ql, &c), wide_l2, "{} u8_l2 n={n}", k.name);
                    if n > 3 {
                        assert_eq!(
                            (k.u8_l2)(&ql[1..], &c[3..]),
                            u8_l2_scalar(&ql[1..], &c[3..]),
                            "{} unaligned n={n}",
                            k.name
                        );
                    }
                }
            }
        }
        assert!(kernels.iter().any(|k| k.name == simd_level()));
    }

    #[cfg(feature = "hnsw-rs")]
    #[test]
    fn dot_distance_is_positive_and_decreasing() {
        let mut prev = f32::INFINITY;
        for i in -100..100 {
            let s = i as f32 * 0.5;
            let d = dot_to_distance(s);
            assert!(d > 0.0);
            assert!(d < prev, "not decreasing at {s}");
            prev = d;
        }
    }

    #[test]
    fn metric_parse() {
        assert_eq!(Metric::parse("Cosine").unwrap(), Metric::Cosine);
        assert_eq!(Metric::parse("ip").unwrap(), Metric::Dot);
        assert_eq!(Metric::parse("euclidean").unwrap(), Metric::L2);
        let e = Metric::parse("manhattan").unwrap_err().to_string();
        assert!(e.contains("manhattan") && e.contains("cosine"), "{e}");
    }
}
