//! Batch calls and evaluation, in parallel on the engine's pool.

use super::query::unshare;
use super::validate::{check_k, check_options, row_slices};
use super::{Engine, Hit, Op, RecommendOptions, blocked};
use crate::model::Model;
use crate::store::{Catalog, Filter};
use crate::{Error, Result};
use ndarray::ArrayView2;
use rayon::prelude::*;
use std::collections::HashSet;
use std::sync::Arc;

impl Engine {
    /// Runs [`Engine::search`] for every row of `queries`, in parallel on the engine's pool.
    pub fn search_batch(
        &self,
        queries: ArrayView2<'_, f32>,
        k: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<Vec<Hit>>> {
        self.timed(Op::SearchBatch, || {
            check_k(k)?;
            self.check_searchable("queries")?;
            if queries.ncols() != self.config.dim {
                return Err(Error::DimensionMismatch {
                    field: "queries".into(),
                    expected: self.config.dim,
                    got: queries.ncols(),
                });
            }
            let rows = row_slices(&queries);
            for (i, r) in rows.iter().enumerate() {
                Catalog::check_vector(
                    self.config.dim,
                    self.config.metric,
                    &format!("queries[{i}]"),
                    None,
                    r,
                )?;
            }
            let st = self.state.read();
            self.pool.install(|| {
                rows.par_iter()
                    .map(|q| self.search_in(&st, q, k, filter).map(unshare))
                    .collect()
            })?
        })
    }

    /// Runs [`Engine::recommend`] for every user, in parallel on the engine's pool. Fails as a
    /// whole (naming the user) if any user is unknown. With a factor model (ALS) and many
    /// users, scores are computed in blocks of matrix products instead of one query per user
    /// (the same ranking, without the result cache).
    pub fn recommend_batch<S: AsRef<str> + Sync>(
        &self,
        user_ids: &[S],
        k: usize,
        opts: &RecommendOptions,
    ) -> Result<Vec<Vec<Hit>>> {
        self.timed(Op::RecommendBatch, || {
            check_k(k)?;
            check_options(opts)?;
            let st = self.state.read();
            for u in user_ids {
                st.users.require(u.as_ref())?;
            }
            if let Some(Model::Als(m)) = &st.model
                && opts.diversity == 0.0
                && user_ids.len() >= blocked::MIN_USERS
                && st.cat.slots() <= blocked::MAX_ITEMS
            {
                let users: Vec<u32> = user_ids
                    .iter()
                    .map(|u| st.users.index(u.as_ref()).expect("checked above"))
                    .collect();
                let rows = self.recommend_blocked(&st, m, &users, k, opts)?;
                // Users the model could not place go through the single-query path.
                return rows
                    .into_iter()
                    .zip(user_ids)
                    .map(|(r, u)| match r {
                        Some(hits) => Ok(hits),
                        None => self.recommend_in(&st, u.as_ref(), k, opts).map(unshare),
                    })
                    .collect();
            }
            self.pool.install(|| {
                user_ids
                    .par_iter()
                    .map(|u| self.recommend_in(&st, u.as_ref(), k, opts).map(unshare))
                    .collect()
            })?
        })
    }

    /// Ranking metrics at `k` of the current engine (model or content profiles) on held-out
    /// interactions: for every test user the engine knows, the top `k` unseen items are compared
    /// with that user's test items (see [`crate::model::eval`] for the definitions).
    pub fn evaluate(
        &self,
        test: &crate::model::eval::Interactions,
        k: usize,
    ) -> Result<crate::model::eval::RankingMetrics> {
        self.evaluate_until(test, k, &|| false)
    }

    /// [`Engine::evaluate`] that stops with [`Error::Cancelled`] once `cancelled` returns
    /// true (asked before each user's recommendations).
    pub fn evaluate_until(
        &self,
        test: &crate::model::eval::Interactions,
        k: usize,
        cancelled: &(dyn Fn() -> bool + Sync),
    ) -> Result<crate::model::eval::RankingMetrics> {
        check_k(k)?;
        let mut relevant: std::collections::HashMap<&str, HashSet<String>> =
            std::collections::HashMap::new();
        for (u, i) in test.users.iter().zip(&test.items) {
            relevant.entry(u.as_str()).or_default().insert(i.clone());
        }
        let st = self.state.read();
        let mut users: Vec<&str> = relevant
            .keys()
            .copied()
            .filter(|u| st.users.index(u).is_some())
            .collect();
        users.sort_unstable();
        let opts = RecommendOptions::default();
        let recs: Vec<Vec<Hit>> = self.pool.install(|| {
            users
                .par_iter()
                .map(|u| {
                    if cancelled() {
                        return Err(Error::Cancelled {
                            what: "evaluate".into(),
                        });
                    }
                    self.recommend_from(
                        &st,
                        st.users.index(u),
                        st.users.history_or_empty(u).iter(),
                        k,
                        &opts,
                    )
                })
                .collect::<Result<Vec<_>>>()
        })??;
        let rec_ids: Vec<Vec<Arc<str>>> = recs
            .into_iter()
            .map(|r| r.into_iter().map(|h| h.id).collect())
            .collect();
        let rel: Vec<HashSet<String>> = users.iter().map(|u| relevant[u].clone()).collect();
        Ok(crate::model::eval::ranking_metrics(
            &rec_ids,
            &rel,
            k,
            st.cat.len(),
        ))
    }
}
