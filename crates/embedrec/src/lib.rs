//! # embedrec — an embedded recommendation engine
//!
//! embedrec runs inside the host process (Rust, Python or Node) and answers "more like this"
//! and "for you" queries in microseconds to a few milliseconds, with no server and one file on
//! disk.
//!
//! ## Architecture
//!
//! An [`Engine`] owns, behind one read-write lock:
//! - the **catalog** — host string ids mapped to dense internal slots (recycled after
//!   removal), the vectors in one contiguous, cache-line aligned block — raw `f32`, or int8
//!   codes with a scale per vector ([`VectorStorage`], a quarter of the bytes), each row led
//!   by the native graph's level-0 links for that item — interned tags and numeric attribute
//!   columns;
//! - an **index** implementing [`AnnIndex`]: `native` (embedrec's own HNSW graph over the
//!   catalog's rows, the default; `native_int8` walks it on int8 codes), `exact` (parallel
//!   brute force) or `hnsw` (the `hnsw_rs` crate behind a cargo feature, kept as a benchmark
//!   reference and wrapped so that no unvalidated input reaches it). Deletes are tombstones,
//!   with a rebuild past a threshold. An index only proposes candidates; the engine scores
//!   them on the stored vectors, so scores do not depend on the index;
//! - **interactions** per user, from which a profile vector is built (weighted, with an
//!   optional recency half-life) for [`Engine::recommend`]; anonymous sessions use
//!   [`Engine::recommend_for_items`]; popularity is the fallback when no history is usable.
//!
//! - optionally a **trained model** ([`Engine::fit`]: implicit ALS, EASE, item-kNN or popularity)
//!   that then serves `recommend`, `recommend_for_items`, `similar` and the batch calls; users
//!   are folded in from their current history, items touched by new interactions are updated
//!   incrementally, and items without interactions get ALS factors from a ridge map of their
//!   content vectors. [`eval`] has the splits and ranking metrics to judge a model.
//!
//! Around it: a [`Filter`] compiled per query and applied *inside* the search (the exact path
//! over the allowed subset is chosen when the filter is selective), an LRU result **cache**
//! bounded by entries and bytes with an optional TTL and an epoch in every key (so any
//! mutation invalidates it), **metrics** (counts, p50/p95/p99 latencies, Prometheus text), a
//! private **rayon pool** (never the global one; rebuilt in a forked child) for batch calls and
//! index builds, and **persistence** to one versioned, checksummed file written atomically
//! ([`persist`]).
//!
//! Every input is validated in this crate before it reaches an index; errors are one
//! [`Error`] enum whose messages name the offending field, value and expectation. The crate
//! never prints and installs no logger.
//!
//! ## Example
//!
//! ```
//! use embedrec::{Engine, EngineConfig, Filter, ItemAttrs, Metric, RecommendOptions};
//! use ndarray::array;
//!
//! let engine = Engine::new(EngineConfig::new(3).with_metric(Metric::Cosine))?;
//! let vectors = array![[1.0f32, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 1.0, 0.0], [0.0, 0.9, 0.3]];
//! let attrs = vec![
//!     ItemAttrs::tags(["rock"]).number("year", 1991.0),
//!     ItemAttrs::tags(["rock"]).number("year", 2004.0),
//!     ItemAttrs::tags(["jazz"]).number("year", 1959.0),
//!     ItemAttrs::tags(["jazz"]).number("year", 2011.0),
//! ];
//! engine.upsert_items(&["a", "b", "c", "d"], vectors.view(), Some(&attrs))?;
//!
//! // "More like this": never returns the item itself.
//! let similar = engine.similar("a", 2, None)?;
//! assert_eq!(&*similar[0].id, "b");
//!
//! // "For you", from a listening history, with already-played items excluded.
//! engine.add_interactions(&["u1", "u1"], &["c", "a"], Some(&[3.0, 1.0]), None)?;
//! let recs = engine.recommend("u1", 2, &RecommendOptions::default())?;
//! assert_eq!(&*recs[0].id, "d");
//!
//! // Filters run inside the search.
//! let only_new = Filter::new().range("year", Some(2000.0), None);
//! let hits = engine.search(&[1.0, 0.0, 0.0], 10, Some(&only_new))?;
//! assert_eq!(hits.len(), 2);
//!
//! // Save atomically, load back.
//! let dir = std::env::temp_dir().join(format!("embedrec-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! engine.save(dir.join("music.embedrec"))?;
//! let loaded = Engine::load(dir.join("music.embedrec"))?;
//! assert_eq!(loaded.len(), 4);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), embedrec::Error>(())
//! ```
#![deny(missing_docs)]

// Layers, lowest first; a module uses only its own layer and those below it
// (scripts/check_layers.py checks this; ARCHITECTURE.md describes each layer).
mod codec;
mod distance;
mod engine;
mod error;
mod index;
mod model;
pub mod persist;
pub mod shard;
mod store;
mod util;

pub use codec::{DEFAULT_SYNC_INTERVAL_MS, SyncMode};
pub use distance::{Metric, dot, l2_sq, simd_level};
pub use engine::{
    Answer, CacheStats, Engine, EngineConfig, EngineStats, ExpositionOptions, FitReport, Hit,
    IndexKind, LATENCY_BUCKETS, MAX_DIM, MAX_EF, MAX_FACTOR, MAX_HNSW_M, MAX_K, MAX_THREADS,
    OpStats, OpenOptions, RecommendOptions, Rows, Trial, TuneOptions, TuneReport,
    merge_expositions, metrics_text,
};
pub use error::{Error, INT_ID_MARK, Result, ShowId, int_id, parse_int_id};
pub use index::AnnIndex;
pub use model::eval;
pub use model::{
    AlsParams, Confidence, EASE_MAX_ITEMS, EaseParams, KnnParams, KnnWeighting, ModelSpec, Progress,
};
pub use ndarray;
pub use shard::ShardedEngine;
pub use store::{
    AttrUpdate, Catalog, Filter, IdColumn, ItemAttrs, MAX_ID_BYTES, MAX_WEIGHT, NumericRange,
    VectorStorage,
};
pub use util::rng::SplitMix64;

/// The repository README; its Rust example runs as a doctest.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
