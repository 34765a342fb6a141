//! Collaborative models learned from the engine's interactions: implicit ALS (conjugate
//! gradient), item-kNN (cosine or BM25-weighted co-occurrence) and popularity.
//!
//! [`Engine::fit`](crate::Engine::fit) trains on the interactions currently stored; the model
//! then serves `recommend`, `recommend_for_items`, `similar` and the batch calls. Users are
//! folded in at query time from their current history (as implicit's `recalculate_user`), so
//! new interactions of a user count immediately without retraining.

pub mod eval;

mod als;
mod csr;
mod ease;
mod knn;
mod record;
mod rows;
mod spec;

pub(crate) use als::{AlsModel, FoldSums};
pub(crate) use csr::{Csr, aggregate};
pub(crate) use ease::{EaseModel, NO_ROW};
pub(crate) use knn::KnnModel;
pub(crate) use rows::{HistoryRows, Rows};
pub use spec::{
    AlsParams, Confidence, EASE_MAX_ITEMS, EaseParams, KnnParams, KnnWeighting, ModelSpec, Progress,
};

use crate::Result;
use crate::store::Catalog;
use serde::{Deserialize, Serialize};

/// How a model ranks items for one query.
pub(crate) enum Ranking<'a> {
    /// By inner product with the item factors ([`Model::item_factors`]): the query vector.
    Factors(Vec<f32>),
    /// By cosine between the item factors and this vector.
    CosineFactors(Vec<f32>),
    /// Only these `(slot, score)` candidates have a score.
    Candidates(Vec<(u32, f32)>),
    /// A score for every slot (missing trailing slots score nothing).
    Dense(&'a [f32]),
}

/// What a model trains on (users × catalog slots).
pub(crate) enum TrainingData<'a> {
    /// A matrix built for the purpose (a validation split).
    Matrix(Csr),
    /// The engine's stored histories, read in place.
    Histories(HistoryRows<'a>),
}

/// A trained model, as stored in the engine and its file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum Model {
    Als(AlsModel),
    Knn(KnnModel),
    Ease(EaseModel),
    Popularity { scores: Vec<f32> },
}

impl Model {
    /// Trains the model `spec` asks for on `data` (users × catalog slots); popularity counts
    /// the users of each item (as `Users::popularity` ranks). ALS items without
    /// interactions get factors from the content vectors' cold-start map. `cb` is called
    /// after every iteration; `false` cancels.
    pub(crate) fn train(
        spec: &ModelSpec,
        data: TrainingData<'_>,
        cat: &Catalog,
        cb: &mut dyn FnMut(Progress) -> bool,
    ) -> Result<Model> {
        let m = match (spec, data) {
            // ALS reads the histories in place; the other models need a matrix.
            (ModelSpec::Als(p), TrainingData::Histories(h)) => {
                return Ok(Model::Als(AlsModel::train(&h, p, cat, cb)?));
            }
            (_, TrainingData::Histories(h)) => h.to_csr(),
            (_, TrainingData::Matrix(m)) => m,
        };
        Ok(match spec {
            ModelSpec::Als(p) => Model::Als(AlsModel::train(&m, p, cat, cb)?),
            ModelSpec::ItemKnn(p) => Model::Knn(knn::fit_knn(&m, p, cb)?),
            ModelSpec::Ease(p) => Model::Ease(ease::fit_ease(&m, p, cb)?),
            ModelSpec::Popularity => {
                let scores = popularity(&m);
                cb(Progress {
                    model: "popularity",
                    iteration: 1,
                    total: 1,
                    elapsed_secs: 0.0,
                    loss: None,
                });
                Model::Popularity { scores }
            }
        })
    }

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
        let spec = match self {
            Model::Als(m) => Some(ModelSpec::Als(m.params.clone())),
            Model::Knn(m) => Some(ModelSpec::ItemKnn(m.params.clone())),
            Model::Ease(m) => Some(ModelSpec::Ease(m.params.clone())),
            Model::Popularity { .. } => None,
        };
        if let Some(spec) = spec {
            spec.validate().map_err(|e| format!("parameters: {e}"))?;
        }
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

/// Per column of `m`: distinct users, ties broken by the summed weight `w` (`w / (w + 1)`
/// added), the ranking of `Users::popularity`.
fn popularity(m: &Csr) -> Vec<f32> {
    let mut users = vec![0u32; m.cols];
    let mut weight = vec![0.0f64; m.cols];
    for (&c, &w) in m.indices.iter().zip(&m.data) {
        users[c as usize] += 1;
        weight[c as usize] += w as f64;
    }
    users
        .iter()
        .zip(&weight)
        .map(|(&n, &w)| (n as f64 + w / (w + 1.0)) as f32)
        .collect()
}

// ---------------------------------------------------------------------------------- ALS
impl Model {
    /// Items removed from the catalog: their slots may be recycled, so forget them.
    pub(crate) fn forget(&mut self, slots: &[u32]) {
        match self {
            Model::Als(m) => {
                let f = m.params.factors;
                for &s in slots {
                    if (s as usize) < m.trained.len() {
                        m.trained[s as usize] = false;
                        m.item_factors.make_mut()[s as usize * f..(s as usize + 1) * f].fill(0.0);
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
    pub(crate) fn on_upsert(&mut self, cat: &Catalog, slots: &[u32]) {
        let n = cat.slots();
        match self {
            Model::Als(m) => m.fill_cold(cat, slots),
            Model::Knn(m) => m.neighbours.resize(n, Vec::new()),
            Model::Ease(m) => m.row_of.resize(n, NO_ROW),
            Model::Popularity { scores } => scores.resize(n, 0.0),
        }
    }

    /// How the model ranks items for a history (`user` is the stored user index, if any),
    /// or `None` when the model has nothing to say for it.
    pub(crate) fn ranking(
        &self,
        slots: usize,
        user: Option<u32>,
        hist: &[(u32, f32)],
    ) -> Option<Ranking<'_>> {
        match self {
            Model::Als(m) => {
                let u = match user.and_then(|u| m.user_factor(u)) {
                    Some(x) => x.to_vec(),
                    None => m.fold_in(hist)?,
                };
                Some(Ranking::Factors(u))
            }
            Model::Knn(m) => {
                // Accumulate into a dense scratch, remembering which slots were touched, so
                // that only the candidates are ranked.
                let mut acc = vec![0.0f32; slots];
                let mut touched = Vec::new();
                for &(s, w) in hist {
                    for &(j, sim) in m.neighbours.get(s as usize).map_or(&[][..], |v| v) {
                        if (j as usize) < slots {
                            if acc[j as usize] == 0.0 {
                                touched.push(j);
                            }
                            acc[j as usize] += w * sim;
                        }
                    }
                }
                if touched.is_empty() {
                    return None;
                }
                touched.sort_unstable();
                touched.dedup();
                Some(Ranking::Candidates(
                    touched.into_iter().map(|j| (j, acc[j as usize])).collect(),
                ))
            }
            Model::Ease(m) => {
                let n = m.items.len();
                let mut acc = vec![0.0f32; n];
                let mut any = false;
                for &(s, _) in hist {
                    if let Some(&r) = m.row_of.get(s as usize).filter(|&&r| r != NO_ROW) {
                        let r = r as usize;
                        any = true;
                        for (a, &w) in acc.iter_mut().zip(&m.b[r * n..(r + 1) * n]) {
                            *a += w;
                        }
                    }
                }
                any.then(|| {
                    Ranking::Candidates(
                        m.items
                            .iter()
                            .zip(acc)
                            .filter(|&(&s, _)| s != NO_ROW && (s as usize) < slots)
                            .map(|(&s, a)| (s, a))
                            .collect(),
                    )
                })
            }
            Model::Popularity { scores } => Some(Ranking::Dense(scores)),
        }
    }

    /// The ALS model, when that is what is installed.
    pub(crate) fn als(&self) -> Option<&AlsModel> {
        match self {
            Model::Als(m) => Some(m),
            _ => None,
        }
    }

    /// How much each history item contributes to the model's score of `item` for this
    /// history (ALS: the fold-in's exact decomposition; item-kNN: weight × similarity;
    /// EASE: the item-item weight), or `None` when the model cannot say (popularity, or no
    /// history item the model knows).
    pub(crate) fn explain(&self, hist: &[(u32, f32)], item: u32) -> Option<Vec<(u32, f32)>> {
        let out: Vec<(u32, f32)> = match self {
            Model::Als(m) => m.explain(hist, item)?,
            Model::Knn(m) => hist
                .iter()
                .filter_map(|&(s, w)| {
                    let nb = m.neighbours.get(s as usize)?;
                    nb.iter()
                        .find(|(j, _)| *j == item)
                        .map(|&(_, sim)| (s, w * sim))
                })
                .collect(),
            Model::Ease(m) => {
                let n = m.items.len();
                let col = *m.row_of.get(item as usize).filter(|&&r| r != NO_ROW)? as usize;
                hist.iter()
                    .filter_map(|&(s, _)| {
                        let r = *m.row_of.get(s as usize).filter(|&&r| r != NO_ROW)? as usize;
                        Some((s, m.b[r * n + col]))
                    })
                    .collect()
            }
            Model::Popularity { .. } => return None,
        };
        Some(out)
    }

    /// Item factors (`slots * factors`, row per slot) and their width, for a model that
    /// ranks by inner product with them.
    pub(crate) fn item_factors(&self) -> Option<(&[f32], usize)> {
        match self {
            Model::Als(m) => Some((&m.item_factors, m.params.factors)),
            _ => None,
        }
    }

    /// How the model ranks items by similarity to item `slot`, or `None` when the model has
    /// no view of it.
    pub(crate) fn similar_ranking(&self, slots: usize, slot: u32) -> Option<Ranking<'_>> {
        match self {
            Model::Als(m) => {
                let rows = (m.item_factors.len() / m.params.factors).min(slots);
                let t = m.factor(slot);
                ((slot as usize) < rows && t.iter().any(|&x| x != 0.0))
                    .then(|| Ranking::CosineFactors(t.to_vec()))
            }
            Model::Knn(m) => {
                let nb = m.neighbours.get(slot as usize).filter(|v| !v.is_empty())?;
                Some(Ranking::Candidates(
                    nb.iter()
                        .copied()
                        .filter(|&(j, _)| (j as usize) < slots)
                        .collect(),
                ))
            }
            Model::Ease(m) => {
                let n = m.items.len();
                let r = *m.row_of.get(slot as usize).filter(|&&r| r != NO_ROW)? as usize;
                Some(Ranking::Candidates(
                    m.items
                        .iter()
                        .enumerate()
                        .filter(|&(j, &s)| s != NO_ROW && (s as usize) < slots && j != r)
                        .map(|(j, &s)| (s, m.b[r * n + j]))
                        .collect(),
                ))
            }
            Model::Popularity { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::als::{cg_row, confidence, gram, solve_spd};
    use super::knn::fit_knn;
    use super::*;

    #[test]
    fn csr_sums_duplicates_and_transposes() {
        let m = Csr::from_rows(
            &[vec![(2, 1.0), (0, 1.0), (2, 2.0)], vec![], vec![(1, 5.0)]],
            3,
        );
        assert_eq!(m.row(0), (&[0u32, 2][..], &[1.0f32, 3.0][..]));
        assert_eq!(m.row(1).0.len(), 0);
        let t = rows::transpose(&m);
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
            item_factors: y.clone().into(),
            trained: vec![true; 5],
            yty,
            cold_map: None,
            user_factors: Vec::new().into(),
            xtx: None,
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
        use crate::store::{Interaction, Users};
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
            item_factors: item_factors.into(),
            trained,
            yty,
            cold_map: None,
            user_factors: user_factors.into(),
            xtx: None,
        };
        m.update(&users, &[0, 1], &[(2, 1), (5, 1)]);
        m.update(&users, &[3], &[(1, 1)]);
        // XᵀX follows the user rows that changed, without a full recomputation.
        let xtx = m.xtx.clone().unwrap();
        assert!(xtx.updates >= 3);
        let full = gram(&m.user_factors, f, |_| true);
        for (a, b) in xtx.m.iter().zip(&full) {
            assert!((a - b).abs() < 1e-4, "{:?} vs {full:?}", xtx.m);
        }
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

    /// A popular item gaining a few interactions keeps its factors (re-solving it would read
    /// every one of its users); an item whose new interactions are a real share of its
    /// users is re-solved.
    #[test]
    fn popular_items_keep_their_factors_after_a_few_interactions() {
        use super::als::ITEM_RESOLVE_RATIO;
        use crate::store::{Interaction, Users};
        let mut users = Users::default();
        let it = |slot| Interaction {
            slot,
            weight: 1.0,
            ts: 0,
        };
        for u in 0..=ITEM_RESOLVE_RATIO {
            users.add(&format!("u{u}"), it(0));
            users.add(&format!("u{u}"), it(1 + (u % 2) as u32));
        }
        users.add("new", it(0));
        users.add("new", it(2));
        let f = 4;
        let y: Vec<f32> = (0..3 * f).map(|i| 0.1 + (i % 5) as f32 / 10.0).collect();
        let mut m = AlsModel::from_factors(
            AlsParams {
                factors: f,
                ..Default::default()
            },
            y.clone(),
            vec![true; 3],
            vec![0.1; users.len() * f],
        );
        // Item 0 has 102 users, one of them new; item 2 has 51, one new.
        let moved = m.update(&users, &[users.len() as u32 - 1], &[(0, 1), (2, 1)]);
        assert_eq!(moved, vec![2]);
        assert_eq!(m.item_factors[..f], y[..f]);
        assert_ne!(m.item_factors[2 * f..], y[2 * f..]);
    }
}
