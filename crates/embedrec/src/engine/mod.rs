//! The [`Engine`]: catalog + index + interactions + cache + metrics behind one thread-safe handle.

mod batch;
mod blocked;
mod cache;
pub(crate) mod config;
mod diversity;
mod durable;
mod export;
mod exposition;
mod factors;
mod fit;
mod metrics;
mod planner;
mod pool;
mod query;
mod read_only;
mod shard;
mod subset;
mod tune;
mod types;
mod validate;
mod writes;

pub use cache::CacheStats;
pub use config::{EngineConfig, IndexKind, MAX_DIM, MAX_EF, MAX_HNSW_M, MAX_K, MAX_THREADS};
pub(crate) use durable::Durable;
pub use durable::OpenOptions;
pub use export::{MAX_FACTOR, Rows};
pub use exposition::{ExpositionOptions, merge_expositions, metrics_text};
pub use metrics::LATENCY_BUCKETS;
pub(crate) use metrics::Op;
pub use metrics::OpStats;
pub(crate) use read_only::ReadOnly;
pub(crate) use shard::{Part, Probe, Seen, Subject};
pub use tune::{Trial, TuneOptions, TuneReport};
pub use types::{Answer, EngineStats, FitReport, Hit, RecommendOptions};
pub(crate) use validate::{check_k, check_options, check_weights};

use crate::error::ShowId;
#[cfg(feature = "hnsw-rs")]
use crate::index::HnswIndex;
use crate::index::{AnnIndex, ExactIndex, NativeHnsw};
use crate::model::Model;
use crate::store::Users;
use crate::store::{Catalog, ItemAttrs};
use crate::{Error, Result};
use cache::ResultCache;
pub(crate) use factors::{FactorIndex, factor_params};
use metrics::Metrics;
use parking_lot::{Mutex, RwLock};
pub(crate) use pool::Pool;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

pub(crate) struct State {
    pub(crate) cat: Catalog,
    pub(crate) index: Box<dyn AnnIndex>,
    pub(crate) users: Users,
    pub(crate) model: Option<Model>,
    /// The model's item factors as graphs (present exactly when the model has factors).
    pub(crate) factors: Option<FactorIndex>,
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
    /// Queries: batch calls and parallel scans.
    pool: Pool,
    /// The write side (linking, factor updates, fits) at background priority.
    background: Pool,
    epoch: AtomicU64,
    /// Durable mode's journal (`None` for an engine in memory).
    durable: Option<Durable>,
    /// The mapped file of an engine opened read-only.
    read_only: Option<ReadOnly>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .field("items", &self.len())
            .finish()
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
                factors: None,
            },
        ))
    }

    fn make_index(config: &EngineConfig) -> Box<dyn AnnIndex> {
        if config.dim == 0 {
            // No content vectors: nothing to index.
            return Box::new(ExactIndex);
        }
        match config.index {
            IndexKind::Exact => Box::new(ExactIndex),
            IndexKind::Native | IndexKind::NativeInt8 | IndexKind::Native1Bit => {
                let g = NativeHnsw::new(
                    config.m,
                    config.ef_construction,
                    config.rebuild_tombstone_fraction,
                );
                Box::new(match config.index.codes() {
                    Some(kind) => g.with_codes(kind, config.dim),
                    None => g,
                })
            }
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
            background: Pool::background(config.threads),
            metrics: Metrics::new(),
            state: RwLock::new(state),
            epoch: AtomicU64::new(0),
            durable: None,
            read_only: None,
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
    /// Changes the number of worker threads of the engine's pools (0 = one per core), for
    /// example after loading a file saved on a machine with a different core count. Takes
    /// effect for the next parallel call (batches, upserts, training); the value is saved
    /// with the engine. Results do not depend on it. (The engine has a query pool and a
    /// background pool of this size; the background one runs the write side and fits at a
    /// lower CPU priority, so that queries keep their latency while they run.)
    pub fn set_threads(&self, threads: usize) -> Result<()> {
        crate::util::check_range("threads", threads, 0, config::MAX_THREADS)?;
        self.pool.set_threads(threads);
        self.background.set_threads(threads);
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
        if !st.cat.has_vector(s) {
            return Err(Error::invalid(
                "id",
                "an item with a content vector",
                format!(
                    "{} (known from interactions or attributes only)",
                    ShowId(id)
                ),
            ));
        }
        Ok(st.cat.vector(s).into_owned())
    }
    /// The tags and numeric attributes of items, one entry per id (tags in the order given,
    /// attributes by name). An unknown id is an error ([`Error::UnknownItem`]) naming its place.
    pub fn item_attributes<S: AsRef<str>>(&self, ids: &[S]) -> Result<Vec<ItemAttrs>> {
        let st = self.state.read();
        (ids.iter().enumerate())
            .map(|(i, id)| {
                let s = st.cat.require(id.as_ref(), || format!("ids[{i}]"))?;
                Ok(st.cat.item_attrs(s))
            })
            .collect()
    }
    /// Each hit with its item's tags and numeric attributes (what a result page shows next to
    /// an id), read under one lock. An item removed since the hits were computed comes back
    /// with none.
    pub fn with_attributes(&self, hits: Vec<Hit>) -> Vec<(Hit, ItemAttrs)> {
        let st = self.state.read();
        hits.into_iter()
            .map(|h| {
                let a = (st.cat.slot_of(&h.id))
                    .map_or_else(ItemAttrs::default, |s| st.cat.item_attrs(s));
                (h, a)
            })
            .collect()
    }
    /// Runs `query` on this engine and, with `with_metadata`, reads each hit's tags and
    /// numeric attributes ([`Engine::with_attributes`]): a query and its result page's
    /// metadata in one call, e.g. `e.answer(true, |e| e.similar("a", 10, None))`.
    pub fn answer(
        &self,
        with_metadata: bool,
        query: impl FnOnce(&Self) -> Result<Vec<Hit>>,
    ) -> Result<Answer> {
        let hits = query(self)?;
        Ok(Answer::of(hits, with_metadata, |h| self.with_attributes(h)))
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
    pub(super) fn mutated(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cache.lock().clear();
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
            index_memory_bytes: st.index.memory_bytes()
                + st.cat.link_bytes()
                + st.factors.as_ref().map_or(0, FactorIndex::memory_bytes),
            vector_memory_bytes: st.cat.vector_bytes(),
            mapped_bytes: self.read_only.as_ref().map_or(0, ReadOnly::mapped_bytes),
            epoch: self.epoch.load(Ordering::SeqCst),
            threads: self.pool.threads(),
            model: st.model.as_ref().map(|m| m.name()),
            cache: self.cache.lock().stats(),
            ops: self.metrics.snapshot(),
        }
    }

    // ------------------------------------------------------------------ for persist

    /// The state to encode it: an upgradable read, so readers run but no writer is midway
    /// (a writer links new items with its lock downgraded, and a snapshot must hold whole
    /// writes only).
    pub(crate) fn state(&self) -> parking_lot::RwLockUpgradableReadGuard<'_, State> {
        self.state.upgradable_read()
    }

    /// Records one call of `op` that took `elapsed`.
    pub(crate) fn record(&self, op: Op, elapsed: std::time::Duration) {
        self.metrics.record(op, elapsed, true);
    }

    /// An engine over decoded parts: the stored graph attached to the catalog when there is
    /// one, otherwise the configured index built from the catalog; the stored factor indexes
    /// when there are, otherwise built for the model. The pool is the host's
    /// (`config.threads`).
    pub(crate) fn restore(
        config: EngineConfig,
        cat: Catalog,
        users: Users,
        model: Option<Model>,
        graph: Option<NativeHnsw>,
        factors: Option<FactorIndex>,
    ) -> Result<Self> {
        // The file records the saving process's thread count; this machine may have fewer
        // cores. Never more threads than cores unless the host asks (`set_threads`).
        let mut config = config;
        config.threads = Pool::capped(config.threads);
        let pool = Pool::new(config.threads);
        let index: Box<dyn AnnIndex> = match graph {
            Some(g) => Box::new(g),
            None => {
                let mut index = Self::make_index(&config);
                pool.install(|| index.rebuild(&cat))??;
                index
            }
        };
        let factors = match (&model, factors) {
            (_, Some(fx)) => Some(fx),
            (Some(m), None) => {
                let params = factor_params(&config);
                pool.install(|| FactorIndex::build(m, &cat, params))??
            }
            (None, None) => None,
        };
        let mut e = Self::assemble(
            config,
            State {
                cat,
                index,
                users,
                model,
                factors,
            },
        );
        e.pool = pool;
        Ok(e)
    }
}
