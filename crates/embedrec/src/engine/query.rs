//! Single queries: search, similar, recommend and recommend-for-items, through the result
//! cache.

use super::validate::{check_k, check_options, check_weights};
use super::{Engine, Hit, Op, RecommendOptions, State};
use crate::model::aggregate;
use crate::store::filter::CompiledFilter;
use crate::store::{Catalog, Filter, Interaction, Users};
use crate::{Error, Result};
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub(super) fn key_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

pub(super) fn key_opts(out: &mut Vec<u8>, k: usize, opts: &RecommendOptions) {
    out.extend_from_slice(&(k as u64).to_le_bytes());
    out.push(opts.exclude_seen as u8);
    out.extend_from_slice(&opts.diversity.to_bits().to_le_bytes());
    match &opts.filter {
        Some(f) => {
            out.push(1);
            f.write_key(out);
        }
        None => out.push(0),
    }
}

impl Engine {
    /// The cached result for the key `key()` builds, or `compute`'s (then cached). With the
    /// cache disabled the key is never built.
    pub(super) fn cached(
        &self,
        key: impl FnOnce() -> Vec<u8>,
        compute: impl FnOnce() -> Result<Vec<Hit>>,
    ) -> Result<Arc<Vec<Hit>>> {
        if !self.cache.lock().enabled() {
            return Ok(Arc::new(compute()?));
        }
        let key = key();
        if let Some(hit) = self.cache.lock().get(&key) {
            return Ok(hit);
        }
        let v = Arc::new(compute()?);
        self.cache.lock().insert(key, v.clone());
        Ok(v)
    }

    // ------------------------------------------------------------------ queries

    /// The `k` items most similar to `query` that pass `filter`, best first.
    pub fn search(&self, query: &[f32], k: usize, filter: Option<&Filter>) -> Result<Vec<Hit>> {
        self.timed(Op::Search, || {
            check_k(k)?;
            self.check_searchable("query")?;
            Catalog::check_vector(self.config.dim, self.config.metric, "query", None, query)?;
            let st = self.state.read();
            self.search_in(&st, query, k, filter).map(unshare)
        })
    }

    /// Vector search needs content vectors: an engine of `dim` 0 has none.
    pub(super) fn check_searchable(&self, field: &str) -> Result<()> {
        if self.config.dim == 0 {
            return Err(Error::invalid(
                field,
                "an engine with content vectors (dim > 0)",
                "an engine of dim 0 (interactions only)",
            ));
        }
        Ok(())
    }

    pub(super) fn search_in(
        &self,
        st: &State,
        query: &[f32],
        k: usize,
        filter: Option<&Filter>,
    ) -> Result<Arc<Vec<Hit>>> {
        let key = || {
            let mut key = Vec::with_capacity(17 + 4 * query.len());
            key.push(b'S');
            key.extend_from_slice(&self.epoch.load(Ordering::SeqCst).to_le_bytes());
            key.extend_from_slice(&(k as u64).to_le_bytes());
            for x in query {
                key.extend_from_slice(&x.to_bits().to_le_bytes());
            }
            if let Some(f) = filter {
                f.write_key(&mut key);
            }
            key
        };
        self.cached(key, || {
            let cf = match filter {
                Some(f) => f.compile(&st.cat, "filter")?,
                None => CompiledFilter::default(),
            };
            let q = self.prepare(query);
            Ok(self.run_query(st, &q, k, &cf))
        })
    }

    /// The `k` items most similar to item `id` (never the item itself), best first.
    pub fn similar(&self, id: &str, k: usize, filter: Option<&Filter>) -> Result<Vec<Hit>> {
        self.timed(Op::Similar, || {
            check_k(k)?;
            let st = self.state.read();
            let slot = st.cat.require(id, || "id".into())?;
            let mut key = vec![b'I'];
            key.extend_from_slice(&self.epoch.load(Ordering::SeqCst).to_le_bytes());
            key.extend_from_slice(&(k as u64).to_le_bytes());
            key_str(&mut key, id);
            if let Some(f) = filter {
                f.write_key(&mut key);
            }
            self.cached(
                || key,
                || {
                    let mut cf = match filter {
                        Some(f) => f.compile(&st.cat, "filter")?,
                        None => CompiledFilter::default(),
                    };
                    cf.exclude([slot]);
                    if let Some(model) = &st.model
                        && let Some(r) = model.similar_ranking(st.cat.slots(), slot)
                    {
                        return Ok(self.rank_model(&st, model, r, k, &cf));
                    }
                    if !st.cat.has_vector(slot) {
                        // Neither a model view nor a content vector: the most popular items.
                        return Ok(self.popular(&st, k, &cf));
                    }
                    let q = st.cat.index_vector_ref(slot);
                    Ok(self.run_query(&st, &q, k, &cf))
                },
            )
            .map(unshare)
        })
    }

    /// Recommendations for a stored user from their interaction history, best first. Seen items
    /// are excluded unless `opts.exclude_seen` is false. [`Error::UnknownUser`] when the engine
    /// has no interactions for `user_id` (use [`Engine::recommend_for_items`] for anonymous
    /// sessions). Falls back to popularity when no history item is left in the catalog.
    pub fn recommend(&self, user_id: &str, k: usize, opts: &RecommendOptions) -> Result<Vec<Hit>> {
        self.timed(Op::Recommend, || {
            check_k(k)?;
            check_options(opts)?;
            let st = self.state.read();
            self.recommend_in(&st, user_id, k, opts).map(unshare)
        })
    }

    pub(super) fn recommend_in(
        &self,
        st: &State,
        user_id: &str,
        k: usize,
        opts: &RecommendOptions,
    ) -> Result<Arc<Vec<Hit>>> {
        let hist = st.users.require(user_id)?;
        let mut key = vec![b'U'];
        key.extend_from_slice(&self.epoch.load(Ordering::SeqCst).to_le_bytes());
        key_str(&mut key, user_id);
        key_opts(&mut key, k, opts);
        let user = st.users.index(user_id);
        self.cached(
            || key,
            || self.recommend_from(st, user, hist.iter(), k, opts),
        )
    }

    /// Recommendations for an anonymous session or a user the engine has never stored, from
    /// the items they interacted with (`weights` default to 1.0). Those items are excluded
    /// unless `opts.exclude_seen` is false. An empty list yields the most popular items.
    pub fn recommend_for_items<S: AsRef<str>>(
        &self,
        items: &[S],
        weights: Option<&[f32]>,
        k: usize,
        opts: &RecommendOptions,
    ) -> Result<Vec<Hit>> {
        self.timed(Op::RecommendForItems, || {
            check_k(k)?;
            check_options(opts)?;
            check_weights(weights, items.len(), "item")?;
            let st = self.state.read();
            let mut hist = Vec::with_capacity(items.len());
            let mut key = vec![b'P'];
            key.extend_from_slice(&self.epoch.load(Ordering::SeqCst).to_le_bytes());
            for (i, id) in items.iter().enumerate() {
                let id = id.as_ref();
                let slot = st.cat.require(id, || format!("items[{i}]"))?;
                let weight = weights.map_or(1.0, |w| w[i]);
                hist.push(Interaction {
                    slot,
                    weight,
                    ts: 0,
                });
                key_str(&mut key, id);
                key.extend_from_slice(&weight.to_bits().to_le_bytes());
            }
            key_opts(&mut key, k, opts);
            self.cached(
                || key,
                || self.recommend_from(&st, None, hist.iter().copied(), k, opts),
            )
            .map(unshare)
        })
    }

    /// Why `item_id` scores as it does for `user_id`: the `k` history items that contribute
    /// most to the model's score ("because you played …"), best first, each with its
    /// contribution (ALS: the exact decomposition of the folded-in score, as implicit's
    /// `explain`; item-kNN: weight × similarity; EASE: the item-item weight). Errors:
    /// unknown user or item, or a model that does not explain (none, popularity).
    pub fn explain(&self, user_id: &str, item_id: &str, k: usize) -> Result<Vec<Hit>> {
        check_k(k)?;
        let st = self.state.read();
        let hist = st.users.require(user_id)?;
        let item = st.cat.require(item_id, || "item_id".into())?;
        let model = st.model.as_ref().ok_or_else(|| {
            Error::invalid("model", "a trained model (als, item_knn or ease)", "none")
        })?;
        let agg = aggregate(
            hist.iter()
                .filter(|i| st.cat.is_live(i.slot))
                .map(|i| (i.slot, i.weight)),
        );
        let mut parts = model.explain(&agg, item).ok_or_else(|| {
            Error::invalid(
                "model",
                "a model that explains its scores (als, item_knn or ease)",
                model.name(),
            )
        })?;
        crate::index::sort_hits(&mut parts);
        parts.truncate(k);
        Ok(self.to_hits(&st, parts))
    }

    pub(super) fn recommend_from(
        &self,
        st: &State,
        user: Option<u32>,
        hist: impl Iterator<Item = Interaction> + Clone,
        k: usize,
        opts: &RecommendOptions,
    ) -> Result<Vec<Hit>> {
        if opts.diversity > 0.0 {
            let pool = k
                .saturating_mul(super::diversity::POOL)
                .min(super::MAX_K)
                .max(k);
            let candidates = self.recommend_ranked(st, user, hist, pool, opts)?;
            return Ok(self.diversify(st, candidates, k, opts.diversity));
        }
        self.recommend_ranked(st, user, hist, k, opts)
    }

    fn recommend_ranked(
        &self,
        st: &State,
        user: Option<u32>,
        hist: impl Iterator<Item = Interaction> + Clone,
        k: usize,
        opts: &RecommendOptions,
    ) -> Result<Vec<Hit>> {
        let mut cf = match &opts.filter {
            Some(f) => f.compile(&st.cat, "opts.filter")?,
            None => CompiledFilter::default(),
        };
        if opts.exclude_seen {
            cf.exclude(hist.clone().map(|i| i.slot));
        }
        if let Some(model) = &st.model {
            let agg = aggregate(
                hist.clone()
                    .filter(|i| st.cat.is_live(i.slot))
                    .map(|i| (i.slot, i.weight)),
            );
            if let Some(r) = model.ranking(st.cat.slots(), user, &agg) {
                return Ok(self.rank_model(st, model, r, k, &cf));
            }
        }
        match Users::profile(&st.cat, hist, self.config.recency_half_life_secs) {
            Some(q) => Ok(self.run_query(st, &q, k, &cf)),
            None => Ok(self.popular(st, k, &cf)),
        }
    }
}

/// The hits of a result, without a copy when nothing else (the cache) shares them.
pub(super) fn unshare(r: Arc<Vec<Hit>>) -> Vec<Hit> {
    Arc::try_unwrap(r).unwrap_or_else(|shared| shared.to_vec())
}
