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

/// Inner product of two equally long slices.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
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

/// Squared Euclidean distance of two equally long slices.
#[inline]
pub fn l2_sq(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
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

/// Euclidean norm.
#[inline]
pub fn norm(a: &[f32]) -> f32 {
    dot(a, a).sqrt()
}

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
