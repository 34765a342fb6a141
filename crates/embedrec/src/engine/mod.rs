//! The [`Engine`]: catalog + index + interactions + cache + metrics behind one thread-safe handle.

mod cache;
pub(crate) mod config;
mod metrics;
mod pool;

pub use cache::CacheStats;
pub use config::{EngineConfig, IndexKind, MAX_DIM, MAX_EF, MAX_HNSW_M, MAX_K, MAX_THREADS};
pub(crate) use metrics::Op;
pub use metrics::OpStats;

#[cfg(feature = "hnsw-rs")]
use crate::index::HnswIndex;
use crate::index::{AnnIndex, ExactIndex, NativeHnsw, StoredGraph, exact_top_k, top_k_by};
use crate::model::{Csr, Model, ModelSpec, Progress, aggregate};
use crate::store::Filter;
use crate::store::filter::CompiledFilter;
use crate::store::{Catalog, ItemAttrs, PreparedItem};
use crate::store::{Interaction, Users};
use crate::{Error, Metric, Result};
use cache::ResultCache;
use metrics::Metrics;
use ndarray::ArrayView2;
use parking_lot::{Mutex, RwLock};
use pool::Pool;
use rayon::prelude::*;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// Most graph candidates examined for one query before the exact path is preferred.
const MAX_FETCH: usize = 4_096;

/// One result: an item id and its score (higher is better: cosine similarity, inner product,
/// or negated squared L2 distance).
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The host's item id.
    pub id: Arc<str>,
    /// The score under the engine's metric.
    pub score: f32,
}

/// Options of [`Engine::recommend`] and friends.
#[derive(Clone, Debug, PartialEq)]
pub struct RecommendOptions {
    /// Restricts which items may be recommended.
    pub filter: Option<Filter>,
    /// Leaves out items the user (or the given session items) already interacted with.
    /// Default `true`.
    pub exclude_seen: bool,
}

impl Default for RecommendOptions {
    fn default() -> Self {
        RecommendOptions {
            filter: None,
            exclude_seen: true,
        }
    }
}

impl RecommendOptions {
    /// Default options with this filter.
    pub fn with_filter(filter: Filter) -> Self {
        RecommendOptions {
            filter: Some(filter),
            ..Default::default()
        }
    }
}

/// A snapshot of the engine's size, cache and latency figures.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineStats {
    /// Live items.
    pub items: usize,
    /// Users with stored interactions.
    pub users: usize,
    /// Stored interactions.
    pub interactions: usize,
    /// Index kind (`"hnsw"` or `"exact"`).
    pub index: &'static str,
    /// Approximate bytes used by the index structure (the native graph's level-0 links
    /// included, though they sit in the catalog's rows next to each vector).
    pub index_memory_bytes: usize,
    /// Approximate bytes used by catalog vectors (their rows' link entries excluded).
    pub vector_memory_bytes: usize,
    /// Mutation counter; part of every cache key.
    pub epoch: u64,
    /// Worker threads of the engine's pool.
    pub threads: usize,
    /// Installed model, if any.
    pub model: Option<&'static str>,
    /// Result cache counters.
    pub cache: CacheStats,
    /// Per-operation counts and latency percentiles.
    pub ops: Vec<OpStats>,
}

pub(crate) struct State {
    pub(crate) cat: Catalog,
    pub(crate) index: Box<dyn AnnIndex>,
    pub(crate) users: Users,
    pub(crate) model: Option<Model>,
}

/// What [`Engine::fit`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct FitReport {
    /// Model name.
    pub model: &'static str,
    /// Users in the training matrix.
    pub users: usize,
    /// Items (catalog slots) in the training matrix.
    pub items: usize,
    /// Distinct (user, item) pairs trained on.
    pub interactions: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Final training loss, where the model defines one.
    pub loss: Option<f64>,
}

/// The recommendation engine. All methods take `&self`; the engine is `Send + Sync` and meant
/// to be shared (e.g. in an `Arc`) between threads: queries run concurrently under a read
/// lock, mutations take the write lock briefly.
pub struct Engine {
    config: EngineConfig,
    /// Current search breadth (starts at `config.ef_search`; see [`Engine::set_ef_search`]).
    ef_search: AtomicUsize,
    state: RwLock<State>,
    cache: Mutex<ResultCache>,
    metrics: Metrics,
    pool: Pool,
    epoch: AtomicU64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("items", &self.len())
            .finish()
    }
}

fn check_k(k: usize) -> Result<()> {
    if k == 0 || k > MAX_K {
        return Err(Error::invalid("k", format!("an integer in 1..={MAX_K}"), k));
    }
    Ok(())
}

fn check_id(field: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid(field, "a non-empty id", "\"\""));
    }
    if id.len() > crate::store::MAX_ID_BYTES {
        return Err(Error::invalid(
            field,
            format!("an id of at most {} bytes", crate::store::MAX_ID_BYTES),
            format!("{} bytes", id.len()),
        ));
    }
    Ok(())
}

fn check_len(field: &str, expected: usize, got: usize, of: &str) -> Result<()> {
    if expected != got {
        return Err(Error::invalid(
            field,
            format!("{expected} entries (one per {of})"),
            format!("{got} entries"),
        ));
    }
    Ok(())
}

/// Weights, when given, must be one per entry, finite and > 0.
fn check_weights(weights: Option<&[f32]>, n: usize, of: &str) -> Result<()> {
    if let Some(w) = weights {
        check_len("weights", n, w.len(), of)?;
        if let Some(i) = w.iter().position(|x| !(x.is_finite() && *x > 0.0)) {
            return Err(Error::invalid(
                format!("weights[{i}]"),
                "a finite weight > 0",
                w[i],
            ));
        }
    }
    Ok(())
}

fn key_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn key_opts(out: &mut Vec<u8>, k: usize, opts: &RecommendOptions) {
    out.extend_from_slice(&(k as u64).to_le_bytes());
    out.push(opts.exclude_seen as u8);
    match &opts.filter {
        Some(f) => {
            out.push(1);
            f.write_key(out);
        }
        None => out.push(0),
    }
}

impl Engine {
    /// Creates an empty engine. Fails with [`Error::InvalidInput`] when a config field is out
    /// of range (for example `m > 256`, `dim == 0`).
    pub fn new(config: EngineConfig) -> Result<Self> {
        config.validate()?;
        let cat = Catalog::new(
            config.dim,
            config.metric,
            config.vector_storage,
            config.row_links(),
        );
        let index = Self::make_index(&config);
        Ok(Self::assemble(
            config,
            State {
                cat,
                index,
                users: Users::default(),
                model: None,
            },
        ))
    }

    fn make_index(config: &EngineConfig) -> Box<dyn AnnIndex> {
        match config.index {
            IndexKind::Exact => Box::new(ExactIndex),
            IndexKind::Native => Box::new(NativeHnsw::new(
                config.m,
                config.ef_construction,
                config.rebuild_tombstone_fraction,
            )),
            IndexKind::NativeInt8 => Box::new(
                NativeHnsw::new(
                    config.m,
                    config.ef_construction,
                    config.rebuild_tombstone_fraction,
                )
                .with_int8(),
            ),
            #[cfg(not(feature = "hnsw-rs"))]
            IndexKind::Hnsw => unreachable!("rejected by EngineConfig::validate"),
            #[cfg(feature = "hnsw-rs")]
            IndexKind::Hnsw => Box::new(HnswIndex::new(
                config.metric,
                config.dim,
                config.m,
                config.ef_construction,
                config.rebuild_tombstone_fraction,
            )),
        }
    }

    fn assemble(config: EngineConfig, state: State) -> Self {
        Engine {
            cache: Mutex::new(ResultCache::new(
                config.cache_capacity,
                config.cache_max_bytes,
                config.cache_ttl_secs,
            )),
            pool: Pool::new(config.threads),
            metrics: Metrics::new(),
            state: RwLock::new(state),
            epoch: AtomicU64::new(0),
            ef_search: AtomicUsize::new(config.ef_search),
            config,
        }
    }

    /// The configuration the engine runs with (`ef_search` as last set).
    pub fn config(&self) -> EngineConfig {
        EngineConfig {
            ef_search: self.ef_search.load(Ordering::Relaxed),
            threads: self.pool.configured(),
            ..self.config.clone()
        }
    }

    /// Changes the HNSW search breadth used by every later query (recall against speed, as
    /// hnswlib's `set_ef`). Cached results are invalidated; the value is saved with the engine.
    pub fn set_ef_search(&self, ef: usize) -> Result<()> {
        if ef == 0 || ef > config::MAX_EF {
            return Err(Error::invalid(
                "ef_search",
                format!("an integer in 1..={}", config::MAX_EF),
                ef,
            ));
        }
        let _st = self.state.write();
        self.ef_search.store(ef, Ordering::Relaxed);
        self.mutated();
        Ok(())
    }
    /// Changes the number of worker threads of the engine's pool (0 = one per core), for
    /// example after loading a file saved on a machine with a different core count. Takes
    /// effect for the next parallel call (batches, upserts, training); the value is saved
    /// with the engine. Results do not depend on it.
    pub fn set_threads(&self, threads: usize) -> Result<()> {
        crate::util::check_range("threads", threads, 0, config::MAX_THREADS)?;
        self.pool.set_threads(threads);
        Ok(())
    }
    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.config.dim
    }
    /// Number of live items.
    pub fn len(&self) -> usize {
        self.state.read().cat.len()
    }
    /// True when the catalog is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True when the item id is in the catalog.
    pub fn contains(&self, id: &str) -> bool {
        self.state.read().cat.slot_of(id).is_some()
    }
    /// The vector stored for an item: exactly as it was given, or under
    /// [`VectorStorage::Int8`](crate::VectorStorage::Int8) its decoded codes (the vector every
    /// score uses).
    pub fn item_vector(&self, id: &str) -> Result<Vec<f32>> {
        let st = self.state.read();
        let s = st.cat.require(id, || "id".into())?;
        Ok(st.cat.vector(s).into_owned())
    }
    /// Ids of all live items (in slot order).
    pub fn item_ids(&self) -> Vec<Arc<str>> {
        let st = self.state.read();
        st.cat.ids().map(|(_, id)| Arc::from(id)).collect()
    }

    pub(crate) fn timed<T>(&self, op: Op, f: impl FnOnce() -> Result<T>) -> Result<T> {
        let t = Instant::now();
        let r = f();
        self.metrics.record(op, t.elapsed(), r.is_ok());
        r
    }

    /// Marks a mutation: new epoch (part of every cache key) and an emptied cache.
    fn mutated(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cache.lock().clear();
    }

    // ------------------------------------------------------------------ mutations

    /// Inserts items, or replaces them when the id exists (vector, tags and attributes are all
    /// replaced; interactions with the item are kept). `vectors` has one row per id.
    ///
    /// Everything is validated before anything changes: on error the engine is untouched.
    pub fn upsert_items<S: AsRef<str>>(
        &self,
        ids: &[S],
        vectors: ArrayView2<'_, f32>,
        attrs: Option<&[ItemAttrs]>,
    ) -> Result<()> {
        let out = self.timed(Op::Upsert, || {
            let (dim, metric) = (self.config.dim, self.config.metric);
            check_len("vectors", ids.len(), vectors.nrows(), "id")?;
            if vectors.ncols() != dim {
                return Err(Error::DimensionMismatch {
                    field: "vectors".into(),
                    expected: dim,
                    got: vectors.ncols(),
                });
            }
            if let Some(a) = attrs {
                check_len("attributes", ids.len(), a.len(), "id")?;
            }
            let rows = row_slices(&vectors);
            let mut seen = HashSet::with_capacity(ids.len());
            let mut items = Vec::with_capacity(ids.len());
            for (i, id) in ids.iter().enumerate() {
                let id = id.as_ref();
                check_id(&format!("ids[{i}]"), id)?;
                if !seen.insert(id) {
                    return Err(Error::invalid(
                        format!("ids[{i}]"),
                        "ids unique within one call",
                        format!("{id:?} repeated"),
                    ));
                }
                Catalog::check_vector(dim, metric, &format!("vectors[{i}]"), Some(id), &rows[i])?;
                let a = attrs.map(|a| &a[i]);
                if let Some(a) = a {
                    Catalog::check_attrs(id, a)?;
                }
                items.push(PreparedItem {
                    id,
                    vector: &rows[i],
                    attrs: a,
                });
            }
            let mut st = self.state.write();
            let new_slots = items
                .iter()
                .filter(|it| st.cat.slot_of(it.id).is_none())
                .count();
            let total = st.cat.slots() as u64 + new_slots as u64;
            if total >= u32::MAX as u64 {
                return Err(Error::CapacityExceeded {
                    what: "catalog slots".into(),
                    limit: u32::MAX as u64 - 1,
                    got: total,
                });
            }
            let tag_entries = st.cat.tag_entries()
                + items
                    .iter()
                    .filter_map(|it| it.attrs)
                    .map(|a| crate::store::tags::entries_for(a.tags.len()))
                    .sum::<u64>();
            if tag_entries > crate::store::tags::MAX_TAG_ENTRIES {
                return Err(Error::CapacityExceeded {
                    what: "tag entries (tags plus one per tagged item)".into(),
                    limit: crate::store::tags::MAX_TAG_ENTRIES,
                    got: tag_entries,
                });
            }
            let applied = st.cat.apply(&items);
            let slots: Vec<u32> = applied.iter().map(|(s, _)| *s).collect();
            let State {
                cat, index, model, ..
            } = &mut *st;
            self.pool.install(|| index.upsert(cat, &slots))??;
            if let Some(m) = model {
                m.on_upsert(cat, &slots);
            }
            self.maybe_rebuild(&mut st)?;
            self.mutated();
            Ok(())
        });
        Self::release_memory_after_batch(ids.len());
        out
    }

    /// Hands freed heap pages back to the operating system after a batch of `items` items,
    /// when the batch is large (at least 4,096 items; glibc's `malloc_trim`, a no-op
    /// elsewhere). [`Engine::upsert_items`] does it for its own buffers; a binding calls it
    /// again once it has dropped the arguments it converted for a large batch (100,000
    /// items with one numeric attribute left 16 MB of freed holes resident otherwise).
    pub fn release_memory_after_batch(items: usize) {
        if items >= crate::util::memory::RELEASE_AFTER {
            crate::util::memory::release_free_memory();
        }
    }

    fn maybe_rebuild(&self, st: &mut State) -> Result<()> {
        if st.index.wants_rebuild() {
            let State { cat, index, .. } = st;
            self.pool.install(|| index.rebuild(cat))??;
            cat.scrub_free();
        }
        Ok(())
    }

    /// Removes items. Unknown ids are an error ([`Error::UnknownItem`]) and nothing is removed.
    /// Interactions with removed items are forgotten. Returns the number removed.
    pub fn remove_items<S: AsRef<str>>(&self, ids: &[S]) -> Result<usize> {
        self.timed(Op::Remove, || {
            let mut st = self.state.write();
            let mut slots = Vec::with_capacity(ids.len());
            for (i, id) in ids.iter().enumerate() {
                let id = id.as_ref();
                let s = st.cat.require(id, || format!("ids[{i}]"))?;
                slots.push(s);
            }
            slots.sort_unstable();
            slots.dedup();
            st.index.remove(&slots);
            // An index that walks through tombstones still needs their vectors.
            let keep_vectors = st.index.navigates_removed();
            for &s in &slots {
                st.cat.remove(s, keep_vectors);
            }
            st.users.purge_slots(&slots);
            if let Some(m) = &mut st.model {
                m.forget(&slots);
            }
            self.maybe_rebuild(&mut st)?;
            self.mutated();
            Ok(slots.len())
        })
    }

    /// Records interactions: `user_ids[i]` interacted with `item_ids[i]` with `weights[i]`
    /// (default 1.0; finite and > 0) at `timestamps[i]` (seconds; default 0). Items must be in
    /// the catalog. Repeated pairs add up (e.g. several plays).
    pub fn add_interactions<U: AsRef<str>, I: AsRef<str>>(
        &self,
        user_ids: &[U],
        item_ids: &[I],
        weights: Option<&[f32]>,
        timestamps: Option<&[i64]>,
    ) -> Result<()> {
        self.timed(Op::AddInteractions, || {
            let n = user_ids.len();
            check_len("item_ids", n, item_ids.len(), "user id")?;
            check_weights(weights, n, "user id")?;
            if let Some(t) = timestamps {
                check_len("timestamps", n, t.len(), "user id")?;
            }
            for (i, u) in user_ids.iter().enumerate() {
                check_id(&format!("user_ids[{i}]"), u.as_ref())?;
            }
            let mut st = self.state.write();
            let mut slots = Vec::with_capacity(n);
            for (i, id) in item_ids.iter().enumerate() {
                let id = id.as_ref();
                slots.push(st.cat.require(id, || format!("item_ids[{i}]"))?);
            }
            for i in 0..n {
                let it = Interaction {
                    slot: slots[i],
                    weight: weights.map_or(1.0, |w| w[i]),
                    ts: timestamps.map_or(0, |t| t[i]),
                };
                st.users.add(user_ids[i].as_ref(), it);
            }
            let State { users, model, .. } = &mut *st;
            if let Some(Model::Als(m)) = model {
                // Incremental update of the users and items these interactions touch.
                let mut touched_users: Vec<u32> = user_ids
                    .iter()
                    .filter_map(|u| users.index(u.as_ref()))
                    .collect();
                touched_users.sort_unstable();
                touched_users.dedup();
                slots.sort_unstable();
                slots.dedup();
                let (tu, ti) = (&touched_users, &slots);
                self.pool.install(|| m.update(users, tu, ti))?;
            }
            self.mutated();
            Ok(())
        })
    }

    // ------------------------------------------------------------------ queries

    /// The `k` items most similar to `query` that pass `filter`, best first.
    pub fn search(&self, query: &[f32], k: usize, filter: Option<&Filter>) -> Result<Vec<Hit>> {
        self.timed(Op::Search, || {
            check_k(k)?;
            Catalog::check_vector(self.config.dim, self.config.metric, "query", None, query)?;
            let st = self.state.read();
            self.search_in(&st, query, k, filter).map(unshare)
        })
    }

    fn search_in(
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
                    if let Some(model) = &st.model {
                        let scores = self
                            .pool
                            .install(|| model.similar_scores(st.cat.slots(), slot))?;
                        if let Some(scores) = scores {
                            return Ok(self.top_by_scores(&st, &scores, k, &cf));
                        }
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
            let st = self.state.read();
            self.recommend_in(&st, user_id, k, opts).map(unshare)
        })
    }

    fn recommend_in(
        &self,
        st: &State,
        user_id: &str,
        k: usize,
        opts: &RecommendOptions,
    ) -> Result<Arc<Vec<Hit>>> {
        let hist = st
            .users
            .history(user_id)
            .ok_or_else(|| Error::UnknownUser {
                id: user_id.to_string(),
            })?;
        let mut key = vec![b'U'];
        key.extend_from_slice(&self.epoch.load(Ordering::SeqCst).to_le_bytes());
        key_str(&mut key, user_id);
        key_opts(&mut key, k, opts);
        let user = st.users.index(user_id);
        self.cached(
            || key,
            || self.recommend_from(st, user, hist.iter().copied(), k, opts),
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

    fn recommend_from(
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
            let scores = self
                .pool
                .install(|| model.scores(st.cat.slots(), user, &agg))?;
            if let Some(scores) = scores {
                return Ok(self.top_by_scores(st, &scores, k, &cf));
            }
        }
        match Users::profile(&st.cat, hist, self.config.recency_half_life_secs) {
            Some(q) => Ok(self.run_query(st, &q, k, &cf)),
            None => Ok(self.popular(st, k, &cf)),
        }
    }

    /// Top k slots by a dense score vector among those passing the filter.
    fn top_by_scores(&self, st: &State, scores: &[f32], k: usize, cf: &CompiledFilter) -> Vec<Hit> {
        if cf.impossible {
            return Vec::new();
        }
        let accept = |s: u32| scores[s as usize] > f32::NEG_INFINITY && cf.matches(&st.cat, s);
        let hits = top_k_by(
            st.cat.slots(),
            &|s| scores[s as usize],
            k,
            &accept,
            cf.allow.as_deref(),
        );
        self.to_hits(st, hits)
    }

    /// Most popular items (by summed interaction weight) passing the filter.
    fn popular(&self, st: &State, k: usize, cf: &CompiledFilter) -> Vec<Hit> {
        let score = |s: u32| st.users.popularity(s) as f32;
        let accept = |s: u32| cf.matches(&st.cat, s);
        let hits = top_k_by(st.cat.slots(), &score, k, &accept, cf.allow.as_deref());
        self.to_hits(st, hits)
    }

    /// Runs [`Engine::search`] for every row of `queries`, in parallel on the engine's pool.
    pub fn search_batch(
        &self,
        queries: ArrayView2<'_, f32>,
        k: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<Vec<Hit>>> {
        self.timed(Op::SearchBatch, || {
            check_k(k)?;
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
    /// whole (naming the user) if any user is unknown.
    pub fn recommend_batch<S: AsRef<str> + Sync>(
        &self,
        user_ids: &[S],
        k: usize,
        opts: &RecommendOptions,
    ) -> Result<Vec<Vec<Hit>>> {
        self.timed(Op::RecommendBatch, || {
            check_k(k)?;
            let st = self.state.read();
            for u in user_ids {
                if st.users.history(u.as_ref()).is_none() {
                    return Err(Error::UnknownUser {
                        id: u.as_ref().to_string(),
                    });
                }
            }
            self.pool.install(|| {
                user_ids
                    .par_iter()
                    .map(|u| self.recommend_in(&st, u.as_ref(), k, opts).map(unshare))
                    .collect()
            })?
        })
    }

    // ------------------------------------------------------------------ training

    /// Trains a collaborative model on the interactions stored now and installs it: from then
    /// on `recommend`, `recommend_for_items`, `similar` and the batch calls use it. Queries keep
    /// running during training (writers wait). `progress` is called after every iteration;
    /// returning `false` cancels ([`Error::Cancelled`]) and leaves the previous model in place.
    pub fn fit(
        &self,
        spec: &ModelSpec,
        progress: Option<&mut (dyn FnMut(&Progress) -> bool + Send)>,
    ) -> Result<FitReport> {
        spec.validate()?;
        let t0 = Instant::now();
        let mut noop = |_: &Progress| true;
        let progress: &mut (dyn FnMut(&Progress) -> bool + Send) = match progress {
            Some(p) => p,
            None => &mut noop,
        };
        // Upgradable: queries keep running during training, writers wait, so the model
        // installed below matches the catalog and interactions it was trained on.
        let st = self.state.upgradable_read();
        let rows: Vec<Vec<(u32, f32)>> = st
            .users
            .histories()
            .iter()
            .map(|h| {
                h.iter()
                    .filter(|i| st.cat.is_live(i.slot))
                    .map(|i| (i.slot, i.weight))
                    .collect()
            })
            .collect();
        let m = Csr::from_rows(&rows, st.cat.slots());
        if m.indices.is_empty() {
            return Err(Error::invalid(
                "interactions",
                "at least one interaction to train on",
                0,
            ));
        }
        let mut loss = None;
        let model = self.pool.install(|| {
            let mut cb = |p: Progress| {
                loss = p.loss;
                progress(&p)
            };
            Model::train(spec, &m, &st.cat, &st.users, &mut cb)
        })??;
        let report = FitReport {
            model: model.name(),
            users: m.rows,
            items: m.cols,
            interactions: m.indices.len(),
            seconds: t0.elapsed().as_secs_f64(),
            loss,
        };
        let mut st = parking_lot::RwLockUpgradableReadGuard::upgrade(st);
        let mut model = model;
        let all: Vec<u32> = st.cat.live_slots().collect();
        model.on_upsert(&st.cat, &all);
        st.model = Some(model);
        drop(st);
        self.mutated();
        Ok(report)
    }

    /// Name of the installed model (`"als"`, `"item_knn"`, `"popularity"`), if any.
    pub fn model_name(&self) -> Option<&'static str> {
        self.state.read().model.as_ref().map(|m| m.name())
    }

    /// Removes the trained model: queries go back to content-vector profiles.
    pub fn clear_model(&self) {
        self.state.write().model = None;
        self.mutated();
    }

    /// Ranking metrics at `k` of the current engine (model or content profiles) on held-out
    /// interactions: for every test user the engine knows, the top `k` unseen items are compared
    /// with that user's test items (see [`crate::model::eval`] for the definitions).
    pub fn evaluate(
        &self,
        test: &crate::model::eval::Interactions,
        k: usize,
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
                    self.recommend_from(
                        &st,
                        st.users.index(u),
                        st.users.history(u).unwrap_or(&[]).iter().copied(),
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

    // ------------------------------------------------------------------ query machinery

    /// The query as the index compares it: unit length under cosine, else as given.
    fn prepare<'a>(&self, v: &'a [f32]) -> std::borrow::Cow<'a, [f32]> {
        match self.config.metric {
            Metric::Cosine => {
                let n = crate::distance::norm(v);
                std::borrow::Cow::Owned(v.iter().map(|x| x / n).collect())
            }
            _ => std::borrow::Cow::Borrowed(v),
        }
    }

    /// The cached result for the key `key()` builds, or `compute`'s (then cached). With the
    /// cache disabled the key is never built.
    fn cached(
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

    fn to_hits(&self, st: &State, hits: Vec<(u32, f32)>) -> Vec<Hit> {
        // Each id is two dependent cache misses (span, then bytes) on a large catalog:
        // request all spans, then all bytes, so that the misses overlap.
        st.cat.prefetch_ids(hits.iter().map(|h| h.0));
        hits.into_iter()
            .map(|(s, score)| Hit {
                id: Arc::from(st.cat.id(s)),
                score,
            })
            .collect()
    }

    /// Chooses the path (exact over a subset, exact over all, or the index) and runs it.
    fn run_query(&self, st: &State, q: &[f32], k: usize, cf: &CompiledFilter) -> Vec<Hit> {
        let live = st.cat.len();
        if live == 0 || cf.impossible {
            return Vec::new();
        }
        let accept = |s: u32| cf.matches(&st.cat, s);
        let exact = |subset: Option<&[u32]>| exact_top_k(&st.cat, q, k, &accept, subset);
        // Brute force wins for small catalogs, large k, and selective filters (the graph
        // would have to examine k / fraction candidates).
        let fraction = if cf.only_exclusions() {
            1.0
        } else {
            self.estimated_fraction(st, cf)
        };
        let wanted = (k + cf.excluded_count()) as f64 / fraction.max(1e-9);
        let scan_all = st.index.name() == "exact"
            || live <= self.config.exact_below
            || k.saturating_mul(4) >= live
            || fraction <= self.config.exact_filter_fraction
            || wanted > MAX_FETCH as f64;
        let hits = if let Some(allow) = &cf.allow {
            exact(Some(allow))
        } else if scan_all {
            exact(None)
        } else {
            // Candidates to examine: enough that k survive the filter and exclusions (an
            // index that filters while walking counts only accepted items already).
            let ef = if st.index.filters_during_traversal() {
                self.ef_search.load(Ordering::Relaxed).max(k)
            } else {
                (self.ef_search.load(Ordering::Relaxed)).max((wanted * 1.2).ceil() as usize)
            };
            let trivial = cf.only_exclusions() && cf.excluded_count() == 0;
            let found = st
                .index
                .search(&st.cat, q, k, ef, (!trivial).then_some(&accept));
            if found.len() < k && found.len() < live {
                // The graph walk ran out of matching candidates; the exact path guarantees k
                // results whenever k matching items exist.
                exact(None)
            } else {
                found
            }
        };
        self.to_hits(st, hits)
    }

    /// Fraction of live items passing the filter, estimated on an evenly spaced sample.
    fn estimated_fraction(&self, st: &State, cf: &CompiledFilter) -> f64 {
        const SAMPLE: usize = 512;
        let slots = st.cat.slots();
        let step = (slots / SAMPLE).max(1);
        let (mut live, mut pass) = (0usize, 0usize);
        for s in (0..slots).step_by(step) {
            if st.cat.is_live(s as u32) {
                live += 1;
                pass += cf.matches(&st.cat, s as u32) as usize;
            }
        }
        if live == 0 {
            0.0
        } else {
            pass as f64 / live as f64
        }
    }

    // ------------------------------------------------------------------ observability

    /// Drops every cached result (counters are kept).
    pub fn clear_cache(&self) {
        self.cache.lock().clear();
    }

    /// Sizes, cache counters and latency percentiles.
    pub fn stats(&self) -> EngineStats {
        let st = self.state.read();
        EngineStats {
            items: st.cat.len(),
            users: st.users.len(),
            interactions: st.users.total(),
            index: st.index.name(),
            index_memory_bytes: st.index.memory_bytes() + st.cat.link_bytes(),
            vector_memory_bytes: st.cat.vector_bytes(),
            epoch: self.epoch.load(Ordering::SeqCst),
            threads: self.pool.threads(),
            model: st.model.as_ref().map(|m| m.name()),
            cache: self.cache.lock().stats(),
            ops: self.metrics.snapshot(),
        }
    }

    /// Prometheus text exposition (version 0.0.4) of [`Engine::stats`], to serve as-is.
    pub fn metrics_text(&self) -> String {
        crate::engine::metrics::prometheus(&self.stats())
    }

    // ------------------------------------------------------------------ for persist

    /// The state under the read lock (to encode it).
    pub(crate) fn state(&self) -> parking_lot::RwLockReadGuard<'_, State> {
        self.state.read()
    }

    /// Records one call of `op` that took `elapsed`.
    pub(crate) fn record(&self, op: Op, elapsed: std::time::Duration) {
        self.metrics.record(op, elapsed, true);
    }

    /// An engine over decoded parts: the stored graph attached to the catalog when there is
    /// one, otherwise the configured index built from the catalog. The pool is the host's
    /// (`config.threads`).
    pub(crate) fn restore(
        config: EngineConfig,
        cat: Catalog,
        users: Users,
        model: Option<Model>,
        graph: Option<StoredGraph>,
    ) -> Result<Self> {
        let pool = Pool::new(config.threads);
        let index: Box<dyn AnnIndex> = match graph {
            Some(g) => {
                let mut g = g.attach(&cat)?;
                if config.index == IndexKind::NativeInt8 {
                    g.enable_int8(&cat);
                }
                Box::new(g)
            }
            None => {
                let mut index = Self::make_index(&config);
                pool.install(|| index.rebuild(&cat))??;
                index
            }
        };
        let mut e = Self::assemble(
            config,
            State {
                cat,
                index,
                users,
                model,
            },
        );
        e.pool = pool;
        Ok(e)
    }
}

/// The hits of a result, without a copy when nothing else (the cache) shares them.
fn unshare(r: Arc<Vec<Hit>>) -> Vec<Hit> {
    Arc::try_unwrap(r).unwrap_or_else(|shared| shared.to_vec())
}

/// The rows of a matrix as slices: borrowed when contiguous, copied otherwise.
fn row_slices<'a>(m: &'a ArrayView2<'_, f32>) -> Vec<std::borrow::Cow<'a, [f32]>> {
    m.rows()
        .into_iter()
        .map(|r| match r.to_slice() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(r.to_vec()),
        })
        .collect()
}
