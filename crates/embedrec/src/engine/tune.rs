//! Built-in tuning: candidate models and hyper-parameters trained on a validation split
//! carved from the stored interactions, ranked by NDCG@k on the held-out part, within a time
//! budget; the best is then trained on everything and installed.
//!
//! The split holds out a seeded fraction of each user's distinct items (users with at least
//! [`DEFAULT_MIN_INTERACTIONS`] of them); at most [`TuneOptions::max_users`] held-out users
//! are scored. Candidates are scored exactly (every item), with the items a user trained on
//! excluded, as `recommend` does.

use super::{Engine, FitReport};
use crate::model::eval::{DEFAULT_MIN_INTERACTIONS, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION};
use crate::model::{
    AlsParams, Confidence, Csr, EASE_MAX_ITEMS, EaseParams, KnnParams, KnnWeighting, Model,
    ModelSpec, Progress, Ranking, TrainingData,
};
use crate::{Error, Result, SplitMix64};
use rayon::prelude::*;
use std::collections::HashSet;
use std::time::Instant;

/// What [`Engine::fit_tuned`] searches.
#[derive(Clone, Debug, PartialEq)]
pub struct TuneOptions {
    /// Model names to consider (`"als"`, `"item_knn"`, `"ease"`, `"popularity"`); empty:
    /// all of them (EASE only when the catalog is small enough for it).
    pub models: Vec<String>,
    /// Seconds after which no new candidate is started (the running one finishes).
    pub budget_secs: f64,
    /// Cut-off of the validation metric (NDCG@k).
    pub k: usize,
    /// Held-out users scored at most.
    pub max_users: usize,
    /// Seed of the split.
    pub seed: u64,
}

impl Default for TuneOptions {
    fn default() -> Self {
        TuneOptions {
            models: Vec::new(),
            budget_secs: 120.0,
            k: 10,
            max_users: 2_000,
            seed: DEFAULT_SPLIT_SEED,
        }
    }
}

/// One candidate tried.
#[derive(Clone, Debug, PartialEq)]
pub struct Trial {
    /// The model and its parameters.
    pub spec: ModelSpec,
    /// Validation NDCG@k.
    pub ndcg: f64,
    /// Validation recall@k.
    pub recall: f64,
    /// Seconds spent training and scoring it.
    pub seconds: f64,
}

/// What [`Engine::fit_tuned`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct TuneReport {
    /// The candidate chosen (best validation NDCG@k), then trained on every interaction.
    pub chosen: ModelSpec,
    /// Every candidate tried, in the order tried.
    pub trials: Vec<Trial>,
    /// Held-out users scored.
    pub validation_users: usize,
    /// The final fit.
    pub fit: FitReport,
}

/// Candidates, most promising first within each model, the default first of all.
fn candidates(models: &[String], ease_fits: bool) -> Result<Vec<ModelSpec>> {
    let all = ["als", "item_knn", "ease", "popularity"];
    let wanted: Vec<&str> = if models.is_empty() {
        all.iter()
            .copied()
            .filter(|m| *m != "ease" || ease_fits)
            .collect()
    } else {
        for m in models {
            ModelSpec::parse(m)?;
        }
        models.iter().map(String::as_str).collect()
    };
    let mut out = Vec::new();
    for m in wanted {
        match m {
            "als" => {
                let base = AlsParams::default();
                out.push(ModelSpec::Als(base.clone()));
                for (factors, regularization, confidence, alpha) in [
                    (64, 0.1, Confidence::Log, 4.0),
                    (128, 0.1, Confidence::Log, 2.0),
                    (64, 1.0, Confidence::Log, 8.0),
                    (32, 0.01, Confidence::Log, 2.0),
                    (64, 0.1, Confidence::Linear, 1.0),
                    (128, 1.0, Confidence::Log, 4.0),
                ] {
                    let p = AlsParams {
                        factors,
                        regularization,
                        confidence,
                        alpha,
                        ..base.clone()
                    };
                    if p != base {
                        out.push(ModelSpec::Als(p));
                    }
                }
            }
            "item_knn" => {
                let base = KnnParams::default();
                out.push(ModelSpec::ItemKnn(base.clone()));
                for (neighbours, weighting) in [
                    (50, KnnWeighting::Cosine),
                    (200, base.weighting),
                    (20, base.weighting),
                ] {
                    out.push(ModelSpec::ItemKnn(KnnParams {
                        neighbours,
                        weighting,
                    }));
                }
            }
            "ease" => {
                let base = EaseParams::default();
                out.push(ModelSpec::Ease(base.clone()));
                for regularization in [50.0, 500.0, 1500.0] {
                    out.push(ModelSpec::Ease(EaseParams { regularization }));
                }
            }
            _ => out.push(ModelSpec::Popularity),
        }
    }
    Ok(out)
}

impl Engine {
    /// Chooses a model and its hyper-parameters on a validation split of the stored
    /// interactions (see the module documentation), then trains the best on every
    /// interaction and installs it. `progress` is called after each candidate (`model`
    /// "tune", `iteration` = candidates done, `loss` = the best NDCG so far); returning
    /// `false` cancels ([`Error::Cancelled`]) and keeps the previous model.
    pub fn fit_tuned(
        &self,
        opts: &TuneOptions,
        mut progress: Option<&mut (dyn FnMut(&Progress) -> bool + Send)>,
    ) -> Result<TuneReport> {
        crate::util::check_range("tune.k", opts.k, 1, super::MAX_K)?;
        crate::util::check_range("tune.max_users", opts.max_users, 1, usize::MAX)?;
        if !(opts.budget_secs.is_finite() && opts.budget_secs > 0.0) {
            return Err(Error::invalid(
                "tune.budget_secs",
                "a finite number of seconds > 0",
                opts.budget_secs,
            ));
        }
        let t0 = Instant::now();
        let (train, held, slots, ease_fits) = {
            let st = self.state.read();
            let (train, held) = split(&st, opts.seed);
            let distinct: HashSet<u32> = train.indices.iter().copied().collect();
            (
                train,
                held,
                st.cat.slots(),
                distinct.len() <= EASE_MAX_ITEMS,
            )
        };
        let cands = candidates(&opts.models, ease_fits && cfg!(feature = "ease"))?;
        let mut users: Vec<(u32, Vec<u32>)> = held.into_iter().collect();
        let mut rng = SplitMix64(opts.seed ^ 0x7E57);
        for i in (1..users.len()).rev() {
            users.swap(i, rng.below(i + 1));
        }
        users.truncate(opts.max_users);
        users.sort_unstable_by_key(|u| u.0);
        if users.is_empty() {
            return Err(Error::invalid(
                "interactions",
                format!(
                    "users with at least {DEFAULT_MIN_INTERACTIONS} distinct items to hold out"
                ),
                "none",
            ));
        }
        let mut trials = Vec::new();
        for (i, spec) in cands.iter().enumerate() {
            if i > 0 && t0.elapsed().as_secs_f64() >= opts.budget_secs {
                break;
            }
            let t = Instant::now();
            let trained = {
                let st = self.state.read();
                let mut cb = |_: Progress| true;
                self.background.install(|| {
                    Model::train(spec, TrainingData::Matrix(train.clone()), &st.cat, &mut cb)
                })?
            };
            let model = match trained {
                Ok(m) => m,
                // A candidate this data cannot train (e.g. too many items for EASE) is skipped.
                Err(Error::CapacityExceeded { .. }) => continue,
                Err(e) => return Err(e),
            };
            let (ndcg, recall) = self
                .background
                .install(|| score(&model, &train, &users, slots, opts.k))?;
            trials.push(Trial {
                spec: spec.clone(),
                ndcg,
                recall,
                seconds: t.elapsed().as_secs_f64(),
            });
            let best = trials.iter().map(|t| t.ndcg).fold(f64::MIN, f64::max);
            if let Some(p) = progress.as_deref_mut()
                && !p(&Progress {
                    model: "tune",
                    iteration: trials.len(),
                    total: cands.len(),
                    elapsed_secs: t0.elapsed().as_secs_f64(),
                    loss: Some(best),
                })
            {
                return Err(Error::Cancelled {
                    what: format!("tuning after {} candidates", trials.len()),
                });
            }
        }
        let best = trials
            .iter()
            .max_by(|a, b| a.ndcg.total_cmp(&b.ndcg))
            .ok_or_else(|| Error::invalid("tune.models", "a model this data can train", "none"))?;
        let chosen = best.spec.clone();
        let fit = self.fit(&chosen, progress)?;
        Ok(TuneReport {
            chosen,
            trials,
            validation_users: users.len(),
            fit,
        })
    }
}

/// The stored interactions as a training matrix with a seeded fraction of each eligible
/// user's distinct items held out: `(train, held-out items per user index)`.
fn split(st: &super::State, seed: u64) -> (Csr, Vec<(u32, Vec<u32>)>) {
    let mut rows = Vec::with_capacity(st.users.len());
    let mut held = Vec::new();
    for (u, h) in st.users.histories().iter().enumerate() {
        let mut row: Vec<(u32, f32)> = crate::model::aggregate(
            h.iter()
                .filter(|i| st.cat.is_live(i.slot))
                .map(|i| (i.slot, i.weight)),
        );
        if row.len() >= DEFAULT_MIN_INTERACTIONS {
            let mut rng = SplitMix64(seed ^ (u as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for i in (1..row.len()).rev() {
                row.swap(i, rng.below(i + 1));
            }
            let n_test = ((row.len() as f64 * DEFAULT_TEST_FRACTION).round() as usize).max(1);
            let test: Vec<u32> = row.drain(..n_test).map(|(s, _)| s).collect();
            held.push((u as u32, test));
        }
        rows.push(row);
    }
    (Csr::from_rows(&rows, st.cat.slots()), held)
}

/// Mean NDCG@k and recall@k of `model` over the held-out users, trained items excluded.
fn score(
    model: &Model,
    train: &Csr,
    users: &[(u32, Vec<u32>)],
    slots: usize,
    k: usize,
) -> (f64, f64) {
    let per_user: Vec<(f64, f64)> = users
        .par_iter()
        .map(|(u, test)| {
            let (cols, ws) = train.row(*u as usize);
            let hist: Vec<(u32, f32)> = cols.iter().copied().zip(ws.iter().copied()).collect();
            let seen = |s: u32| cols.binary_search(&s).is_ok();
            let ranked: Vec<u32> = match model.ranking(slots, Some(*u), &hist) {
                None => Vec::new(),
                Some(r) => top(model, r, k, slots, &seen),
            };
            let ideal: f64 = (0..test.len().min(k))
                .map(|r| 1.0 / ((r + 2) as f64).log2())
                .sum();
            let (mut dcg, mut hits) = (0.0, 0usize);
            for (r, s) in ranked.iter().enumerate() {
                if test.contains(s) {
                    hits += 1;
                    dcg += 1.0 / ((r + 2) as f64).log2();
                }
            }
            (dcg / ideal, hits as f64 / test.len() as f64)
        })
        .collect();
    let n = per_user.len().max(1) as f64;
    (
        per_user.iter().map(|p| p.0).sum::<f64>() / n,
        per_user.iter().map(|p| p.1).sum::<f64>() / n,
    )
}

/// The top `k` slots of a ranking, exactly, among slots not `seen`.
fn top(
    model: &Model,
    r: Ranking<'_>,
    k: usize,
    slots: usize,
    seen: &(dyn Fn(u32) -> bool + Sync),
) -> Vec<u32> {
    let pairs: Vec<(u32, f32)> = match r {
        Ranking::Factors(u) => {
            let (y, f) = model.item_factors().expect("a factor ranking has factors");
            (0..(y.len() / f).min(slots))
                .map(|s| (s as u32, crate::distance::dot(&y[s * f..(s + 1) * f], &u)))
                .collect()
        }
        Ranking::CosineFactors(_) => Vec::new(),
        Ranking::Candidates(c) => c,
        Ranking::Dense(d) => d.iter().enumerate().map(|(s, &x)| (s as u32, x)).collect(),
    };
    crate::index::top_k_pairs(pairs, k, &|s| !seen(s))
        .into_iter()
        .map(|(s, _)| s)
        .collect()
}
