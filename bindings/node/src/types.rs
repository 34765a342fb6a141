//! The TypeScript shapes of options and results. Options arrive as plain objects read by
//! the shared layer (`embedrec-host`), results leave as its shaped values; these
//! declarations only give `index.d.ts` its types.
#![allow(dead_code)]

use napi::bindgen_prelude::Float32Array;
use napi_derive::napi;

/// Engine configuration; every field but `dim` is optional and defaults to the core's value.
#[napi(object)]
pub struct EngineOptions {
    /// Number of components of every vector.
    pub dim: u32,
    /// Default "cosine".
    #[napi(ts_type = "'cosine' | 'dot' | 'l2'")]
    pub metric: Option<String>,
    /// "native" (default: embedrec's HNSW), "native_int8" / "native_1bit" (the same graph
    /// walked on int8 / one-bit codes, candidates re-scored on the f32 vectors), "exact", or
    /// "hnsw" (the hnsw_rs crate, in builds with that feature).
    #[napi(ts_type = "'native' | 'native_int8' | 'native_1bit' | 'exact' | 'hnsw'")]
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
    /// "f32" (default), "f16" (half-precision values, half the bytes; components within
    /// ±65504) or "int8" (int8 codes with a scale each, a quarter of the bytes); every score
    /// uses the stored vector.
    #[napi(ts_type = "'f32' | 'f16' | 'int8'")]
    pub vector_storage: Option<String>,
}

/// How `Engine.fromBytes` reads its buffer.
#[napi(object)]
pub struct FromBytesOptions {
    /// Serve from the buffer in place, read-only (nothing decoded or copied; the buffer
    /// must not be modified while the engine lives); writes throw `READ_ONLY`.
    pub read_only: Option<bool>,
}

/// How `Engine.open` syncs and checkpoints (with `Partial<EngineOptions>`, which creates
/// the engine when the file does not exist).
#[napi(object)]
pub struct DurableOptions {
    /// Open the file read-only, memory-mapped: served from the file's pages (shared by
    /// every process that opens it), no journal, no lock; writes throw `READ_ONLY`.
    pub read_only: Option<bool>,
    /// "full" (default: fsync per acknowledged write), "grouped" (fsync at least every
    /// `syncIntervalMs`) or "off" (the OS writes back; a process crash loses nothing).
    #[napi(ts_type = "'full' | 'grouped' | 'off'")]
    pub sync: Option<String>,
    /// Longest time between a write and its fsync with sync "grouped" (default 100 ms).
    pub sync_interval_ms: Option<u32>,
    /// Journal bytes after which a write triggers a checkpoint (default 64 MiB).
    pub checkpoint_bytes: Option<f64>,
}

/// Where a read-only engine's file is and which snapshot it is.
#[napi(object)]
pub struct Snapshot {
    pub path: String,
    /// 32 hex digits of the file's length and checksums.
    pub id: String,
}

/// An inclusive numeric range on an attribute.
#[napi(object)]
pub struct RangeFilter {
    pub attribute: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Which items may be returned; every condition must hold. Unknown keys are errors.
#[napi(object)]
pub struct FilterOptions {
    pub tags_any: Option<Vec<String>>,
    pub tags_all: Option<Vec<String>>,
    pub tags_none: Option<Vec<String>>,
    pub ranges: Option<Vec<RangeFilter>>,
    #[napi(ts_type = "Array<string | number | bigint>")]
    pub allow_ids: Option<Vec<String>>,
    #[napi(ts_type = "Array<string | number | bigint>")]
    pub deny_ids: Option<Vec<String>>,
}

/// Options of recommend calls.
#[napi(object)]
pub struct RecommendOptions {
    pub filter: Option<FilterOptions>,
    /// Leave out items already interacted with (default true).
    pub exclude_seen: Option<bool>,
    /// Trade relevance for variety, 0..1 (default 0; maximal marginal relevance).
    pub diversity: Option<f64>,
    /// Each hit carries its item's `tags` and `attributes` (default false; not in batch
    /// calls, where `itemAttributes` reads them).
    pub with_metadata: Option<bool>,
}

/// Per-item tags and numeric attributes for `upsertItems`: one entry per id.
#[napi(object)]
pub struct UpsertOptions {
    /// One list of tags per item.
    pub tags: Option<Vec<Vec<String>>>,
    /// One `{ name: value }` object per item, or `{ name: values }` columns (null: missing).
    #[napi(ts_type = "Array<Record<string, number>> | Record<string, Array<number | null>>")]
    pub attributes: Option<Vec<std::collections::HashMap<String, f64>>>,
}

/// ALS parameters of installed factors (`installFactors`): used to fold in users.
#[napi(object)]
pub struct FactorOptions {
    /// Width of the factors (default: the width of `itemFactors`).
    pub factors: Option<u32>,
    /// L2 regularization (default 0.01).
    pub regularization: Option<f64>,
    /// Confidence scale (default 1).
    pub alpha: Option<f64>,
    /// "log" (default) or "linear".
    #[napi(ts_type = "'linear' | 'log'")]
    pub confidence: Option<String>,
    /// Conjugate-gradient steps (default 3).
    pub cg_steps: Option<u32>,
}

/// Training parameters of `fit`; only those of the named model are accepted.
#[napi(object)]
pub struct FitOptions {
    /// ALS: latent factors (default 0: chosen from the data, 16–128).
    pub factors: Option<u32>,
    /// ALS: iterations (default 15).
    pub iterations: Option<u32>,
    /// ALS: L2 regularization (default 0.01); EASE: λ (default 200).
    pub regularization: Option<f64>,
    /// ALS: confidence scale (default 1).
    pub alpha: Option<f64>,
    /// ALS: "log" (default) or "linear".
    #[napi(ts_type = "'linear' | 'log'")]
    pub confidence: Option<String>,
    /// ALS: conjugate-gradient steps (default 3).
    pub cg_steps: Option<u32>,
    /// ALS: random seed (default 42).
    pub seed: Option<u32>,
    /// item-kNN: neighbours per item (default 50).
    pub neighbours: Option<u32>,
    /// item-kNN: "bm25" (default) or "cosine".
    #[napi(ts_type = "'bm25' | 'cosine'")]
    pub weighting: Option<String>,
    /// item-kNN BM25: k1 (default 1.2).
    pub k1: Option<f64>,
    /// item-kNN BM25: b (default 0.75).
    pub b: Option<f64>,
    /// Choose the parameters (and with model "auto" the model) on a validation split.
    #[napi(ts_type = "boolean | TuneOptions")]
    pub tune: Option<serde_json::Value>,
}

/// Progress of a fit, after each iteration.
#[napi(object)]
pub struct FitProgress {
    pub model: String,
    pub iteration: u32,
    pub total: u32,
    /// Seconds since training started.
    pub elapsed: f64,
    pub loss: Option<f64>,
}

/// What `fit` did.
#[napi(object)]
pub struct FitResult {
    pub model: String,
    pub users: u32,
    pub items: u32,
    pub interactions: f64,
    pub seconds: f64,
    pub index_seconds: f64,
    pub loss: Option<f64>,
    /// Present after a tuned fit (`options.tune`).
    pub tuning: Option<Tuning>,
}

/// A model and its parameters.
#[napi(object)]
pub struct ChosenModel {
    pub model: String,
    #[napi(ts_type = "Record<string, number | string>")]
    pub params: serde_json::Value,
}

/// One candidate of a tuned fit and its validation figures.
#[napi(object)]
pub struct TuneTrial {
    pub model: String,
    #[napi(ts_type = "Record<string, number | string>")]
    pub params: serde_json::Value,
    pub ndcg: f64,
    pub recall: f64,
    pub seconds: f64,
}

/// What a tuned fit chose, from which candidates.
#[napi(object)]
pub struct Tuning {
    pub chosen: ChosenModel,
    pub trials: Vec<TuneTrial>,
    pub validation_users: u32,
    pub k: u32,
}

/// Options of a tuned fit (`fit(model, { tune: … })`).
#[napi(object)]
pub struct TuneOptions {
    /// Seconds after which no new candidate starts (default 120).
    pub budget: Option<f64>,
    /// Models to consider (default: the one named, or all for "auto").
    pub models: Option<Vec<String>>,
    /// Cut-off of the validation NDCG (default 10).
    pub k: Option<u32>,
    /// Held-out users scored at most (default 2000).
    pub max_users: Option<u32>,
    /// Seed of the split (default 42).
    pub seed: Option<u32>,
}

/// Ranking metrics at k (see the Rust `eval` module for definitions).
#[napi(object)]
pub struct RankingMetrics {
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
pub struct Interactions {
    pub user_ids: Vec<String>,
    pub item_ids: Vec<String>,
    pub weights: Vec<f64>,
    pub timestamps: Vec<f64>,
}

/// Interactions given to `holdoutSplit` and `leaveLastOut` (a split's `train` or `test`
/// fits): weights default to 1, timestamps to 0.
#[napi(object)]
pub struct InteractionColumns {
    #[napi(ts_type = "Array<string | number | bigint>")]
    pub user_ids: Vec<String>,
    #[napi(ts_type = "Array<string | number | bigint>")]
    pub item_ids: Vec<String>,
    #[napi(ts_type = "Array<number> | Float32Array | Float64Array")]
    pub weights: Option<Vec<f64>>,
    #[napi(ts_type = "Array<number> | Float64Array")]
    pub timestamps: Option<Vec<f64>>,
}

/// `train` and `test` halves of a split.
#[napi(object)]
pub struct Split {
    pub train: Interactions,
    pub test: Interactions,
}

/// Options of `holdoutSplit` (defaults: 0.2, 5, 42).
#[napi(object)]
pub struct HoldoutOptions {
    pub test_fraction: Option<f64>,
    pub min_interactions: Option<u32>,
    pub seed: Option<u32>,
}

/// Options of `leaveLastOut` (default minInteractions 2).
#[napi(object)]
pub struct LeaveLastOutOptions {
    pub min_interactions: Option<u32>,
}

/// One result.
#[napi(object)]
pub struct SearchHit {
    #[napi(ts_type = "string | number | bigint")]
    pub id: crate::value::JsId,
    pub score: f64,
    /// The item's tags (with `withMetadata: true`).
    pub tags: Option<Vec<String>>,
    /// The item's numeric attributes (with `withMetadata: true`).
    pub attributes: Option<std::collections::HashMap<String, f64>>,
}

/// Options of `search` and `similar` beyond the filter.
#[napi(object)]
pub struct HitOptions {
    /// Each hit carries its item's `tags` and `attributes` (default false).
    pub with_metadata: Option<bool>,
}

/// An item's tags and numeric attributes.
#[napi(object)]
pub struct ItemMetadata {
    pub tags: Vec<String>,
    pub attributes: std::collections::HashMap<String, f64>,
}

/// An attribute update (`updateAttributes`): what it does not name is kept.
#[napi(object)]
pub struct AttributeUpdate {
    /// One list of tags per item, replacing the item's tags.
    pub tags: Option<Vec<Vec<String>>>,
    /// Values to set: one `{ name: value }` object per item, or `{ name: values }` columns
    /// (null: leave as it is).
    #[napi(ts_type = "Array<Record<string, number>> | Record<string, Array<number | null>>")]
    pub attributes: Option<serde_json::Value>,
    /// Attribute names removed from every item of the call.
    pub remove: Option<Vec<String>>,
}

/// Batch results in flat form: row `i` holds `counts[i]` hits, stored consecutively in `ids`
/// and `scores`. `lib.js` turns this into arrays of `{ id, score }` (faster than building the
/// objects through napi).
#[napi(object)]
pub struct FlatHits {
    #[napi(ts_type = "Array<string | number | bigint>")]
    pub ids: Vec<crate::value::JsId>,
    pub scores: Float32Array,
    pub counts: Vec<u32>,
}

/// Rows keyed by id (factors or vectors): row `i` of `values` (row-major, `width` columns)
/// belongs to `ids[i]`.
#[napi(object)]
pub struct IdRows {
    #[napi(ts_type = "Array<string | number | bigint>")]
    pub ids: Vec<crate::value::JsId>,
    pub values: Float32Array,
    pub width: u32,
}

/// Result cache counters.
#[napi(object)]
pub struct CacheStats {
    pub hits: f64,
    pub misses: f64,
    pub evictions: f64,
    pub expirations: f64,
    pub invalidations: f64,
    pub entries: f64,
    pub bytes: f64,
    pub capacity: f64,
    pub max_bytes: f64,
    pub hit_rate: f64,
}

/// Count and latencies (microseconds) of one operation.
#[napi(object)]
pub struct OpStats {
    pub count: f64,
    pub errors: f64,
    pub mean_us: f64,
    pub p50_us: f64,
    pub p95_us: f64,
    pub p99_us: f64,
}

/// Sizes, cache counters and per-operation latencies.
#[napi(object)]
pub struct EngineStats {
    pub items: u32,
    pub users: u32,
    pub interactions: f64,
    pub index: String,
    /// Approximate bytes held by the index structure (excluding the vectors).
    pub index_memory_bytes: f64,
    /// Bytes held by the item vectors (f32 rows or int8 codes).
    pub vector_memory_bytes: f64,
    /// Bytes of the memory-mapped file a read-only engine serves from (0 otherwise).
    pub mapped_bytes: f64,
    pub epoch: f64,
    pub threads: u32,
    pub model: Option<String>,
    pub cache: CacheStats,
    /// Figures per operation, by name ("search", "similar", ...).
    #[napi(ts_type = "Record<string, OpStats>")]
    pub ops: std::collections::HashMap<String, OpStats>,
}
