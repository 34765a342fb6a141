//! Implicit-feedback ALS (conjugate-gradient updates, as implicit's), its fold-in of users,
//! incremental updates after new interactions and the cold-start map from content vectors.

use super::csr::{Csr, aggregate};
use super::rows::{Rows, transpose};
use super::spec::{AlsParams, Confidence, Progress};
use crate::distance::dot;
use crate::store::Catalog;
use crate::util::mapped::Buf;
use crate::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AlsModel {
    pub(crate) params: AlsParams,
    /// `slots * factors`; rows of items without interactions come from the cold-start map.
    /// Owned, or a view of a read-only engine's file (copied before any change).
    pub(crate) item_factors: Buf<f32>,
    /// Items that had interactions at training time.
    pub(crate) trained: Vec<bool>,
    /// `Yᵀ Y` over trained items, `factors * factors`.
    pub(crate) yty: Vec<f32>,
    /// Ridge map from content vectors to factors (`dim * factors`) for cold-start items.
    pub(crate) cold_map: Option<Vec<f32>>,
    /// `users * factors`, kept current by incremental updates (owned or viewed, as
    /// `item_factors`).
    pub(crate) user_factors: Buf<f32>,
    /// `Xᵀ X` over the user factors for incremental item updates, kept current by rank-1
    /// updates as user rows change (recomputed after as many updates as there are users,
    /// so rounding cannot accumulate). Not saved: the first update after a load computes it.
    #[serde(skip)]
    pub(crate) xtx: Option<Gram>,
}

/// A Gram matrix maintained by rank-1 updates, with the number of updates since it was
/// last computed in full.
#[derive(Clone, Debug, Default)]
pub(crate) struct Gram {
    pub(crate) m: Vec<f32>,
    pub(crate) updates: usize,
}

impl Gram {
    /// Replaces row `old` by row `new` in the sum of outer products.
    fn replace(&mut self, old: &[f32], new: &[f32]) {
        let f = old.len();
        for a in 0..f {
            for b in 0..f {
                self.m[a * f + b] += new[a] * new[b] - old[a] * old[b];
            }
        }
        self.updates += 1;
    }
}

pub(super) fn confidence(p: &AlsParams, w: f32) -> f32 {
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
pub(super) fn cg_row(
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

/// One half-iteration: every row of `x` solved against `y`; `conf` turns a value of `m`
/// into its confidence (the user side reads weights, the item side stores confidences).
fn sweep<R: Rows>(
    x: &mut [f32],
    y: &[f32],
    m: &R,
    conf: impl Fn(f32) -> f32 + Sync,
    (f, p): (usize, &AlsParams),
    keep_y: &(dyn Fn(usize) -> bool + Sync),
) {
    let yty = gram(y, f, keep_y);
    x.par_chunks_mut(f)
        .enumerate()
        .for_each_init(Vec::new, |cs: &mut Vec<f32>, (r, xr)| {
            m.with_row(r, |cols, ws| {
                if !cols.is_empty() {
                    cs.clear();
                    cs.extend(ws.iter().map(|&w| conf(w)));
                    cg_row(xr, &yty, y, f, cols, cs, p);
                }
            })
        });
}

/// Implicit's loss: Σ_u Σ_i c (p - xᵀy)² + λ (|X|² + |Y|²), computed in O(nnz·f) plus
/// O((users + items)·f²) from the item side (`mt`: items × users, confidences): the
/// all-zero part Σ_u xᵀ YᵀY x is Σ (XᵀX ∘ YᵀY).
fn als_loss(x: &[f32], y: &[f32], mt: &Csr, f: usize, p: &AlsParams) -> f64 {
    let (xtx, yty) = (gram(x, f, |_| true), gram(y, f, |_| true));
    let mut total: f64 = xtx
        .iter()
        .zip(&yty)
        .map(|(&a, &b)| a as f64 * b as f64)
        .sum();
    total += (0..mt.rows)
        .into_par_iter()
        .map(|i| {
            let yi = &y[i * f..(i + 1) * f];
            let (users, cs) = mt.row(i);
            let mut l = 0.0f64;
            for (&u, &conf) in users.iter().zip(cs) {
                let s = dot(yi, &x[u as usize * f..(u as usize + 1) * f]) as f64;
                l += conf as f64 * (1.0 - s) * (1.0 - s) - s * s;
            }
            l
        })
        .sum::<f64>();
    total += p.regularization as f64 * (dot(x, x) as f64 + dot(y, y) as f64);
    total / mt.indices.len().max(1) as f64
}

/// Trains ALS on `m` (users x slots, weights) and `mt`, its transpose with the weights
/// replaced by confidences. Returns (user factors, item factors).
fn fit_als<R: Rows>(
    m: &R,
    mt: &Csr,
    p: &AlsParams,
    progress: &mut dyn FnMut(Progress) -> bool,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let f = p.factors;
    let mut rng = crate::util::rng::SplitMix64(p.seed);
    let mut init = |n: usize| -> Vec<f32> { (0..n * f).map(|_| rng.uniform() * 0.01).collect() };
    let mut x = init(m.rows());
    let mut y = init(m.cols());
    let item_has = |i: usize| mt.indptr[i + 1] > mt.indptr[i];
    let t0 = Instant::now();
    for it in 0..p.iterations {
        sweep(&mut x, &y, m, |w| confidence(p, w), (f, p), &item_has);
        sweep(&mut y, &x, mt, |c| c, (f, p), &|_| true);
        let loss = als_loss(&x, &y, mt, f, p);
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

/// Solves `A x = b` for a symmetric positive definite `A` (`n * n`) by Cholesky, in f64: the
/// small `dim × dim` system of the cold-start map, in every build (faer, behind the `ease`
/// feature, is for EASE's large dense inverse).
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
    /// Trains on `m` (users × slots: a matrix, or the engine's histories read in place)
    /// and completes the model: items without interactions (or not live) are untrained and
    /// get factors from the content vectors' cold-start map. Besides `m`, training holds
    /// only its transpose and the factors.
    pub(crate) fn train<R: Rows>(
        m: &R,
        p: &AlsParams,
        cat: &Catalog,
        cb: &mut dyn FnMut(Progress) -> bool,
    ) -> Result<AlsModel> {
        let mut mt = transpose(m);
        let per_item: Vec<usize> = mt.indptr.windows(2).map(|w| w[1] - w[0]).collect();
        let active_users = (0..m.rows()).filter(|&r| m.row_len(r) > 0).count();
        let active_items = per_item.iter().filter(|&&n| n > 0).count();
        let p = &p.resolved(active_users, active_items, mt.indices.len());
        // The item side's confidences are computed once, in place of the weights.
        for w in &mut mt.data {
            *w = confidence(p, *w);
        }
        let cols = m.cols();
        let (x, y) = fit_als(m, &mt, p, cb)?;
        drop(mt);
        let f = p.factors;
        let trained: Vec<bool> = (0..cols)
            .map(|i| cat.is_live(i as u32) && per_item[i] > 0)
            .collect();
        drop(per_item);
        // The map learns from trained items that have content vectors.
        let with_vectors: Vec<bool> = (0..cols)
            .map(|i| trained[i] && cat.has_vector(i as u32))
            .collect();
        let cold_map = if cat.dim() == 0 {
            None
        } else {
            cold_start_map(&cat.dense_vectors(), cat.dim(), &y, f, &with_vectors)
        };
        let yty = gram(&y, f, |i| trained[i]);
        let mut als = AlsModel {
            params: p.clone(),
            item_factors: y.into(),
            trained,
            yty,
            cold_map,
            user_factors: x.into(),
            xtx: None,
        };
        let cold: Vec<u32> = cat
            .live_slots()
            .filter(|&s| !als.trained[s as usize])
            .collect();
        als.fill_cold(cat, &cold);
        Ok(als)
    }

    /// Grows the model to the catalog's slots and gives these untrained slots their
    /// cold-start factors.
    pub(crate) fn fill_cold(&mut self, cat: &Catalog, slots: &[u32]) {
        let (n, f) = (cat.slots(), self.params.factors);
        self.item_factors.make_mut().resize(n * f, 0.0);
        self.trained.resize(n, false);
        for &s in slots {
            if !self.trained[s as usize] && cat.has_vector(s) {
                let y = self.cold_factor(&cat.vector(s));
                self.item_factors.make_mut()[s as usize * f..(s as usize + 1) * f]
                    .copy_from_slice(&y);
            }
        }
    }

    /// The fold-in system of a history: `A = YᵀY + Σ (c−1) y yᵀ + λI`, `b = Σ c y`, and the
    /// `(slot, c)` of the history items that have factors; `None` when none has.
    fn system(&self, hist: &[(u32, f32)]) -> Option<FoldIn> {
        let f = self.params.factors;
        let n = (self.trained.len() * f).min(self.item_factors.len());
        let rows = &self.item_factors[..n];
        let row = |s: u32| rows.get(s as usize * f..(s as usize + 1) * f);
        system(row, &self.yty, &self.params, hist)
    }

    /// The fold-in terms of a history (see [`FoldSums`]).
    pub(crate) fn fold_sums(&self, hist: &[(u32, f32)]) -> FoldSums {
        let f = self.params.factors;
        let n = (self.trained.len() * f).min(self.item_factors.len());
        let rows = &self.item_factors[..n];
        history_terms(
            |s| rows.get(s as usize * f..(s as usize + 1) * f),
            &self.params,
            hist,
        )
        .0
    }

    /// Exact fold-in of a user from `(slot, weight)` history (implicit's `recalculate_user`).
    pub(crate) fn fold_in(&self, hist: &[(u32, f32)]) -> Option<Vec<f32>> {
        let (a, b, _) = self.system(hist)?;
        solve_spd(&a, &b, self.params.factors).map(|x| x.into_iter().map(|v| v as f32).collect())
    }

    /// How much each history item contributes to the folded-in score of `item`: the score
    /// is `yᵢᵀ A⁻¹ b = Σⱼ cⱼ · yᵢᵀ A⁻¹ yⱼ` (implicit's `explain`), so item `j` contributes
    /// `cⱼ · zᵀ yⱼ` with `A z = yᵢ` (one solve). `None` without usable history or factors.
    pub(crate) fn explain(&self, hist: &[(u32, f32)], item: u32) -> Option<Vec<(u32, f32)>> {
        let f = self.params.factors;
        if item as usize >= self.trained.len() {
            return None;
        }
        let (a, _, used) = self.system(hist)?;
        let yi: Vec<f64> = self.factor(item).iter().map(|&v| v as f64).collect();
        let z = solve_spd(&a, &yi, f)?;
        Some(
            used.into_iter()
                .map(|(s, c)| {
                    let yj = self.factor(s);
                    let d: f64 = (0..f).map(|p| z[p] * yj[p] as f64).sum();
                    (s, (c * d) as f32)
                })
                .collect(),
        )
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

/// An item touched by new interactions is re-solved when they number at least 1/this of
/// its distinct users (see [`AlsModel::update`]).
pub(crate) const ITEM_RESOLVE_RATIO: usize = 100;

/// A fold-in system: `A` (`f × f`), `b`, and the `(slot, confidence)` of the items used.
type FoldIn = (Vec<f64>, Vec<f64>, Vec<(u32, f64)>);

/// The fold-in system of one row against `rows` (`n * f`, their Gram matrix `gram`) from a
/// `(row, weight)` history: rows past the end or all zero are skipped. `None` when none is
/// usable.
fn system<'a>(
    row: impl Fn(u32) -> Option<&'a [f32]>,
    gram: &[f32],
    p: &AlsParams,
    hist: &[(u32, f32)],
) -> Option<FoldIn> {
    let (terms, used) = history_terms(row, p, hist);
    if used.is_empty() {
        return None;
    }
    let mut a = terms.a;
    add_gram(&mut a, gram, p);
    Some((a, terms.b, used))
}

/// `A += YᵀY + λI`.
fn add_gram(a: &mut [f64], gram: &[f32], p: &AlsParams) {
    let f = p.factors;
    for (x, &g) in a.iter_mut().zip(gram) {
        *x += g as f64;
    }
    for d in 0..f {
        a[d * f + d] += p.regularization as f64 + 1e-9;
    }
}

/// A history's terms of the fold-in system, and the `(slot, confidence)` of the items used.
fn history_terms<'a>(
    row: impl Fn(u32) -> Option<&'a [f32]>,
    p: &AlsParams,
    hist: &[(u32, f32)],
) -> (FoldSums, Vec<(u32, f64)>) {
    let f = p.factors;
    let mut sums = FoldSums {
        a: vec![0.0f64; f * f],
        b: vec![0.0f64; f],
        used: 0,
    };
    let mut used = Vec::new();
    for &(s, w) in hist {
        let Some(yi) = row(s) else {
            continue;
        };
        if yi.iter().all(|v| *v == 0.0) {
            continue;
        }
        let c = confidence(p, w) as f64;
        used.push((s, c));
        for q in 0..f {
            sums.b[q] += c * yi[q] as f64;
            for r in 0..f {
                sums.a[q * f + r] += (c - 1.0) * yi[q] as f64 * yi[r] as f64;
            }
        }
    }
    sums.used = used.len();
    (sums, used)
}

/// A history's terms of a fold-in system, `Σ (c−1) y yᵀ` and `Σ c y` over its items with
/// factors, and how many those were. Terms of disjoint parts of one history (the items of
/// different shards) add up to the whole history's.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FoldSums {
    a: Vec<f64>,
    b: Vec<f64>,
    used: usize,
}

impl FoldSums {
    /// Terms of no item, for `factors` wide factors.
    pub(crate) fn empty(factors: usize) -> Self {
        FoldSums {
            a: vec![0.0; factors * factors],
            b: vec![0.0; factors],
            used: 0,
        }
    }

    /// Adds the terms of another part of the history (of the same width).
    pub(crate) fn add(&mut self, other: &FoldSums) {
        if self.a.len() != other.a.len() {
            return;
        }
        self.a.iter_mut().zip(&other.a).for_each(|(x, y)| *x += y);
        self.b.iter_mut().zip(&other.b).for_each(|(x, y)| *x += y);
        self.used += other.used;
    }

    /// The folded-in user factors against items whose Gram matrix is `gram` (the sum of
    /// every part's), or `None` when no item had factors.
    pub(crate) fn solve(&self, gram: &[f32], p: &AlsParams) -> Option<Vec<f32>> {
        if self.used == 0 || gram.len() != self.a.len() {
            return None;
        }
        let mut a = self.a.clone();
        add_gram(&mut a, gram, p);
        solve_spd(&a, &self.b, p.factors).map(|x| x.into_iter().map(|v| v as f32).collect())
    }
}

impl AlsModel {
    /// Incremental update after new interactions: re-solve the touched users from their
    /// histories, then the touched items (`(slot, new interactions)`) from the users who
    /// interacted with them — except items whose new interactions are under
    /// 1/[`ITEM_RESOLVE_RATIO`] of their users, which keep their factors (a popular item's
    /// re-solve reads every one of its users and barely moves it). Returns the items
    /// re-solved. Costs
    /// O(interactions + f²·(touched users + history of re-solved items) + touched·f³);
    /// `XᵀX` is kept by rank-1 updates. Refit from time to time for the best model.
    #[cfg(test)]
    pub(crate) fn update(
        &mut self,
        users: &crate::store::users::Users,
        touched_users: &[u32],
        touched_items: &[(u32, usize)],
    ) -> Vec<u32> {
        let plan = self.plan_update(users, touched_users, touched_items);
        self.apply_update(plan)
    }

    /// [`AlsModel::update`]'s computation, reading the model without changing it (so that
    /// queries can keep reading it meanwhile): the new rows of the touched users and of the
    /// items re-solved, and the Gram matrix of the user factors after them.
    pub(crate) fn plan_update(
        &self,
        users: &crate::store::users::Users,
        touched_users: &[u32],
        touched_items: &[(u32, usize)],
    ) -> AlsUpdate {
        let f = self.params.factors;
        // Users not yet in `user_factors` have zero rows, which add nothing to its Gram
        // matrix.
        let mut xtx = match &self.xtx {
            Some(g) if g.m.len() == f * f && g.updates < users.len().max(1) => g.clone(),
            _ => Gram {
                m: gram(&self.user_factors, f, |_| true),
                updates: 0,
            },
        };
        let zero = vec![0.0f32; f];
        let mut user_rows: std::collections::HashMap<u32, Vec<f32>> =
            std::collections::HashMap::with_capacity(touched_users.len());
        for &u in touched_users {
            let hist = aggregate(
                users.histories()[u as usize]
                    .iter()
                    .map(|i| (i.slot, i.weight)),
            );
            if let Some(x) = self.fold_in(&hist) {
                let old = user_rows
                    .get(&u)
                    .map(Vec::as_slice)
                    .or_else(|| self.user_factors.get(u as usize * f..(u as usize + 1) * f))
                    .unwrap_or(&zero);
                xtx.replace(old, &x);
                user_rows.insert(u, x);
            }
        }
        // Item side: the same normal equations with the roles of users and items swapped,
        // over the user rows as they are after the users' update.
        let mut by_item: std::collections::HashMap<u32, Vec<(u32, f32)>> = touched_items
            .iter()
            .filter(|&&(i, new)| users.reach(i) <= ITEM_RESOLVE_RATIO.saturating_mul(new))
            .map(|&(i, _)| (i, Vec::new()))
            .collect();
        for (u, h) in users.histories().iter().enumerate() {
            for it in h.iter() {
                if let Some(v) = by_item.get_mut(&it.slot) {
                    v.push((u as u32, it.weight));
                }
            }
        }
        let row = |u: u32| {
            user_rows
                .get(&u)
                .map(Vec::as_slice)
                .or_else(|| self.user_factors.get(u as usize * f..(u as usize + 1) * f))
        };
        let mut items = Vec::with_capacity(by_item.len());
        for (i, us) in by_item {
            if i as usize >= self.trained.len() {
                continue;
            }
            let hist = aggregate(us.into_iter());
            let Some((a, b, _)) = system(row, &xtx.m, &self.params, &hist) else {
                continue;
            };
            if let Some(y) = solve_spd(&a, &b, f) {
                items.push((i, y.into_iter().map(|v| v as f32).collect()));
            }
        }
        AlsUpdate {
            users: users.len(),
            user_rows: user_rows.into_iter().collect(),
            xtx,
            items,
        }
    }

    /// Installs an update [`AlsModel::plan_update`] computed (from this model, unchanged
    /// since); returns the items whose factors moved, sorted.
    pub(crate) fn apply_update(&mut self, plan: AlsUpdate) -> Vec<u32> {
        let f = self.params.factors;
        let users = self.user_factors.make_mut();
        users.resize(plan.users * f, 0.0);
        for (u, x) in plan.user_rows {
            users[u as usize * f..(u as usize + 1) * f].copy_from_slice(&x);
        }
        self.xtx = Some(plan.xtx);
        let mut moved = Vec::with_capacity(plan.items.len());
        for (i, y) in plan.items {
            let i = i as usize;
            // Keep YᵀY current by rank-1 updates instead of recomputing it.
            let old: Vec<f32> = self.item_factors[i * f..(i + 1) * f].to_vec();
            let was = self.trained[i];
            for a in 0..f {
                for b in 0..f {
                    let remove = if was { old[a] * old[b] } else { 0.0 };
                    self.yty[a * f + b] += y[a] * y[b] - remove;
                }
            }
            self.item_factors.make_mut()[i * f..(i + 1) * f].copy_from_slice(&y);
            self.trained[i] = true;
            moved.push(i as u32);
        }
        moved.sort_unstable();
        moved
    }
}

/// An incremental update of an ALS model, computed by [`AlsModel::plan_update`].
pub(crate) struct AlsUpdate {
    /// Users the model has rows for afterwards.
    users: usize,
    user_rows: Vec<(u32, Vec<f32>)>,
    xtx: Gram,
    items: Vec<(u32, Vec<f32>)>,
}

impl AlsModel {
    /// A model from factors trained elsewhere: `item_factors` has a row per catalog slot
    /// (zero rows where `trained` is false), `user_factors` a row per stored user (zero
    /// rows for users without one: they are folded in from their history). `params` gives
    /// the width and the fold-in's regularization and confidence.
    pub(crate) fn from_factors(
        params: AlsParams,
        item_factors: Vec<f32>,
        trained: Vec<bool>,
        user_factors: Vec<f32>,
    ) -> AlsModel {
        let yty = gram(&item_factors, params.factors, |s| trained[s]);
        AlsModel {
            params,
            item_factors: item_factors.into(),
            trained,
            yty,
            cold_map: None,
            user_factors: user_factors.into(),
            xtx: None,
        }
    }

    /// Factors of the stored users (`users * factors`; zero rows for users without one).
    pub(crate) fn user_factors(&self) -> &[f32] {
        &self.user_factors
    }

    /// Whether the item in `slot` had interactions when the factors were made.
    pub(crate) fn is_trained(&self, slot: u32) -> bool {
        self.trained.get(slot as usize).copied().unwrap_or(false)
    }
}
