//! One-bit codes of the index vectors (the sign of each component around a centre, in the
//! manner of RaBitQ), for graph traversal in 1/32 of the f32 vectors' memory.
//!
//! Fitting takes the centre `c` (the mean of the vectors fitted on). A vector `x` becomes
//! `r = R (x − c)`, `R` a random orthogonal transform (`rotation.rs`: sign flips and
//! Hadamard transforms over the vector padded to a power of two, `D` components), stored as
//! the signs of its components (`b_i = r_i > 0`) and two floats: `w = |r|² / Σ|r_i|` and
//! `|r|²`. With `ō = (2b − 1)/√D` the sign vector's unit
//! direction and `o = r/|r|`, RaBitQ's estimator `⟨u, o⟩ ≈ ⟨u, ō⟩ / ⟨ō, o⟩` gives
//! `⟨u, r⟩ ≈ w · (2 Σ_{b_i=1} u_i − Σ u_i)`, which scores a query `q`:
//!
//! - inner product / cosine: `q·x = q·c + (Rq)·r`, with `u = Rq`;
//! - L2: `|q − x|² = |q − c|² + |r|² − 2 R(q − c)·r`, with `u = R(q − c)`.
//!
//! `Σ_{b_i=1} u_i` is read from tables of the 16 subset sums of each 4 components of `u`,
//! built once per query: a lookup per 4 components. The estimate only steers the walk;
//! the candidates a search keeps are re-scored from the catalog's f32 vectors, so returned
//! scores are exact, and a wider search (`ef`) buys back the recall the coarse codes cost.
//! The rotation is what makes the estimate hold whatever the data: it spreads each
//! residual's energy evenly over the components, where raw embeddings often put much of it on
//! a few axes (on such data the unrotated signs lose a third of the true neighbours). Codes
//! written before the rotation existed (magic `B1C1`) keep signs of the raw residual over
//! `dim` components and load as they are.

use super::code_rows::{CodeRows, read_floats, read_head, write_head};
use super::rotation::Rotation;
use crate::Metric;
use crate::store::Catalog;

pub(crate) struct BitCodes {
    dim: usize,
    /// Seed of the rotation; `None` for the unrotated layout (`B1C1`).
    seed: Option<u64>,
    /// Empty until fitted.
    centre: Vec<f32>,
    /// Drawn from `seed` when fitted (its size follows `dim`, which a file's centre bounds).
    rotation: Option<Rotation>,
    /// One row per slot: its level-0 link list, then `w` and `|r|²` (little-endian f32, as
    /// in the file) and [`BitCodes::coded`] sign bits (component `d` is bit `d % 8` of byte `d / 8`).
    rows: CodeRows,
}

impl std::fmt::Debug for BitCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BitCodes")
            .field("dim", &self.dim)
            .field("rows", &self.rows.len())
            .field("fitted", &self.is_fitted())
            .finish()
    }
}

/// Bytes before the sign bits in a body: `w` and `|r|²`.
const HEAD: usize = 8;

/// The rotation seed of new codes (a file records it, so it can change without breaking
/// older files).
const SEED: u64 = 0x0b17_c0de_5eed_0001;

impl BitCodes {
    /// Magic of its codes part of a graph section (rotated residuals).
    pub(super) const MAGIC: &[u8; 4] = b"B1C2";
    /// Magic of the unrotated layout, still read.
    pub(super) const MAGIC_PLAIN: &[u8; 4] = b"B1C1";

    /// Unfitted codes of `dim` components whose rows lead with `links` link entries.
    pub(crate) fn new(dim: usize, links: usize) -> Self {
        Self::with_layout(dim, links, Some(SEED))
    }

    /// Unfitted codes of either layout: rotated with `seed`, or unrotated (`None`).
    fn with_layout(dim: usize, links: usize, seed: Option<u64>) -> Self {
        let coded = Self::coded_len(dim, seed);
        BitCodes {
            dim,
            seed,
            centre: Vec::new(),
            rotation: None,
            rows: CodeRows::new(links, HEAD + coded.div_ceil(8)),
        }
    }

    /// Sets the centre, drawing the rotation of a rotated layout.
    fn set_centre(&mut self, centre: Vec<f32>) {
        self.rotation = self.seed.map(|s| Rotation::new(self.dim, s));
        self.centre = centre;
    }

    /// Components the sign bits cover: the rotation's padded length, or `dim` for the
    /// unrotated layout.
    fn coded_len(dim: usize, seed: Option<u64>) -> usize {
        seed.map_or(dim, |_| Rotation::padded(dim))
    }

    /// Components the sign bits of these codes cover.
    fn coded(&self) -> usize {
        Self::coded_len(self.dim, self.seed)
    }

    /// `v` (`dim` components) in the coded space: rotated, or as it is.
    fn coded_space(&self, v: Vec<f32>) -> Vec<f32> {
        match &self.rotation {
            Some(r) => {
                let mut out = vec![0.0; r.len()];
                r.apply(&v, &mut out);
                out
            }
            None => v,
        }
    }

    /// Bytes of the fitted parameters (centre and rotation signs).
    pub(super) fn param_bytes(&self) -> usize {
        self.dim * 4 + self.rotation.as_ref().map_or(0, |r| r.bytes())
    }

    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    pub(crate) fn is_fitted(&self) -> bool {
        self.centre.len() == self.dim
    }

    pub(super) fn rows(&self) -> &CodeRows {
        &self.rows
    }

    pub(super) fn rows_mut(&mut self) -> &mut CodeRows {
        &mut self.rows
    }

    /// Fits the centre: the mean of these slots' index vectors.
    pub(crate) fn fit(&mut self, cat: &Catalog, slots: &[u32]) {
        let mut sum = vec![0.0f64; self.dim];
        for &s in slots {
            for (a, &x) in sum.iter_mut().zip(cat.index_vector_ref(s).iter()) {
                *a += x as f64;
            }
        }
        let n = slots.len().max(1) as f64;
        self.set_centre(sum.iter().map(|a| (a / n) as f32).collect());
    }

    /// Encodes one slot's index vector (its row exists).
    pub(crate) fn encode(&mut self, cat: &Catalog, slot: u32) {
        let v = cat.index_vector_ref(slot);
        let residual: Vec<f32> = v.iter().zip(&self.centre).map(|(x, c)| x - c).collect();
        let residual = self.coded_space(residual);
        let body = self.rows.body_mut(slot);
        let (head, bits) = body.split_at_mut(HEAD);
        bits.fill(0);
        let (mut sq, mut abs) = (0.0f64, 0.0f64);
        for (d, &r) in residual.iter().enumerate() {
            sq += (r as f64) * (r as f64);
            abs += (r as f64).abs();
            if r > 0.0 {
                bits[d / 8] |= 1 << (d % 8);
            }
        }
        let w = if abs > 0.0 { (sq / abs) as f32 } else { 0.0 };
        head[..4].copy_from_slice(&w.to_le_bytes());
        head[4..].copy_from_slice(&(sq as f32).to_le_bytes());
    }

    /// Writes the codes part of a graph section: magic, dim, a fitted flag (u8), the
    /// rotation seed (u64; rotated layout only), the centre when fitted (`dim` f32), then
    /// `slots` bodies (`w`, `|r|²` as little-endian f32, then `ceil(coded / 8)` bytes of
    /// sign bits).
    pub(crate) fn write(&self, slots: usize, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut o = Vec::with_capacity(1 << 16);
        let magic = match self.seed {
            Some(_) => Self::MAGIC,
            None => Self::MAGIC_PLAIN,
        };
        write_head(&mut o, magic, self.dim, self.is_fitted());
        if let Some(seed) = self.seed {
            o.extend_from_slice(&seed.to_le_bytes());
        }
        for x in &self.centre {
            o.extend_from_slice(&x.to_le_bytes());
        }
        self.rows.write_bodies(slots, &mut o, w)
    }

    /// Reads what [`BitCodes::write`] wrote (the rest of the section), into rows of `links`
    /// empty link entries each; the centre and every row's floats must be finite, `w` and
    /// `|r|²` not negative.
    pub(crate) fn read(
        r: &mut crate::codec::SectionReader<'_>,
        links: usize,
        slots: usize,
    ) -> std::result::Result<Self, String> {
        let rotated = r.peek(4)? == Self::MAGIC;
        let magic = if rotated {
            Self::MAGIC
        } else {
            Self::MAGIC_PLAIN
        };
        let (dim, fitted) = read_head(r, magic)?;
        let seed = if rotated {
            Some(u64::from_le_bytes(r.take(8)?.try_into().expect("8 bytes")))
        } else {
            None
        };
        let mut codes = BitCodes::with_layout(dim, links, seed);
        if fitted {
            // Read before the rotation is drawn: its size then follows a dim the section's
            // bytes bound.
            let centre = read_floats(r, dim)?;
            codes.set_centre(centre);
        }
        codes.rows.read_bodies(slots, r)?;
        for s in 0..slots as u32 {
            for f in codes.rows.body(s)[..HEAD].chunks_exact(4) {
                let x = f32::from_le_bytes(f.try_into().expect("4 bytes"));
                if !(x.is_finite() && x >= 0.0) {
                    return Err(format!(
                        "slot {s}: code weight {x}, expected finite and >= 0"
                    ));
                }
            }
        }
        Ok(codes)
    }

    /// An approximate scorer for one prepared query (higher is better, like the catalog's).
    pub(crate) fn scorer<'a>(&'a self, metric: Metric, q: &[f32]) -> impl Fn(u32) -> f32 + 'a {
        let l2 = metric == Metric::L2;
        let u: Vec<f32> = if l2 {
            q.iter().zip(&self.centre).map(|(a, c)| a - c).collect()
        } else {
            q.to_vec()
        };
        let constant = if l2 {
            -u.iter().map(|x| x * x).sum::<f32>()
        } else {
            q.iter().zip(&self.centre).map(|(a, c)| a * c).sum()
        };
        let u = self.coded_space(u);
        // Per 4 components, the sums of its 16 subsets (components past `coded` are 0).
        let groups = self.coded().div_ceil(4);
        let mut table = vec![0.0f32; groups * 16];
        for (g, t) in table.chunks_exact_mut(16).enumerate() {
            for (m, out) in t.iter_mut().enumerate() {
                *out = (0..4)
                    .filter(|b| m >> b & 1 == 1)
                    .filter_map(|b| u.get(4 * g + b))
                    .sum();
            }
        }
        let total: f32 = u.iter().sum();
        let rows = &self.rows;
        move |slot: u32| {
            let body = rows.body(slot);
            if body.len() < HEAD {
                return f32::NEG_INFINITY;
            }
            let (head, bits) = body.split_at(HEAD);
            let w = f32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
            let sq = f32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
            let mut set = 0.0f32;
            for (byte, t) in bits.iter().zip(table.chunks_exact(32)) {
                set += t[(byte & 15) as usize] + t[16 + (byte >> 4) as usize];
            }
            // An odd number of 4-component groups: the last byte's high half is padding.
            if groups % 2 == 1
                && let Some(&last) = bits.get(groups / 2)
            {
                set += table[(groups - 1) * 16 + (last & 15) as usize];
            }
            let ur = w * (2.0 * set - total);
            if l2 {
                constant - sq + 2.0 * ur
            } else {
                constant + ur
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Catalog, PreparedItem};

    /// Clustered vectors (20 centres, noise 0.4), components `0..axes` scaled by `stretch`,
    /// unit length under cosine.
    fn clustered(
        rng: &mut crate::util::rng::SplitMix64,
        metric: Metric,
        (n, dim): (usize, usize),
        (axes, stretch): (usize, f32),
    ) -> Vec<Vec<f32>> {
        let centres: Vec<Vec<f32>> = (0..20)
            .map(|_| (0..dim).map(|_| rng.normal()).collect())
            .collect();
        (0..n)
            .map(|_| {
                let c = &centres[rng.below(20)];
                let v: Vec<f32> = c
                    .iter()
                    .enumerate()
                    .map(|(d, x)| (x + 0.4 * rng.normal()) * if d < axes { stretch } else { 1.0 })
                    .collect();
                if metric == Metric::Cosine {
                    let norm = crate::distance::norm(&v);
                    v.iter().map(|x| x / norm).collect()
                } else {
                    v
                }
            })
            .collect()
    }

    /// The share of the true top 10 of 50 queries (items plus a little noise) found among the
    /// estimate's top 100 (what a walk with ef 100 then re-scores exactly), with codes of the
    /// rotated layout or (`seed` None) the unrotated one.
    fn top10_in_top100(
        rng: &mut crate::util::rng::SplitMix64,
        metric: Metric,
        vecs: &[Vec<f32>],
        seed: Option<u64>,
    ) -> f64 {
        let dim = vecs[0].len();
        let ids: Vec<String> = (0..vecs.len()).map(|i| format!("i{i}")).collect();
        let mut cat = Catalog::new(dim, metric, crate::VectorStorage::F32, 0);
        let items: Vec<PreparedItem<'_>> = ids
            .iter()
            .zip(vecs)
            .map(|(id, v)| PreparedItem {
                id,
                vector: Some(v),
                attrs: None,
            })
            .collect();
        let slots: Vec<u32> = cat.apply(&items).into_iter().map(|(s, _)| s).collect();
        let mut codes = BitCodes::with_layout(dim, 16, seed);
        codes.rows.grow(cat.slots());
        codes.fit(&cat, &slots);
        for &s in &slots {
            codes.encode(&cat, s);
        }
        let (mut found, mut total) = (0usize, 0usize);
        for qi in 0..50 {
            let q: Vec<f32> = vecs[qi * 37]
                .iter()
                .map(|x| x + 0.05 * rng.normal())
                .collect();
            let q = if metric == Metric::Cosine {
                let norm = crate::distance::norm(&q);
                q.iter().map(|x| x / norm).collect()
            } else {
                q
            };
            let (exact, approx) = (cat.scorer(&q), codes.scorer(metric, &q));
            let top = |f: &dyn Fn(u32) -> f32, k: usize| {
                let mut s: Vec<(u32, f32)> = slots.iter().map(|&x| (x, f(x))).collect();
                s.sort_by(|a, b| b.1.total_cmp(&a.1));
                s.into_iter().take(k).map(|x| x.0).collect::<Vec<u32>>()
            };
            let truth = top(&exact, 10);
            let near = top(&approx, 100);
            found += truth.iter().filter(|t| near.contains(t)).count();
            total += truth.len();
        }
        found as f64 / total as f64
    }

    /// On clustered data the code estimates rank the items well enough that the true top 10
    /// of a query is almost always among the estimate's top 100, for both metric families,
    /// both layouts and dimensions that are not powers of two; each estimate of the
    /// unrotated layout is exact for a vector whose residual is a sign vector.
    #[test]
    fn bit_estimates_keep_the_true_neighbours_near_the_top() {
        let mut rng = crate::util::rng::SplitMix64(5);
        for (metric, dim) in [(Metric::L2, 68), (Metric::Dot, 64), (Metric::Cosine, 37)] {
            let vecs = clustered(&mut rng, metric, (2_000, dim), (0, 1.0));
            for seed in [Some(SEED), None] {
                let recall = top10_in_top100(&mut rng, metric, &vecs, seed);
                assert!(recall >= 0.95, "{metric:?} dim {dim} {seed:?}: {recall}");
            }
        }
        // Unrotated, a residual of ±1 in every component is its own sign vector: the
        // estimate is exact.
        let dim = 13;
        let mut cat = Catalog::new(dim, Metric::Dot, crate::VectorStorage::F32, 0);
        let a: Vec<f32> = (0..dim)
            .map(|d| if d % 3 == 0 { 1.0 } else { -1.0 })
            .collect();
        let b: Vec<f32> = a.iter().map(|x| -x).collect();
        let ids = ["a".to_string(), "b".to_string()];
        let items = [
            PreparedItem {
                id: &ids[0],
                vector: Some(&a),
                attrs: None,
            },
            PreparedItem {
                id: &ids[1],
                vector: Some(&b),
                attrs: None,
            },
        ];
        let slots: Vec<u32> = cat.apply(&items).into_iter().map(|(s, _)| s).collect();
        let mut codes = BitCodes::with_layout(dim, 0, None);
        codes.rows.grow(2);
        codes.fit(&cat, &slots);
        assert!(codes.centre.iter().all(|&c| c == 0.0));
        codes.encode(&cat, slots[0]);
        let q: Vec<f32> = (0..dim).map(|d| d as f32 * 0.1 - 0.5).collect();
        let want: f32 = q.iter().zip(&a).map(|(x, y)| x * y).sum();
        let got = codes.scorer(Metric::Dot, &q)(slots[0]);
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
    }

    /// Where a few axes carry most of the spread (as in many raw embeddings), the signs of
    /// the raw residual lose many true neighbours; the rotation spreads the energy and keeps
    /// them, for every metric.
    #[test]
    fn rotation_keeps_estimates_when_a_few_axes_dominate() {
        let mut rng = crate::util::rng::SplitMix64(8);
        for metric in [Metric::Dot, Metric::L2, Metric::Cosine] {
            let vecs = clustered(&mut rng, metric, (3_000, 120), (4, 15.0));
            let plain = top10_in_top100(&mut rng, metric, &vecs, None);
            let rotated = top10_in_top100(&mut rng, metric, &vecs, Some(SEED));
            assert!(
                rotated >= 0.95 && rotated > plain + 0.1,
                "{metric:?}: rotated {rotated}, plain {plain}"
            );
        }
    }
}
