//! The engine's public result and report types.

use super::CacheStats;
use super::OpStats;
use crate::store::Filter;
use std::sync::Arc;

/// One result: an item id and its score (higher is better: cosine similarity, inner product,
/// or negated squared L2 distance).
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// The host's item id.
    pub id: Arc<str>,
    /// The score under the engine's metric.
    pub score: f32,
}

/// The hits of a query as [`Engine::answer`] returns them: alone, or each with its item's
/// tags and numeric attributes (what a result page shows next to an id).
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// The hits, best first.
    Hits(Vec<Hit>),
    /// The hits, best first, each with its item's metadata (empty for an item removed
    /// between the query and the read of its metadata).
    Described(Vec<(Hit, crate::store::ItemAttrs)>),
}

impl Answer {
    /// `hits` alone, or with `describe` reading each one's metadata when `with_metadata`.
    pub(crate) fn of(
        hits: Vec<Hit>,
        with_metadata: bool,
        describe: impl FnOnce(Vec<Hit>) -> Vec<(Hit, crate::store::ItemAttrs)>,
    ) -> Self {
        if with_metadata {
            Answer::Described(describe(hits))
        } else {
            Answer::Hits(hits)
        }
    }
}

/// Options of [`Engine::recommend`] and friends.
#[derive(Clone, Debug, PartialEq)]
pub struct RecommendOptions {
    /// Restricts which items may be recommended.
    pub filter: Option<Filter>,
    /// Leaves out items the user (or the given session items) already interacted with.
    /// Default `true`.
    pub exclude_seen: bool,
    /// Trades relevance for variety, in `0..=1` (default 0: pure relevance): the list is
    /// re-ranked by maximal marginal relevance over a wider candidate pool, each pick
    /// maximising `(1 − diversity) · relevance − diversity · (largest cosine to an item
    /// already picked)`, with cosines between model factors (ALS) or content vectors. Hits
    /// keep their relevance scores, so with diversity the scores need not decrease down
    /// the list.
    pub diversity: f32,
}

impl Default for RecommendOptions {
    fn default() -> Self {
        RecommendOptions {
            filter: None,
            exclude_seen: true,
            diversity: 0.0,
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
    /// Index kind (`"native"`, `"native_int8"`, `"exact"` or `"hnsw"`).
    pub index: &'static str,
    /// Approximate bytes used by the index structure (the native graph's level-0 links
    /// included, though they sit in the catalog's rows next to each vector).
    pub index_memory_bytes: usize,
    /// Approximate bytes used by catalog vectors (their rows' link entries excluded); for a
    /// read-only engine, bytes of its mapped file rather than of its heap.
    pub vector_memory_bytes: usize,
    /// Bytes of the file a read-only engine serves from (memory-mapped: pages shared
    /// between the processes that open it, loaded as queries touch them); 0 otherwise.
    pub mapped_bytes: usize,
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
    /// Wall-clock seconds, training and indexing.
    pub seconds: f64,
    /// Of those, the seconds spent indexing the model's item factors (0 for models without
    /// factors).
    pub index_seconds: f64,
    /// Final training loss, where the model defines one.
    pub loss: Option<f64>,
}
