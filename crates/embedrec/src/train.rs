//! Collaborative models learned from the engine's interactions: implicit ALS (conjugate
//! gradient), item-kNN (cosine or BM25-weighted co-occurrence) and popularity.
//!
//! [`Engine::fit`](crate::Engine::fit) trains on the interactions currently stored; the model
//! then serves `recommend`, `recommend_for_items`, `similar` and the batch calls. Users are
//! folded in at query time from their current history (as implicit's `recalculate_user`), so
//! new interactions of a user count immediately without retraining.

use crate::distance::dot;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// How interaction weights become ALS confidences.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Confidence {
    /// `c = 1 + alpha * w` (Hu, Koren, Volinsky 2008).
    Linear,
    /// `c = 1 + alpha * ln(1 + w)`.
    Log,
}

/// Implicit-feedback ALS hyper-parameters. Defaults: 64 factors, 15 iterations,
/// regularization 0.01, alpha 1.0, linear confidence, 3 CG steps, seed 42.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlsParams {
    /// Latent factors.
    pub factors: usize,
    /// Alternating sweeps over users and items.
    pub iterations: usize,
    /// L2 regularization.
    pub regularization: f32,
    /// Confidence scale.
    pub alpha: f32,
    /// Confidence function.
    pub confidence: Confidence,
    /// Conjugate-gradient steps per factor update.
    pub cg_steps: usize,
    /// Seed of the random initialisation.
    pub seed: u64,
}

impl Default for AlsParams {
    fn default() -> Self {
        AlsParams {
            factors: 64,
            iterations: 15,
            regularization: 0.01,
            alpha: 1.0,
            confidence: Confidence::Linear,
            cg_steps: 3,
            seed: 42,
        }
    }
}

/// Similarity used by item-kNN.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum KnnWeighting {
    /// Cosine of binary co-occurrence vectors.
    Cosine,
    /// BM25-weighted co-occurrence (as implicit's `BM25Recommender`).
    Bm25 {
        /// Term-frequency saturation.
        k1: f32,
        /// Length normalisation.
        b: f32,
    },
}

/// Item-kNN hyper-parameters. Defaults: 100 neighbours, BM25 (k1 1.2, b 0.75).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnParams {
    /// Neighbours kept per item.
    pub neighbours: usize,
    /// Similarity.
    pub weighting: KnnWeighting,
}

impl Default for KnnWeighting {
    /// BM25 with k1 = 1.2, b = 0.75.
    fn default() -> Self {
        KnnWeighting::Bm25 { k1: 1.2, b: 0.75 }
    }
}

impl KnnWeighting {
    /// Parses `"bm25"` (default k1 and b) or `"cosine"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "bm25" => Ok(KnnWeighting::default()),
            "cosine" => Ok(KnnWeighting::Cosine),
            _ => Err(Error::invalid(
                "weighting",
                "\"bm25\" or \"cosine\"",
                format!("{name:?}"),
            )),
        }
    }
}

impl Confidence {
    /// Parses `"linear"` or `"log"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "linear" => Ok(Confidence::Linear),
            "log" => Ok(Confidence::Log),
            _ => Err(Error::invalid(
                "confidence",
                "\"linear\" or \"log\"",
                format!("{name:?}"),
            )),
        }
    }
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            neighbours: 100,
            weighting: KnnWeighting::default(),
        }
    }
}

/// Largest number of trained items EASE accepts: it needs about `12 * n²` bytes while
/// training (Gram matrix, Cholesky factor and inverse in f32) and `4 * n²` for the model
/// (16,384 items: 3.2 GB to train, 1.1 GB to keep).
pub const EASE_MAX_ITEMS: usize = 16_384;

/// EASE hyper-parameters (Steck 2019). Default L2 regularization 200.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EaseParams {
    /// L2 regularization λ added to the Gram matrix's diagonal.
    pub regularization: f32,
}

impl Default for EaseParams {
    fn default() -> Self {
        EaseParams {
            regularization: 200.0,
        }
    }
}

/// Which model [`Engine::fit`](crate::Engine::fit) trains.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ModelSpec {
    /// Implicit ALS.
    Als(AlsParams),
    /// Item-kNN.
    ItemKnn(KnnParams),
    /// EASE: a dense item-item model from a closed-form ridge solve (catalogs up to
    /// [`EASE_MAX_ITEMS`] items with interactions).
    Ease(EaseParams),
    /// Most popular items (by summed weight); the floor and the cold-start fallback.
    Popularity,
}

impl ModelSpec {
    /// The model of this name with its default hyper-parameters: `"als"`, `"item_knn"`,
    /// `"ease"` or `"popularity"`. Bindings start here and override what the caller gave.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "als" => Ok(ModelSpec::Als(AlsParams::default())),
            "item_knn" => Ok(ModelSpec::ItemKnn(KnnParams::default())),
            "ease" => Ok(ModelSpec::Ease(EaseParams::default())),
            "popularity" => Ok(ModelSpec::Popularity),
            _ => Err(Error::invalid(
                "model",
                "\"als\", \"item_knn\", \"ease\" or \"popularity\"",
                format!("{name:?}"),
            )),
        }
    }

    /// Short name: `"als"`, `"item_knn"`, `"ease"`, `"popularity"`.
    pub fn name(&self) -> &'static str {
        match self {
            ModelSpec::Als(_) => "als",
            ModelSpec::ItemKnn(_) => "item_knn",
            ModelSpec::Ease(_) => "ease",
            ModelSpec::Popularity => "popularity",
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match self {
            ModelSpec::Als(p) => {
                if p.factors == 0 || p.factors > 1024 {
                    return Err(Error::invalid(
                        "als.factors",
                        "an integer in 1..=1024",
                        p.factors,
                    ));
                }
                if p.iterations > 10_000 {
                    return Err(Error::invalid(
                        "als.iterations",
                        "at most 10000",
                        p.iterations,
                    ));
                }
                if p.cg_steps == 0 || p.cg_steps > 64 {
                    return Err(Error::invalid(
                        "als.cg_steps",
                        "an integer in 1..=64",
                        p.cg_steps,
                    ));
                }
                for (f, v) in [
                    ("als.regularization", p.regularization),
                    ("als.alpha", p.alpha),
                ] {
                    if !(v.is_finite() && v >= 0.0) {
                        return Err(Error::invalid(f, "a finite number >= 0", v));
                    }
                }
            }
            ModelSpec::ItemKnn(p) => {
                if p.neighbours == 0 || p.neighbours > 10_000 {
                    return Err(Error::invalid(
                        "item_knn.neighbours",
                        "an integer in 1..=10000",
                        p.neighbours,
                    ));
                }
                if let KnnWeighting::Bm25 { k1, b } = p.weighting
                    && !(k1.is_finite() && k1 >= 0.0 && (0.0..=1.0).contains(&b))
                {
                    return Err(Error::invalid(
                        "item_knn.bm25",
                        "k1 >= 0 and b in 0..=1",
                        format!("k1 {k1}, b {b}"),
                    ));
                }
            }
            ModelSpec::Ease(p) => {
                if !(p.regularization.is_finite() && p.regularization > 0.0) {
                    return Err(Error::invalid(
                        "ease.regularization",
                        "a finite number > 0",
                        p.regularization,
                    ));
                }
            }
            ModelSpec::Popularity => {}
        }
        Ok(())
    }
}

/// Training progress passed to the callback of [`Engine::fit`](crate::Engine::fit).
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Model name.
    pub model: &'static str,
    /// Iterations done (1-based).
    pub iteration: usize,
    /// Iterations planned.
    pub total: usize,
    /// Seconds since training started.
    pub elapsed_secs: f64,
    /// Training loss after this iteration, where the model defines one (ALS).
    pub loss: Option<f64>,
}

/// Interactions aggregated per (user, item), in compressed sparse rows.
pub(crate) struct Csr {
    pub(crate) rows: usize,
    pub(crate) cols: usize,
    pub(crate) indptr: Vec<usize>,
    pub(crate) indices: Vec<u32>,
    pub(crate) data: Vec<f32>,
}

impl Csr {
    /// Builds rows from `(col, weight)` lists, summing repeated columns.
    pub(crate) fn from_rows(rows: &[Vec<(u32, f32)>], cols: usize) -> Csr {
        let mut indptr = Vec::with_capacity(rows.len() + 1);
        let (mut indices, mut data) = (Vec::new(), Vec::new());
        indptr.push(0);
        for r in rows {
            let mut r = r.clone();
            r.sort_unstable_by_key(|x| x.0);
            for (c, w) in r {
                if indices.len() > *indptr.last().unwrap() && *indices.last().unwrap() == c {
                    *data.last_mut().unwrap() += w;
                } else {
                    indices.push(c);
                    data.push(w);
                }
            }
            indptr.push(indices.len());
        }
        Csr {
            rows: rows.len(),
            cols,
            indptr,
            indices,
            data,
        }
    }

    pub(crate) fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[a..b], &self.data[a..b])
    }

    pub(crate) fn transpose(&self) -> Csr {
        let mut counts = vec![0usize; self.cols + 1];
        for &c in &self.indices {
            counts[c as usize + 1] += 1;
        }
        for i in 0..self.cols {
            counts[i + 1] += counts[i];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0u32; self.indices.len()];
        let mut data = vec![0f32; self.data.len()];
        for r in 0..self.rows {
            let (cs, ws) = self.row(r);
            for (&c, &w) in cs.iter().zip(ws) {
                let p = next[c as usize];
                indices[p] = r as u32;
                data[p] = w;
                next[c as usize] += 1;
            }
        }
        Csr {
            rows: self.cols,
            cols: self.rows,
            indptr,
            indices,
            data,
        }
    }
}

/// A trained model, as stored in the engine and its file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Model {
    Als(AlsModel),
    Knn(KnnModel),
    Ease(EaseModel),
    Popularity { scores: Vec<f32> },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AlsModel {
    pub(crate) params: AlsParams,
    /// `slots * factors`; rows of items without interactions come from the cold-start map.
    pub(crate) item_factors: Vec<f32>,
    /// Items that had interactions at training time.
    pub(crate) trained: Vec<bool>,
    /// `Yᵀ Y` over trained items, `factors * factors`.
    pub(crate) yty: Vec<f32>,
    /// Ridge map from content vectors to factors (`dim * factors`) for cold-start items.
    pub(crate) cold_map: Option<Vec<f32>>,
    /// `users * factors`, kept current by incremental updates.
    pub(crate) user_factors: Vec<f32>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct EaseModel {
    pub(crate) params: EaseParams,
    /// Catalog slot of each row/column of `b` (`NONE` once the item is removed).
    pub(crate) items: Vec<u32>,
    /// Row of each slot in `b`, or `NONE`.
    pub(crate) row_of: Vec<u32>,
    /// `n * n` row-major item-item weights (zero diagonal).
    pub(crate) b: Vec<f32>,
}

const NO_ROW: u32 = u32::MAX;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct KnnModel {
    pub(crate) params: KnnParams,
    /// Per slot: neighbours `(slot, similarity)`, best first.
    pub(crate) neighbours: Vec<Vec<(u32, f32)>>,
}

impl Model {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Model::Als(_) => "als",
            Model::Knn(_) => "item_knn",
            Model::Ease(_) => "ease",
            Model::Popularity { .. } => "popularity",
        }
    }

    /// Validates a decoded model against the catalog size and dimension.
    pub(crate) fn check(&self, slots: usize, dim: usize) -> std::result::Result<(), String> {
        match self {
            Model::Als(m) => {
                let f = m.params.factors;
                if f == 0 || f > 1024 {
                    return Err(format!("factors {f}"));
                }
                if m.item_factors.len() != slots * f
                    || m.trained.len() != slots
                    || m.yty.len() != f * f
                {
                    return Err("ALS array sizes do not match the catalog".into());
                }
                if m.user_factors.len() % f != 0 || !m.user_factors.iter().all(|x| x.is_finite()) {
                    return Err("user factors".into());
                }
                if m.cold_map.as_ref().is_some_and(|w| w.len() != dim * f) {
                    return Err("cold-start map size".into());
                }
                let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
                if !finite(&m.item_factors)
                    || !finite(&m.yty)
                    || !m.cold_map.as_deref().is_none_or(finite)
                {
                    return Err("non-finite ALS factors".into());
                }
            }
            Model::Knn(m) => {
                if m.neighbours.len() != slots
                    || m.neighbours
                        .iter()
                        .flatten()
                        .any(|(s, w)| *s as usize >= slots || !w.is_finite())
                {
                    return Err("item-kNN neighbours out of range".into());
                }
            }
            Model::Ease(m) => {
                let n = m.items.len();
                if n > EASE_MAX_ITEMS
                    || m.b.len() != n * n
                    || m.row_of.len() != slots
                    || m.items.iter().any(|&s| s != NO_ROW && s as usize >= slots)
                    || m.row_of.iter().any(|&r| r != NO_ROW && r as usize >= n)
                    || !m.b.iter().all(|x| x.is_finite())
                {
                    return Err("EASE arrays do not match the catalog".into());
                }
            }
            Model::Popularity { scores } => {
                if scores.len() != slots || scores.iter().any(|x| !x.is_finite()) {
                    return Err("popularity scores".into());
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------- ALS

fn confidence(p: &AlsParams, w: f32) -> f32 {
    match p.confidence {
        Confidence::Linear => 1.0 + p.alpha * w,
        Confidence::Log => 1.0 + p.alpha * w.ln_1p(),
    }
}

/// `Yᵀ Y` for row-major `y` (`n * f`), restricted to rows where `keep`. Accumulates rank-1
/// updates row by row in f32 (vectorised), in parallel chunks summed at the end.
pub(crate) fn gram(y: &[f32], f: usize, keep: impl Fn(usize) -> bool + Sync) -> Vec<f32> {
    let n = y.len() / f.max(1);
    const CHUNK: usize = 1024;
    let parts: Vec<Vec<f32>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut acc = vec![0.0f32; f * f];
            for i in c * CHUNK..((c + 1) * CHUNK).min(n) {
                if !keep(i) {
                    continue;
                }
                let r = &y[i * f..(i + 1) * f];
                for (a, &ra) in r.iter().enumerate() {
                    for (o, &rb) in acc[a * f..(a + 1) * f].iter_mut().zip(r) {
                        *o += ra * rb;
                    }
                }
            }
            acc
        })
        .collect();
    let mut out = vec![0.0f32; f * f];
    for p in parts {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
    out
}

/// CG update of one factor row `x` for the system
/// `(YᵀY + Σ (c-1) y yᵀ + λI) x = Σ c y` (implicit's `_least_squares_cg`); `cs` holds the
/// confidences `c` of the row's columns.
fn cg_row(
    x: &mut [f32],
    yty: &[f32],
    y: &[f32],
    f: usize,
    cols: &[u32],
    cs: &[f32],
    p: &AlsParams,
) {
    let mut r = vec![0.0f32; f];
    // r = b - A x
    for a in 0..f {
        r[a] = -(dot(&yty[a * f..(a + 1) * f], x) + p.regularization * x[a]);
    }
    for (&c, &conf) in cols.iter().zip(cs) {
        let yi = &y[c as usize * f..(c as usize + 1) * f];
        let coef = conf - (conf - 1.0) * dot(yi, x);
        for a in 0..f {
            r[a] += coef * yi[a];
        }
    }
    let mut dir = r.clone();
    let mut rsold = dot(&r, &r);
    if rsold < 1e-20 {
        return;
    }
    let mut ap = vec![0.0f32; f];
    for _ in 0..p.cg_steps {
        for a in 0..f {
            ap[a] = dot(&yty[a * f..(a + 1) * f], &dir) + p.regularization * dir[a];
        }
        for (&c, &conf) in cols.iter().zip(cs) {
            let yi = &y[c as usize * f..(c as usize + 1) * f];
            let coef = (conf - 1.0) * dot(yi, &dir);
            for a in 0..f {
                ap[a] += coef * yi[a];
            }
        }
        let denom = dot(&dir, &ap);
        if denom.abs() < 1e-20 {
            break;
        }
        let alpha = rsold / denom;
        for a in 0..f {
            x[a] += alpha * dir[a];
            r[a] -= alpha * ap[a];
        }
        let rsnew = dot(&r, &r);
        if rsnew < 1e-20 {
            break;
        }
        for a in 0..f {
            dir[a] = r[a] + (rsnew / rsold) * dir[a];
        }
        rsold = rsnew;
    }
}

fn sweep(
    x: &mut [f32],
    y: &[f32],
    m: &Csr,
    f: usize,
    p: &AlsParams,
    keep_y: &(dyn Fn(usize) -> bool + Sync),
) {
    let yty = gram(y, f, keep_y);
    x.par_chunks_mut(f).enumerate().for_each(|(r, xr)| {
        let (cols, ws) = m.row(r);
        if !cols.is_empty() {
            cg_row(xr, &yty, y, f, cols, ws, p);
        }
    });
}

/// Implicit's loss: Σ_u Σ_i c (p - xᵀy)² + λ (|X|² + |Y|²), computed in O(nnz·f + users·f²).
fn als_loss(x: &[f32], y: &[f32], m: &Csr, f: usize, p: &AlsParams) -> f64 {
    let yty = gram(y, f, |_| true);
    let mut total: f64 = (0..m.rows)
        .into_par_iter()
        .map(|u| {
            let xu = &x[u * f..(u + 1) * f];
            let (cols, ws) = m.row(u);
            let mut l = 0.0f64;
            // xᵀ YᵀY x: the loss of all-zero preferences with confidence 1.
            for a in 0..f {
                l += xu[a] as f64 * dot(&yty[a * f..(a + 1) * f], xu) as f64;
            }
            for (&c, &w) in cols.iter().zip(ws) {
                let s = dot(xu, &y[c as usize * f..(c as usize + 1) * f]) as f64;
                let conf = w as f64; // the matrix holds confidences
                l += conf * (1.0 - s) * (1.0 - s) - s * s;
            }
            l
        })
        .sum();
    total += p.regularization as f64 * (dot(x, x) as f64 + dot(y, y) as f64);
    total / m.indices.len().max(1) as f64
}

/// Trains ALS on `m` (users x slots). Returns (user factors, item factors).
pub(crate) fn fit_als(
    m: &Csr,
    p: &AlsParams,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let f = p.factors;
    let mut rng = crate::SplitMix64(p.seed);
    let mut init = |n: usize| -> Vec<f32> { (0..n * f).map(|_| rng.uniform() * 0.01).collect() };
    let mut x = init(m.rows);
    let mut y = init(m.cols);
    // Confidences computed once; the sweeps and the loss read them directly.
    let m = &Csr {
        rows: m.rows,
        cols: m.cols,
        indptr: m.indptr.clone(),
        indices: m.indices.clone(),
        data: m.data.iter().map(|&w| confidence(p, w)).collect(),
    };
    let mt = m.transpose();
    let item_has = |i: usize| mt.indptr[i + 1] > mt.indptr[i];
    let t0 = Instant::now();
    for it in 0..p.iterations {
        sweep(&mut x, &y, m, f, p, &item_has);
        sweep(&mut y, &x, &mt, f, p, &|_| true);
        let loss = als_loss(&x, &y, m, f, p);
        let go = progress(Progress {
            model: "als",
            iteration: it + 1,
            total: p.iterations,
            elapsed_secs: t0.elapsed().as_secs_f64(),
            loss: Some(loss),
        });
        if !go {
            return Err(Error::Cancelled {
                what: format!("ALS training after iteration {}", it + 1),
            });
        }
    }
    Ok((x, y))
}

/// Solves `A x = b` for a symmetric positive definite `A` (`n * n`) by Cholesky, in f64.
pub(crate) fn solve_spd(a: &[f64], b: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= l[i * n + k] * l[j * n + k];
            }
            if i == j {
                if s <= 0.0 {
                    return None;
                }
                l[i * n + i] = s.sqrt();
            } else {
                l[i * n + j] = s / l[j * n + j];
            }
        }
    }
    let mut z = vec![0.0f64; n];
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * z[k];
        }
        z[i] = s / l[i * n + i];
    }
    let mut x = vec![0.0f64; n];
    for i in (0..n).rev() {
        let mut s = z[i];
        for k in i + 1..n {
            s -= l[k * n + i] * x[k];
        }
        x[i] = s / l[i * n + i];
    }
    Some(x)
}

impl AlsModel {
    /// Exact fold-in of a user from `(slot, weight)` history (implicit's `recalculate_user`).
    pub(crate) fn fold_in(&self, hist: &[(u32, f32)]) -> Option<Vec<f32>> {
        let f = self.params.factors;
        let mut a: Vec<f64> = self.yty.iter().map(|&v| v as f64).collect();
        for d in 0..f {
            a[d * f + d] += self.params.regularization as f64 + 1e-9;
        }
        let mut b = vec![0.0f64; f];
        let mut any = false;
        for &(s, w) in hist {
            let s = s as usize;
            if s >= self.trained.len() {
                continue;
            }
            let yi = &self.item_factors[s * f..(s + 1) * f];
            if yi.iter().all(|v| *v == 0.0) {
                continue;
            }
            any = true;
            let c = confidence(&self.params, w) as f64;
            for p in 0..f {
                b[p] += c * yi[p] as f64;
                for q in 0..f {
                    a[p * f + q] += (c - 1.0) * yi[p] as f64 * yi[q] as f64;
                }
            }
        }
        if !any {
            return None;
        }
        solve_spd(&a, &b, f).map(|x| x.into_iter().map(|v| v as f32).collect())
    }

    pub(crate) fn factor(&self, slot: u32) -> &[f32] {
        let f = self.params.factors;
        &self.item_factors[slot as usize * f..(slot as usize + 1) * f]
    }
}

/// Ridge regression from content vectors to factors over trained items: `W = (FᵀF + λI)⁻¹ FᵀY`.
pub(crate) fn cold_start_map(
    features: &[f32],
    dim: usize,
    y: &[f32],
    f: usize,
    trained: &[bool],
) -> Option<Vec<f32>> {
    let mut ftf = vec![0.0f64; dim * dim];
    let mut fty = vec![0.0f64; dim * f];
    let mut n = 0usize;
    for (s, &t) in trained.iter().enumerate() {
        if !t {
            continue;
        }
        n += 1;
        let x = &features[s * dim..(s + 1) * dim];
        let yi = &y[s * f..(s + 1) * f];
        for a in 0..dim {
            for b in 0..dim {
                ftf[a * dim + b] += x[a] as f64 * x[b] as f64;
            }
            for b in 0..f {
                fty[a * f + b] += x[a] as f64 * yi[b] as f64;
            }
        }
    }
    if n < dim {
        return None;
    }
    let lambda = 1e-2 * (0..dim).map(|d| ftf[d * dim + d]).sum::<f64>() / dim as f64 + 1e-6;
    for d in 0..dim {
        ftf[d * dim + d] += lambda;
    }
    let mut w = vec![0.0f32; dim * f];
    for b in 0..f {
        let rhs: Vec<f64> = (0..dim).map(|a| fty[a * f + b]).collect();
        let col = solve_spd(&ftf, &rhs, dim)?;
        for a in 0..dim {
            w[a * f + b] = col[a] as f32;
        }
    }
    Some(w)
}

// ---------------------------------------------------------------------------------- EASE

/// EASE (Steck 2019): `P = (XᵀX + λI)⁻¹`, `B = I - P / diag(P)` over items with interactions,
/// with a binary user x item matrix `X`. Dense f32 Cholesky inverse (faer, single thread).
pub(crate) fn fit_ease(
    m: &Csr,
    p: &EaseParams,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<EaseModel> {
    use faer::{Mat, Side, linalg::solvers::DenseSolveCore};
    let t0 = Instant::now();
    let mt = m.transpose();
    let items: Vec<u32> = (0..m.cols)
        .filter(|&i| mt.indptr[i + 1] > mt.indptr[i])
        .map(|i| i as u32)
        .collect();
    let n = items.len();
    if n > EASE_MAX_ITEMS {
        return Err(Error::CapacityExceeded {
            what: format!(
                "EASE items (it needs about {} MB for {n} items)",
                12 * (n as u64).pow(2) / 1_000_000
            ),
            limit: EASE_MAX_ITEMS as u64,
            got: n as u64,
        });
    }
    let mut row_of = vec![NO_ROW; m.cols];
    for (r, &s) in items.iter().enumerate() {
        row_of[s as usize] = r as u32;
    }
    // Gram matrix of the binary matrix: co-occurrence counts.
    let mut g = Mat::<f32>::zeros(n, n);
    for u in 0..m.rows {
        let rows: Vec<usize> = m
            .row(u)
            .0
            .iter()
            .map(|&s| row_of[s as usize] as usize)
            .collect();
        for &a in &rows {
            for &b in &rows {
                g[(a, b)] += 1.0;
            }
        }
    }
    for d in 0..n {
        g[(d, d)] += p.regularization;
    }
    let llt = g
        .llt(Side::Lower)
        .map_err(|e| Error::Internal(format!("EASE Cholesky failed: {e:?}")))?;
    drop(g);
    let pinv = llt.inverse();
    drop(llt);
    let mut b = vec![0.0f32; n * n];
    for j in 0..n {
        let djj = pinv[(j, j)];
        for i in 0..n {
            // B[i][j] = -P[i][j] / P[j][j], zero diagonal.
            b[i * n + j] = if i == j { 0.0 } else { -pinv[(i, j)] / djj };
        }
    }
    progress(Progress {
        model: "ease",
        iteration: 1,
        total: 1,
        elapsed_secs: t0.elapsed().as_secs_f64(),
        loss: None,
    });
    Ok(EaseModel {
        params: p.clone(),
        items,
        row_of,
        b,
    })
}

// ---------------------------------------------------------------------------------- item-kNN

/// Item-item similarities from the user x item matrix, top `neighbours` per item.
#[allow(clippy::needless_range_loop)]
pub(crate) fn fit_knn(
    m: &Csr,
    p: &KnnParams,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<KnnModel> {
    let t0 = Instant::now();
    let n_items = m.cols;
    // Weighted user x item matrix.
    let mut w = m.data.clone();
    match p.weighting {
        KnnWeighting::Cosine => w.iter_mut().for_each(|x| *x = 1.0),
        KnnWeighting::Bm25 { k1, b } => {
            // implicit's bm25_weight: idf per item, length normalisation per user row.
            let n_users = m.rows as f32;
            let mut df = vec![0f32; n_items];
            for &c in &m.indices {
                df[c as usize] += 1.0;
            }
            let idf: Vec<f32> = df
                .iter()
                .map(|&d| (n_users / (1.0 + d)).ln().max(0.0))
                .collect();
            let lengths: Vec<f32> = (0..m.rows).map(|r| m.row(r).0.len() as f32).collect();
            let avg = lengths.iter().sum::<f32>() / n_users.max(1.0);
            for r in 0..m.rows {
                let norm = k1 * (1.0 - b + b * lengths[r] / avg.max(1e-9));
                for k in m.indptr[r]..m.indptr[r + 1] {
                    let x = m.data[k];
                    w[k] = x * (k1 + 1.0) / (norm + x) * idf[m.indices[k] as usize];
                }
            }
        }
    }
    let weighted = Csr {
        rows: m.rows,
        cols: m.cols,
        indptr: m.indptr.clone(),
        indices: m.indices.clone(),
        data: w,
    };
    let t = weighted.transpose(); // item x user
    let norms: Vec<f32> = (0..n_items)
        .map(|i| t.row(i).1.iter().map(|x| x * x).sum::<f32>().sqrt())
        .collect();
    let neighbours: Vec<Vec<(u32, f32)>> = (0..n_items)
        .into_par_iter()
        .map_init(
            || vec![0f32; n_items],
            |acc, i| {
                let (users, wi) = t.row(i);
                if users.is_empty() {
                    return Vec::new();
                }
                let mut touched = Vec::new();
                for (&u, &a) in users.iter().zip(wi) {
                    let (items, wu) = weighted.row(u as usize);
                    for (&j, &bw) in items.iter().zip(wu) {
                        if j as usize != i {
                            if acc[j as usize] == 0.0 {
                                touched.push(j);
                            }
                            acc[j as usize] += a * bw;
                        }
                    }
                }
                let mut sims: Vec<(u32, f32)> = touched
                    .iter()
                    .map(|&j| {
                        let s = acc[j as usize] / (norms[i] * norms[j as usize]).max(1e-12);
                        acc[j as usize] = 0.0;
                        (j, s)
                    })
                    .filter(|x| x.1 > 0.0)
                    .collect();
                sims.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                sims.truncate(p.neighbours);
                sims
            },
        )
        .collect();
    progress(Progress {
        model: "item_knn",
        iteration: 1,
        total: 1,
        elapsed_secs: t0.elapsed().as_secs_f64(),
        loss: None,
    });
    Ok(KnnModel {
        params: p.clone(),
        neighbours,
    })
}

// ---------------------------------------------------------------------------------- serving

/// Sums repeated `(slot, weight)` pairs.
pub(crate) fn aggregate(hist: impl Iterator<Item = (u32, f32)>) -> Vec<(u32, f32)> {
    let mut v: Vec<(u32, f32)> = hist.collect();
    v.sort_unstable_by_key(|x| x.0);
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(v.len());
    for (s, w) in v {
        match out.last_mut() {
            Some(last) if last.0 == s => last.1 += w,
            _ => out.push((s, w)),
        }
    }
    out
}

impl AlsModel {
    fn cold_factor(&self, features: &[f32]) -> Vec<f32> {
        let f = self.params.factors;
        let mut out = vec![0.0f32; f];
        if let Some(w) = &self.cold_map {
            for (a, x) in features.iter().enumerate() {
                for b in 0..f {
                    out[b] += x * w[a * f + b];
                }
            }
        }
        out
    }

    /// Stored factor of user `u` when present and non-zero.
    pub(crate) fn user_factor(&self, u: u32) -> Option<&[f32]> {
        let f = self.params.factors;
        let r = self
            .user_factors
            .get(u as usize * f..(u as usize + 1) * f)?;
        r.iter().any(|x| *x != 0.0).then_some(r)
    }
}

impl Model {
    /// Items removed from the catalog: their slots may be recycled, so forget them.
    pub(crate) fn forget(&mut self, slots: &[u32]) {
        match self {
            Model::Als(m) => {
                let f = m.params.factors;
                for &s in slots {
                    if (s as usize) < m.trained.len() {
                        m.trained[s as usize] = false;
                        m.item_factors[s as usize * f..(s as usize + 1) * f].fill(0.0);
                    }
                }
            }
            Model::Knn(m) => {
                let mut sorted = slots.to_vec();
                sorted.sort_unstable();
                for &s in slots {
                    if let Some(n) = m.neighbours.get_mut(s as usize) {
                        n.clear();
                    }
                }
                for n in &mut m.neighbours {
                    n.retain(|(j, _)| sorted.binary_search(j).is_err());
                }
            }
            Model::Ease(m) => {
                for &s in slots {
                    if let Some(r) = m.row_of.get_mut(s as usize)
                        && *r != NO_ROW
                    {
                        m.items[*r as usize] = NO_ROW;
                        *r = NO_ROW;
                    }
                }
            }
            Model::Popularity { scores } => {
                for &s in slots {
                    if let Some(x) = scores.get_mut(s as usize) {
                        *x = 0.0;
                    }
                }
            }
        }
    }

    /// Items inserted or replaced: grow the arrays to the catalog; items without
    /// collaborative data get ALS factors from the cold-start map of their content vector.
    pub(crate) fn on_upsert(&mut self, cat: &crate::Catalog, slots: &[u32]) {
        let n = cat.slots();
        match self {
            Model::Als(m) => {
                let f = m.params.factors;
                m.item_factors.resize(n * f, 0.0);
                m.trained.resize(n, false);
                for &s in slots {
                    if !m.trained[s as usize] {
                        let y = m.cold_factor(&cat.vector(s));
                        m.item_factors[s as usize * f..(s as usize + 1) * f].copy_from_slice(&y);
                    }
                }
            }
            Model::Knn(m) => m.neighbours.resize(n, Vec::new()),
            Model::Ease(m) => m.row_of.resize(n, NO_ROW),
            Model::Popularity { scores } => scores.resize(n, 0.0),
        }
    }

    /// Per-slot scores for a history (`user` is the stored user index, if any), or `None`
    /// when the model has nothing to say for it.
    pub(crate) fn scores(
        &self,
        slots: usize,
        user: Option<u32>,
        hist: &[(u32, f32)],
    ) -> Option<Vec<f32>> {
        match self {
            Model::Als(m) => {
                let f = m.params.factors;
                let folded;
                let u: &[f32] = match user.and_then(|u| m.user_factor(u)) {
                    Some(x) => x,
                    None => {
                        folded = m.fold_in(hist)?;
                        &folded
                    }
                };
                let rows = (m.item_factors.len() / f).min(slots);
                let mut out = vec![f32::NEG_INFINITY; slots];
                out[..rows]
                    .par_iter_mut()
                    .enumerate()
                    .for_each(|(s, o)| *o = dot(&m.item_factors[s * f..(s + 1) * f], u));
                Some(out)
            }
            Model::Knn(m) => {
                let mut out = vec![0.0f32; slots];
                let mut any = false;
                for &(s, w) in hist {
                    for &(j, sim) in m
                        .neighbours
                        .get(s as usize)
                        .map(|v| v.as_slice())
                        .unwrap_or(&[])
                    {
                        if (j as usize) < slots {
                            out[j as usize] += w * sim;
                            any = true;
                        }
                    }
                }
                any.then_some(out)
            }
            Model::Ease(m) => {
                let n = m.items.len();
                let rows: Vec<usize> = hist
                    .iter()
                    .filter_map(|&(s, _)| {
                        m.row_of
                            .get(s as usize)
                            .filter(|&&r| r != NO_ROW)
                            .map(|&r| r as usize)
                    })
                    .collect();
                if rows.is_empty() {
                    return None;
                }
                let mut acc = vec![0.0f32; n];
                for r in rows {
                    for (a, &w) in acc.iter_mut().zip(&m.b[r * n..(r + 1) * n]) {
                        *a += w;
                    }
                }
                let mut out = vec![f32::NEG_INFINITY; slots];
                for (j, &s) in m.items.iter().enumerate() {
                    if s != NO_ROW && (s as usize) < slots {
                        out[s as usize] = acc[j];
                    }
                }
                Some(out)
            }
            Model::Popularity { scores } => {
                let mut out = scores.clone();
                out.resize(slots, 0.0);
                Some(out)
            }
        }
    }

    /// Per-slot similarity to item `slot`, or `None` when the model has no view of it.
    pub(crate) fn similar_scores(&self, slots: usize, slot: u32) -> Option<Vec<f32>> {
        match self {
            Model::Als(m) => {
                let f = m.params.factors;
                let rows = (m.item_factors.len() / f).min(slots);
                if slot as usize >= rows {
                    return None;
                }
                let t = m.factor(slot);
                let tn = dot(t, t).sqrt();
                if tn == 0.0 {
                    return None;
                }
                let mut out = vec![f32::NEG_INFINITY; slots];
                out[..rows].par_iter_mut().enumerate().for_each(|(s, o)| {
                    let y = &m.item_factors[s * f..(s + 1) * f];
                    let n = dot(y, y).sqrt();
                    if n > 0.0 {
                        *o = dot(y, t) / (n * tn);
                    }
                });
                Some(out)
            }
            Model::Knn(m) => {
                let nb = m.neighbours.get(slot as usize).filter(|v| !v.is_empty())?;
                let mut out = vec![f32::NEG_INFINITY; slots];
                for &(j, sim) in nb {
                    if (j as usize) < slots {
                        out[j as usize] = sim;
                    }
                }
                Some(out)
            }
            Model::Ease(m) => {
                let n = m.items.len();
                let r = *m.row_of.get(slot as usize).filter(|&&r| r != NO_ROW)? as usize;
                let mut out = vec![f32::NEG_INFINITY; slots];
                for (j, &s) in m.items.iter().enumerate() {
                    if s != NO_ROW && (s as usize) < slots && j != r {
                        out[s as usize] = m.b[r * n + j];
                    }
                }
                Some(out)
            }
            Model::Popularity { .. } => None,
        }
    }
}

impl AlsModel {
    /// Incremental update after new interactions: re-solve the touched users from their
    /// histories, then the touched items from the users who interacted with them. Costs
    /// O(users·f² + touched·(f³ + history)) — refit from time to time for the best model.
    pub(crate) fn update(
        &mut self,
        users: &crate::users::Users,
        touched_users: &[u32],
        touched_items: &[u32],
    ) {
        let f = self.params.factors;
        self.user_factors.resize(users.len() * f, 0.0);
        for &u in touched_users {
            let hist = aggregate(
                users.histories[u as usize]
                    .iter()
                    .map(|i| (i.slot, i.weight)),
            );
            if let Some(x) = self.fold_in(&hist) {
                self.user_factors[u as usize * f..(u as usize + 1) * f].copy_from_slice(&x);
            }
        }
        // Item side: the same normal equations with the roles of users and items swapped.
        let mut by_item: std::collections::HashMap<u32, Vec<(u32, f32)>> =
            touched_items.iter().map(|&i| (i, Vec::new())).collect();
        for (u, h) in users.histories.iter().enumerate() {
            for it in h {
                if let Some(v) = by_item.get_mut(&it.slot) {
                    v.push((u as u32, it.weight));
                }
            }
        }
        let xtx = gram(&self.user_factors, f, |_| true);
        let swapped = AlsModel {
            params: self.params.clone(),
            item_factors: self.user_factors.clone(),
            trained: vec![true; users.len()],
            yty: xtx,
            cold_map: None,
            user_factors: Vec::new(),
        };
        for (i, us) in by_item {
            if let Some(y) = swapped.fold_in(&aggregate(us.into_iter())) {
                let i = i as usize;
                if i < self.trained.len() {
                    // Keep YᵀY current by rank-1 updates instead of recomputing it.
                    let old: Vec<f32> = self.item_factors[i * f..(i + 1) * f].to_vec();
                    let was = self.trained[i];
                    for a in 0..f {
                        for b in 0..f {
                            let remove = if was { old[a] * old[b] } else { 0.0 };
                            self.yty[a * f + b] += y[a] * y[b] - remove;
                        }
                    }
                    self.item_factors[i * f..(i + 1) * f].copy_from_slice(&y);
                    self.trained[i] = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_sums_duplicates_and_transposes() {
        let m = Csr::from_rows(
            &[vec![(2, 1.0), (0, 1.0), (2, 2.0)], vec![], vec![(1, 5.0)]],
            3,
        );
        assert_eq!(m.row(0), (&[0u32, 2][..], &[1.0f32, 3.0][..]));
        assert_eq!(m.row(1).0.len(), 0);
        let t = m.transpose();
        assert_eq!(t.row(2), (&[0u32][..], &[3.0f32][..]));
        assert_eq!(t.row(1), (&[2u32][..], &[5.0f32][..]));
    }

    #[test]
    fn cholesky_solves() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let x = solve_spd(&a, &[2.0, 1.0], 2).unwrap();
        assert!(
            (4.0 * x[0] + 2.0 * x[1] - 2.0).abs() < 1e-12
                && (2.0 * x[0] + 3.0 * x[1] - 1.0).abs() < 1e-12
        );
        assert!(solve_spd(&[-1.0], &[1.0], 1).is_none());
    }

    #[test]
    fn cg_matches_exact_solve() {
        // With enough CG steps the update equals the exact least-squares solution.
        let f = 4;
        let y: Vec<f32> = (0..5 * f)
            .map(|i| ((i * 7 % 11) as f32 - 5.0) / 10.0)
            .collect();
        let p = AlsParams {
            factors: f,
            cg_steps: 20,
            regularization: 0.1,
            alpha: 2.0,
            ..Default::default()
        };
        let yty = gram(&y, f, |_| true);
        let (cols, ws) = (vec![0u32, 3], vec![1.0f32, 4.0]);
        let mut x = vec![0.0f32; f];
        let cs: Vec<f32> = ws.iter().map(|&w| confidence(&p, w)).collect();
        cg_row(&mut x, &yty, &y, f, &cols, &cs, &p);
        let model = AlsModel {
            params: p,
            item_factors: y.clone(),
            trained: vec![true; 5],
            yty,
            cold_map: None,
            user_factors: vec![],
        };
        let exact = model.fold_in(&[(0, 1.0), (3, 4.0)]).unwrap();
        for (a, b) in x.iter().zip(&exact) {
            assert!((a - b).abs() < 1e-3, "{x:?} vs {exact:?}");
        }
    }

    #[test]
    fn knn_cosine_on_a_tiny_matrix() {
        // Items 0 and 1 always co-occur, item 2 is with 0 once.
        let m = Csr::from_rows(
            &[vec![(0, 1.0), (1, 1.0)], vec![(0, 1.0), (1, 1.0), (2, 1.0)]],
            3,
        );
        let p = KnnParams {
            neighbours: 5,
            weighting: KnnWeighting::Cosine,
        };
        let k = fit_knn(&m, &p, &mut |_| true).unwrap();
        assert_eq!(k.neighbours[0][0].0, 1);
        assert!((k.neighbours[0][0].1 - 1.0).abs() < 1e-6);
        assert!((k.neighbours[0][1].1 - (1.0 / 2f32.sqrt())).abs() < 1e-6);
    }

    #[test]
    fn incremental_update_keeps_the_gram_matrix_exact() {
        use crate::users::{Interaction, Users};
        let mut users = Users::default();
        for u in 0..5u32 {
            for i in 0..4u32 {
                users.add(
                    &format!("u{u}"),
                    Interaction {
                        slot: (u + i) % 6,
                        weight: 1.0 + i as f32,
                        ts: 0,
                    },
                );
            }
        }
        let f = 3;
        let item_factors: Vec<f32> = (0..6 * f).map(|i| ((i * 13 % 7) as f32) / 7.0).collect();
        let trained = vec![true, true, true, true, true, false];
        let yty = gram(&item_factors, f, |s| trained[s]);
        let params = AlsParams {
            factors: f,
            regularization: 0.1,
            ..Default::default()
        };
        let user_factors = vec![0.1; 5 * f];
        let mut m = AlsModel {
            params,
            item_factors,
            trained,
            yty,
            cold_map: None,
            user_factors,
        };
        m.update(&users, &[0, 1], &[2, 5]);
        assert!(
            m.trained[5],
            "an item with its first interactions becomes trained"
        );
        let t = m.trained.clone();
        let expect = gram(&m.item_factors, f, |s| t[s]);
        for (a, b) in m.yty.iter().zip(&expect) {
            assert!((a - b).abs() < 1e-4, "{:?} vs {expect:?}", m.yty);
        }
    }
}
