//! `Engine` for Node.

use crate::error::{guard, invalid, js_err, run};
use embedrec::eval::Interactions;
use embedrec::ndarray::ArrayView2;
use embedrec::{
    Confidence, Engine, EngineConfig, Filter, Hit, IndexKind, ItemAttrs, KnnWeighting, Metric,
    ModelSpec, RecommendOptions, VectorStorage,
};
use napi::bindgen_prelude::*;
use napi::{Env, Task};
use napi_derive::napi;
use std::collections::HashMap;
use std::sync::Arc;

/// Engine configuration; every field but `dim` is optional.
#[napi(object)]
pub struct EngineOptions {
    /// Number of components of every vector.
    pub dim: u32,
    /// "cosine" (default), "dot" or "l2".
    pub metric: Option<String>,
    /// "native" (default: embedrec's HNSW), "native_int8" (the same graph walked on int8
    /// codes), "exact", or "hnsw" (the hnsw_rs crate, in builds with that feature).
    pub index: Option<String>,
    /// HNSW links per node (default 16, at most 256).
    pub m: Option<u32>,
    /// HNSW construction breadth (default 200).
    pub ef_construction: Option<u32>,
    /// HNSW search breadth (default 128).
    pub ef_search: Option<u32>,
    /// Result cache entries (default 10000; 0 disables).
    pub cache_capacity: Option<u32>,
    /// Result cache bytes (default 64 MiB).
    pub cache_max_bytes: Option<f64>,
    /// Result cache time to live in seconds.
    pub cache_ttl: Option<f64>,
    /// Worker threads of the engine's pool (0 = all cores).
    pub threads: Option<u32>,
    /// Recency half-life of interactions, in seconds.
    pub recency_half_life: Option<f64>,
    /// Filters passing at most this fraction of items use the exact path (default 0.1).
    pub exact_filter_fraction: Option<f64>,
    /// Catalogs of at most this many items are searched exactly (default 2000).
    pub exact_below: Option<u32>,
    /// "f32" (default) or "int8": vectors kept as int8 codes with a scale each (a quarter of
    /// the bytes); every score uses the stored vector.
    pub vector_storage: Option<String>,
}

/// An inclusive numeric range on an attribute.
#[napi(object)]
pub struct RangeFilter {
    pub attribute: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Which items may be returned; every condition must hold.
#[napi(object)]
pub struct FilterOptions {
    pub tags_any: Option<Vec<String>>,
    pub tags_all: Option<Vec<String>>,
    pub tags_none: Option<Vec<String>>,
    pub ranges: Option<Vec<RangeFilter>>,
    pub allow_ids: Option<Vec<String>>,
    pub deny_ids: Option<Vec<String>>,
}

/// Options of recommend calls.
#[napi(object)]
pub struct RecommendCallOptions {
    pub filter: Option<FilterOptions>,
    /// Leave out items already interacted with (default true).
    pub exclude_seen: Option<bool>,
}

/// Per-item tags and numeric attributes for `upsertItems`.
#[napi(object)]
pub struct UpsertOptions {
    /// One list of tags per item.
    pub tags: Option<Vec<Vec<String>>>,
    /// One `{ name: value }` object per item.
    pub attributes: Option<Vec<HashMap<String, f64>>>,
}

/// Training options of `fit`; fields apply to the named model (others are ignored).
#[napi(object)]
pub struct FitOptions {
    /// ALS: latent factors (default 64).
    pub factors: Option<u32>,
    /// ALS: iterations (default 15).
    pub iterations: Option<u32>,
    /// ALS: L2 regularization (default 0.01); EASE: λ (default 200).
    pub regularization: Option<f64>,
    /// ALS: confidence scale (default 1).
    pub alpha: Option<f64>,
    /// ALS: "linear" (default) or "log".
    pub confidence: Option<String>,
    /// ALS: conjugate-gradient steps (default 3).
    pub cg_steps: Option<u32>,
    /// ALS: random seed (default 42).
    pub seed: Option<u32>,
    /// item-kNN: neighbours per item (default 100).
    pub neighbours: Option<u32>,
    /// item-kNN: "bm25" (default) or "cosine".
    pub weighting: Option<String>,
}

/// Batch results in flat form: row `i` holds `counts[i]` hits, stored consecutively in `ids`
/// and `scores`. `lib.js` turns this into arrays of `{ id, score }` (faster than building the
/// objects through napi).
#[napi(object)]
pub struct FlatHits {
    pub ids: Vec<String>,
    pub scores: Float32Array,
    pub counts: Vec<u32>,
}

fn flat(rows: Vec<Vec<Hit>>) -> FlatHits {
    let total = rows.iter().map(|r| r.len()).sum();
    let (mut ids, mut scores) = (Vec::with_capacity(total), Vec::with_capacity(total));
    let mut counts = Vec::with_capacity(rows.len());
    for r in rows {
        counts.push(r.len() as u32);
        for h in r {
            ids.push(h.id.to_string());
            scores.push(h.score);
        }
    }
    FlatHits {
        ids,
        scores: Float32Array::new(scores),
        counts,
    }
}

/// What `fit` did.
#[napi(object)]
pub struct FitResult {
    pub model: String,
    pub users: u32,
    pub items: u32,
    pub interactions: f64,
    pub seconds: f64,
    pub loss: Option<f64>,
}

/// Ranking metrics at k (see the Rust `eval` module for definitions).
#[napi(object)]
pub struct RankingMetricsJs {
    pub k: u32,
    pub users: u32,
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub map: f64,
    pub hit_rate: f64,
    pub coverage: f64,
}

/// Interactions as parallel arrays.
#[napi(object)]
pub struct InteractionsJs {
    pub user_ids: Vec<String>,
    pub item_ids: Vec<String>,
    pub weights: Vec<f64>,
    pub timestamps: Vec<i64>,
}

/// `[train, test]` halves of a split.
#[napi(object)]
pub struct SplitJs {
    pub train: InteractionsJs,
    pub test: InteractionsJs,
}

fn model_spec(model: &str, o: Option<FitOptions>) -> embedrec::Result<ModelSpec> {
    // The core's defaults for this model, overridden by the options given.
    let mut spec = ModelSpec::parse(model)?;
    let Some(o) = o else { return Ok(spec) };
    match &mut spec {
        ModelSpec::Als(p) => {
            p.factors = u(o.factors, p.factors);
            p.iterations = u(o.iterations, p.iterations);
            p.regularization = o.regularization.map_or(p.regularization, |x| x as f32);
            p.alpha = o.alpha.map_or(p.alpha, |x| x as f32);
            p.cg_steps = u(o.cg_steps, p.cg_steps);
            p.seed = o.seed.map_or(p.seed, u64::from);
            if let Some(c) = &o.confidence {
                p.confidence = Confidence::parse(c)?;
            }
        }
        ModelSpec::ItemKnn(p) => {
            p.neighbours = u(o.neighbours, p.neighbours);
            if let Some(w) = &o.weighting {
                p.weighting = KnnWeighting::parse(w)?;
            }
        }
        ModelSpec::Ease(p) => {
            p.regularization = o.regularization.map_or(p.regularization, |x| x as f32)
        }
        _ => {}
    }
    Ok(spec)
}

fn interactions_of(i: Interactions) -> InteractionsJs {
    InteractionsJs {
        user_ids: i.users,
        item_ids: i.items,
        weights: i.weights.into_iter().map(f64::from).collect(),
        timestamps: i.timestamps,
    }
}

/// Per-user random holdout split (users with at least `minInteractions`; `round(testFraction
/// * n)`, at least 1, to test; seeded).
#[napi(catch_unwind)]
#[allow(clippy::too_many_arguments)]
pub fn holdout_split(
    env: Env,
    user_ids: Vec<String>,
    item_ids: Vec<String>,
    weights: Option<Vec<f64>>,
    timestamps: Option<Vec<i64>>,
    test_fraction: Option<f64>,
    min_interactions: Option<u32>,
    seed: Option<u32>,
) -> Result<SplitJs> {
    run(&env, || {
        let n = user_ids.len();
        if item_ids.len() != n {
            return Err(invalid(
                "itemIds",
                &format!("{n} entries (one per user id)"),
                item_ids.len(),
            ));
        }
        let data = Interactions {
            weights: weights.map_or_else(
                || vec![1.0; n],
                |w| w.into_iter().map(|x| x as f32).collect(),
            ),
            timestamps: timestamps.unwrap_or_else(|| vec![0; n]),
            users: user_ids,
            items: item_ids,
        };
        let (a, b) = embedrec::eval::holdout_split(
            &data,
            test_fraction.unwrap_or(0.2),
            u(min_interactions, 5),
            seed.map_or(42, u64::from),
        )?;
        Ok(SplitJs {
            train: interactions_of(a),
            test: interactions_of(b),
        })
    })
}

/// One result.
#[napi(object)]
pub struct SearchHit {
    pub id: String,
    pub score: f64,
}

fn to_filter(f: Option<FilterOptions>) -> Option<Filter> {
    f.map(|f| {
        let mut out = Filter::new()
            .tags_any(f.tags_any.unwrap_or_default())
            .tags_all(f.tags_all.unwrap_or_default())
            .tags_none(f.tags_none.unwrap_or_default())
            .deny(f.deny_ids.unwrap_or_default());
        for r in f.ranges.unwrap_or_default() {
            out = out.range(r.attribute, r.min, r.max);
        }
        if let Some(a) = f.allow_ids {
            out = out.allow(a);
        }
        out
    })
}

fn to_opts(o: Option<RecommendCallOptions>) -> RecommendOptions {
    let o = o.unwrap_or(RecommendCallOptions {
        filter: None,
        exclude_seen: None,
    });
    RecommendOptions {
        filter: to_filter(o.filter),
        exclude_seen: o.exclude_seen.unwrap_or(true),
    }
}

fn hits(h: Vec<Hit>) -> Vec<SearchHit> {
    h.into_iter()
        .map(|h| SearchHit {
            id: h.id.to_string(),
            score: h.score as f64,
        })
        .collect()
}

/// Row-major matrix from a Float32Array of n * dim values or an array of arrays.
fn matrix(
    v: Either<Float32Array, Vec<Vec<f64>>>,
    dim: usize,
    field: &str,
) -> embedrec::Result<(Vec<f32>, usize)> {
    match v {
        Either::A(a) => {
            let data = a.to_vec();
            if dim == 0 || data.len() % dim != 0 {
                return Err(invalid(
                    field,
                    &format!("a Float32Array whose length is a multiple of dim = {dim}"),
                    format!("length {}", data.len()),
                ));
            }
            let n = data.len() / dim;
            Ok((data, n))
        }
        Either::B(rows) => {
            let n = rows.len();
            let mut data = Vec::with_capacity(n * dim);
            for (i, r) in rows.iter().enumerate() {
                if r.len() != dim {
                    return Err(embedrec::Error::DimensionMismatch {
                        field: format!("{field}[{i}]"),
                        expected: dim,
                        got: r.len(),
                    });
                }
                data.extend(r.iter().map(|x| *x as f32));
            }
            Ok((data, n))
        }
    }
}

fn vector(v: Either<Float32Array, Vec<f64>>) -> Vec<f32> {
    match v {
        Either::A(a) => a.to_vec(),
        Either::B(v) => v.into_iter().map(|x| x as f32).collect(),
    }
}

fn u(v: Option<u32>, d: usize) -> usize {
    v.map_or(d, |x| x as usize)
}

/// The embedrec engine. Cheap calls are synchronous; batch calls, save and load return
/// Promises and run on the libuv thread pool.
#[napi(js_name = "Engine")]
pub struct JsEngine {
    inner: Arc<Engine>,
}

#[napi]
impl JsEngine {
    /// Creates an empty engine. Throws `INVALID_INPUT` for out-of-range options.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: EngineOptions) -> Result<Self> {
        run(&env, || {
            let d = EngineConfig::new(options.dim as usize);
            let c = EngineConfig {
                metric: options
                    .metric
                    .as_deref()
                    .map(Metric::parse)
                    .transpose()?
                    .unwrap_or(d.metric),
                index: options
                    .index
                    .as_deref()
                    .map(IndexKind::parse)
                    .transpose()?
                    .unwrap_or(d.index),
                m: u(options.m, d.m),
                ef_construction: u(options.ef_construction, d.ef_construction),
                ef_search: u(options.ef_search, d.ef_search),
                cache_capacity: u(options.cache_capacity, d.cache_capacity),
                cache_max_bytes: options
                    .cache_max_bytes
                    .map_or(d.cache_max_bytes, |b| b.max(0.0) as usize),
                cache_ttl_secs: options.cache_ttl,
                threads: u(options.threads, d.threads),
                recency_half_life_secs: options.recency_half_life,
                exact_filter_fraction: options
                    .exact_filter_fraction
                    .unwrap_or(d.exact_filter_fraction),
                exact_below: u(options.exact_below, d.exact_below),
                vector_storage: options
                    .vector_storage
                    .as_deref()
                    .map(VectorStorage::parse)
                    .transpose()?
                    .unwrap_or(d.vector_storage),
                ..d
            };
            Ok(JsEngine {
                inner: Arc::new(Engine::new(c)?),
            })
        })
    }

    /// Number of items.
    #[napi(getter, catch_unwind)]
    pub fn size(&self) -> u32 {
        self.inner.len() as u32
    }

    /// Vector dimension.
    #[napi(getter, catch_unwind)]
    pub fn dim(&self) -> u32 {
        self.inner.dim() as u32
    }

    /// The configuration the engine runs with (every option filled in).
    #[napi(getter, catch_unwind)]
    pub fn config(&self) -> EngineOptions {
        let c = self.inner.config();
        EngineOptions {
            dim: c.dim as u32,
            metric: Some(c.metric.name().into()),
            index: Some(c.index.name().into()),
            m: Some(c.m as u32),
            ef_construction: Some(c.ef_construction as u32),
            ef_search: Some(c.ef_search as u32),
            cache_capacity: Some(c.cache_capacity as u32),
            cache_max_bytes: Some(c.cache_max_bytes as f64),
            cache_ttl: c.cache_ttl_secs,
            threads: Some(c.threads as u32),
            recency_half_life: c.recency_half_life_secs,
            exact_filter_fraction: Some(c.exact_filter_fraction),
            exact_below: Some(c.exact_below as u32),
            vector_storage: Some(c.vector_storage.name().into()),
        }
    }

    /// True when the item exists.
    #[napi(catch_unwind)]
    pub fn has(&self, id: String) -> bool {
        self.inner.contains(&id)
    }

    /// Inserts or replaces items. `vectors`: a row-major Float32Array (ids.length * dim) or
    /// an array of arrays.
    #[napi(catch_unwind)]
    pub fn upsert_items(
        &self,
        env: Env,
        ids: Vec<String>,
        vectors: Either<Float32Array, Vec<Vec<f64>>>,
        options: Option<UpsertOptions>,
    ) -> Result<()> {
        let items = ids.len();
        run(&env, move || {
            let (data, n) = matrix(vectors, self.inner.dim(), "vectors")?;
            let view = ArrayView2::from_shape((n, self.inner.dim()), &data)
                .map_err(|e| invalid("vectors", "a matrix", e))?;
            let attrs = options.and_then(|o| {
                if o.tags.is_none() && o.attributes.is_none() {
                    return None;
                }
                let mut a = vec![ItemAttrs::default(); ids.len()];
                for (i, t) in o
                    .tags
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                    .take(ids.len())
                {
                    a[i].tags = t;
                }
                for (i, m) in o
                    .attributes
                    .unwrap_or_default()
                    .into_iter()
                    .enumerate()
                    .take(ids.len())
                {
                    let mut m: Vec<_> = m.into_iter().collect();
                    m.sort_by(|x, y| x.0.cmp(&y.0));
                    a[i].numbers = m;
                }
                Some(a)
            });
            self.inner.upsert_items(&ids, view, attrs.as_deref())
        })?;
        // The converted arguments were dropped with the closure: their pages can go back too.
        Engine::release_memory_after_batch(items);
        Ok(())
    }

    /// Removes items; throws `UNKNOWN_ITEM` (removing nothing) for an unknown id.
    #[napi(catch_unwind)]
    pub fn remove_items(&self, env: Env, ids: Vec<String>) -> Result<u32> {
        run(&env, || self.inner.remove_items(&ids).map(|n| n as u32))
    }

    /// The stored vector of an item.
    #[napi(catch_unwind)]
    pub fn item_vector(&self, env: Env, id: String) -> Result<Float32Array> {
        run(&env, || self.inner.item_vector(&id)).map(Float32Array::new)
    }

    /// The k most similar items to a vector, best first.
    #[napi(catch_unwind)]
    pub fn search(
        &self,
        env: Env,
        vector: Either<Float32Array, Vec<f64>>,
        k: u32,
        filter: Option<FilterOptions>,
    ) -> Result<Vec<SearchHit>> {
        let (q, f) = (self::vector(vector), to_filter(filter));
        run(&env, || self.inner.search(&q, k as usize, f.as_ref())).map(hits)
    }

    /// The k items most similar to an item (never the item itself).
    #[napi(catch_unwind)]
    pub fn similar(
        &self,
        env: Env,
        id: String,
        k: u32,
        filter: Option<FilterOptions>,
    ) -> Result<Vec<SearchHit>> {
        let f = to_filter(filter);
        run(&env, || self.inner.similar(&id, k as usize, f.as_ref())).map(hits)
    }

    /// Records interactions (weights > 0, default 1; timestamps in seconds, default 0).
    #[napi(catch_unwind)]
    pub fn add_interactions(
        &self,
        env: Env,
        user_ids: Vec<String>,
        item_ids: Vec<String>,
        weights: Option<Vec<f64>>,
        timestamps: Option<Vec<i64>>,
    ) -> Result<()> {
        let w: Option<Vec<f32>> = weights.map(|w| w.into_iter().map(|x| x as f32).collect());
        run(&env, || {
            self.inner
                .add_interactions(&user_ids, &item_ids, w.as_deref(), timestamps.as_deref())
        })
    }

    /// Recommendations for a stored user (seen items excluded by default).
    #[napi(catch_unwind)]
    pub fn recommend(
        &self,
        env: Env,
        user_id: String,
        k: u32,
        options: Option<RecommendCallOptions>,
    ) -> Result<Vec<SearchHit>> {
        let o = to_opts(options);
        run(&env, || self.inner.recommend(&user_id, k as usize, &o)).map(hits)
    }

    /// Recommendations for an anonymous session from its items.
    #[napi(catch_unwind)]
    pub fn recommend_for_items(
        &self,
        env: Env,
        items: Vec<String>,
        k: u32,
        weights: Option<Vec<f64>>,
        options: Option<RecommendCallOptions>,
    ) -> Result<Vec<SearchHit>> {
        let (o, w) = (
            to_opts(options),
            weights.map(|w| w.into_iter().map(|x| x as f32).collect::<Vec<_>>()),
        );
        run(&env, || {
            self.inner
                .recommend_for_items(&items, w.as_deref(), k as usize, &o)
        })
        .map(hits)
    }

    /// `search` for many queries (row-major Float32Array or array of arrays), on the libuv pool.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<Array<SearchHit>>>")]
    pub fn search_batch(
        &self,
        env: Env,
        queries: Either<Float32Array, Vec<Vec<f64>>>,
        k: u32,
        filter: Option<FilterOptions>,
    ) -> Result<AsyncTask<CoreTask>> {
        let (data, n) =
            matrix(queries, self.inner.dim(), "queries").map_err(|e| js_err(&env, e))?;
        let (e, f) = (self.inner.clone(), to_filter(filter));
        Ok(CoreTask::batch(move || {
            let view = ArrayView2::from_shape((n, e.dim()), &data)
                .map_err(|x| invalid("queries", "a matrix", x))?;
            e.search_batch(view, k as usize, f.as_ref())
        }))
    }

    /// `recommend` for many users, on the libuv pool.
    #[napi(catch_unwind, ts_return_type = "Promise<Array<Array<SearchHit>>>")]
    pub fn recommend_batch(
        &self,
        user_ids: Vec<String>,
        k: u32,
        options: Option<RecommendCallOptions>,
    ) -> AsyncTask<CoreTask> {
        let (e, o) = (self.inner.clone(), to_opts(options));
        CoreTask::batch(move || e.recommend_batch(&user_ids, k as usize, &o))
    }

    /// `searchBatch` returning flat arrays (used by `lib.js`).
    #[napi(catch_unwind, ts_return_type = "Promise<FlatHits>")]
    pub fn search_batch_flat(
        &self,
        env: Env,
        queries: Either<Float32Array, Vec<Vec<f64>>>,
        k: u32,
        filter: Option<FilterOptions>,
    ) -> Result<AsyncTask<CoreTask>> {
        let (data, n) =
            matrix(queries, self.inner.dim(), "queries").map_err(|e| js_err(&env, e))?;
        let (e, f) = (self.inner.clone(), to_filter(filter));
        Ok(AsyncTask::new(CoreTask {
            work: Some(Box::new(move || {
                let view = ArrayView2::from_shape((n, e.dim()), &data)
                    .map_err(|x| invalid("queries", "a matrix", x))?;
                e.search_batch(view, k as usize, f.as_ref()).map(Done::Flat)
            })),
        }))
    }

    /// `recommendBatch` returning flat arrays (used by `lib.js`).
    #[napi(catch_unwind, ts_return_type = "Promise<FlatHits>")]
    pub fn recommend_batch_flat(
        &self,
        user_ids: Vec<String>,
        k: u32,
        options: Option<RecommendCallOptions>,
    ) -> AsyncTask<CoreTask> {
        let (e, o) = (self.inner.clone(), to_opts(options));
        AsyncTask::new(CoreTask {
            work: Some(Box::new(move || {
                e.recommend_batch(&user_ids, k as usize, &o).map(Done::Flat)
            })),
        })
    }

    /// Saves the engine to one file, atomically, on the libuv pool.
    #[napi(catch_unwind, ts_return_type = "Promise<void>")]
    pub fn save(&self, path: String) -> AsyncTask<CoreTask> {
        let e = self.inner.clone();
        AsyncTask::new(CoreTask {
            work: Some(Box::new(move || e.save(&path).map(|_| Done::Nothing))),
        })
    }

    /// Saves synchronously.
    #[napi(catch_unwind)]
    pub fn save_sync(&self, env: Env, path: String) -> Result<()> {
        run(&env, || self.inner.save(&path))
    }

    /// Loads an engine saved with `save`, on the libuv pool. Rejects with `CORRUPT` for
    /// damaged files.
    #[napi(catch_unwind, ts_return_type = "Promise<Engine>")]
    pub fn load(path: String) -> AsyncTask<CoreTask> {
        AsyncTask::new(CoreTask {
            work: Some(Box::new(move || {
                Engine::load(&path).map(|e| Done::Engine(Arc::new(e)))
            })),
        })
    }

    /// Loads synchronously.
    #[napi(factory, catch_unwind)]
    pub fn load_sync(env: Env, path: String) -> Result<Self> {
        run(&env, || Engine::load(&path)).map(|e| JsEngine { inner: Arc::new(e) })
    }

    /// The engine in its file format.
    #[napi(catch_unwind)]
    pub fn to_bytes(&self, env: Env) -> Result<Buffer> {
        run(&env, || self.inner.to_bytes()).map(Buffer::from)
    }

    /// An engine from `toBytes` output (verified like a file).
    #[napi(factory, catch_unwind)]
    pub fn from_bytes(env: Env, data: Buffer) -> Result<Self> {
        run(&env, || Engine::from_bytes(&data)).map(|e| JsEngine { inner: Arc::new(e) })
    }

    /// Changes the HNSW search breadth for later queries (higher: better recall, slower).
    /// Cached results are invalidated; the value is saved with the engine.
    #[napi(catch_unwind)]
    pub fn set_ef_search(&self, env: Env, ef: u32) -> Result<()> {
        run(&env, || self.inner.set_ef_search(ef as usize))
    }

    /// Changes the number of worker threads of the engine's pool (0 = one per core), e.g.
    /// after loading a file saved on another machine. Saved with the engine.
    #[napi(catch_unwind)]
    pub fn set_threads(&self, env: Env, threads: u32) -> Result<()> {
        run(&env, || self.inner.set_threads(threads as usize))
    }

    /// Drops all cached results.
    #[napi(catch_unwind)]
    pub fn clear_cache(&self) {
        self.inner.clear_cache()
    }

    /// Sizes, cache counters and latency percentiles (microseconds).
    #[napi(catch_unwind)]
    pub fn stats(&self) -> EngineStatsJs {
        let s = self.inner.stats();
        EngineStatsJs {
            items: s.items as u32,
            users: s.users as u32,
            interactions: s.interactions as f64,
            index: s.index.to_string(),
            epoch: s.epoch as f64,
            threads: s.threads as u32,
            index_memory_bytes: s.index_memory_bytes as f64,
            vector_memory_bytes: s.vector_memory_bytes as f64,
            cache: CacheStatsJs {
                hits: s.cache.hits as f64,
                misses: s.cache.misses as f64,
                evictions: s.cache.evictions as f64,
                expirations: s.cache.expirations as f64,
                invalidations: s.cache.invalidations as f64,
                entries: s.cache.entries as f64,
                bytes: s.cache.bytes as f64,
                hit_rate: s.cache.hit_rate,
            },
            ops: s
                .ops
                .into_iter()
                .map(|o| OpStatsJs {
                    name: o.name,
                    count: o.count as f64,
                    errors: o.errors as f64,
                    mean_us: o.mean_us,
                    p50_us: o.p50_us,
                    p95_us: o.p95_us,
                    p99_us: o.p99_us,
                })
                .collect(),
        }
    }

    /// Prometheus text exposition of `stats()`.
    #[napi(catch_unwind)]
    pub fn metrics_text(&self) -> String {
        self.inner.metrics_text()
    }

    /// Trains "als", "item_knn", "ease" or "popularity" on the stored interactions, on the libuv
    /// pool; the model then serves recommend, recommendForItems, similar and the batch calls.
    #[napi(catch_unwind, ts_return_type = "Promise<FitResult>")]
    pub fn fit(
        &self,
        env: Env,
        model: String,
        options: Option<FitOptions>,
    ) -> Result<AsyncTask<CoreTask>> {
        let spec = model_spec(&model, options).map_err(|e| js_err(&env, e))?;
        let e = self.inner.clone();
        Ok(AsyncTask::new(CoreTask {
            work: Some(Box::new(move || e.fit(&spec, None).map(Done::Fit))),
        }))
    }

    /// Name of the installed model, or null.
    #[napi(getter, catch_unwind)]
    pub fn model(&self) -> Option<String> {
        self.inner.model_name().map(String::from)
    }

    /// Removes the trained model.
    #[napi(catch_unwind)]
    pub fn clear_model(&self) {
        self.inner.clear_model()
    }

    /// Ranking metrics at k on held-out interactions.
    #[napi(catch_unwind)]
    pub fn evaluate(
        &self,
        env: Env,
        user_ids: Vec<String>,
        item_ids: Vec<String>,
        k: u32,
    ) -> Result<RankingMetricsJs> {
        run(&env, || {
            let n = user_ids.len();
            if item_ids.len() != n {
                return Err(invalid(
                    "itemIds",
                    &format!("{n} entries (one per user id)"),
                    item_ids.len(),
                ));
            }
            let test = Interactions {
                weights: vec![1.0; n],
                timestamps: vec![0; n],
                users: user_ids,
                items: item_ids,
            };
            let m = self.inner.evaluate(&test, k as usize)?;
            Ok(RankingMetricsJs {
                k: m.k as u32,
                users: m.users as u32,
                precision: m.precision,
                recall: m.recall,
                ndcg: m.ndcg,
                map: m.map,
                hit_rate: m.hit_rate,
                coverage: m.coverage,
            })
        })
    }

    /// Test hook: a panic inside the core boundary (must throw `INTERNAL`).
    #[napi(catch_unwind, js_name = "_debugPanic")]
    pub fn debug_panic(&self, env: Env) -> Result<()> {
        run(&env, || -> embedrec::Result<()> {
            panic!("deliberate panic for tests")
        })
    }

    /// Test hook: a panic inside an async task (must reject with `INTERNAL`).
    #[napi(
        catch_unwind,
        js_name = "_debugPanicAsync",
        ts_return_type = "Promise<void>"
    )]
    pub fn debug_panic_async(&self) -> AsyncTask<CoreTask> {
        AsyncTask::new(CoreTask {
            work: Some(Box::new(|| -> embedrec::Result<Done> {
                panic!("deliberate panic for tests")
            })),
        })
    }
}

#[napi(object)]
pub struct CacheStatsJs {
    pub hits: f64,
    pub misses: f64,
    pub evictions: f64,
    pub expirations: f64,
    pub invalidations: f64,
    pub entries: f64,
    pub bytes: f64,
    pub hit_rate: f64,
}

#[napi(object)]
pub struct OpStatsJs {
    pub name: String,
    pub count: f64,
    pub errors: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
}

#[napi(object)]
pub struct EngineStatsJs {
    pub items: u32,
    pub users: u32,
    pub interactions: f64,
    pub index: String,
    pub epoch: f64,
    pub threads: u32,
    /// Approximate bytes held by the index structure (excluding the vectors).
    pub index_memory_bytes: f64,
    /// Bytes held by the item vectors (f32 rows or int8 codes).
    pub vector_memory_bytes: f64,
    pub cache: CacheStatsJs,
    pub ops: Vec<OpStatsJs>,
}

/// What an async task produced.
pub enum Done {
    Nothing,
    Fit(embedrec::FitReport),
    Flat(Vec<Vec<Hit>>),
    Batch(Vec<Vec<Hit>>),
    Engine(Arc<Engine>),
}

type Work = Box<dyn FnOnce() -> embedrec::Result<Done> + Send>;

/// Core work on the libuv pool: panics caught in `compute`, errors mapped in `resolve`.
pub struct CoreTask {
    work: Option<Work>,
}

impl CoreTask {
    fn batch(
        f: impl FnOnce() -> embedrec::Result<Vec<Vec<Hit>>> + Send + 'static,
    ) -> AsyncTask<CoreTask> {
        AsyncTask::new(CoreTask {
            work: Some(Box::new(move || f().map(Done::Batch))),
        })
    }
}

impl Task for CoreTask {
    type Output = embedrec::Result<Done>;
    type JsValue = Either5<(), Vec<Vec<SearchHit>>, JsEngine, FitResult, FlatHits>;

    fn compute(&mut self) -> Result<Self::Output> {
        let work = self.work.take();
        Ok(guard(move || match work {
            Some(w) => w(),
            None => Err(embedrec::Error::Internal("task ran twice".into())),
        }))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        Ok(match output.map_err(|e| js_err(&env, e))? {
            Done::Nothing => Either5::A(()),
            Done::Batch(rows) => Either5::B(rows.into_iter().map(hits).collect()),
            Done::Engine(e) => Either5::C(JsEngine { inner: e }),
            Done::Flat(rows) => Either5::E(flat(rows)),
            Done::Fit(r) => Either5::D(FitResult {
                model: r.model.to_string(),
                users: r.users as u32,
                items: r.items as u32,
                interactions: r.interactions as f64,
                seconds: r.seconds,
                loss: r.loss,
            }),
        })
    }
}
