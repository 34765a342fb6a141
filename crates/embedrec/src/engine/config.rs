//! Engine configuration and its validation.

use crate::store::VectorStorage;
use crate::util::check_range;
use crate::{Error, Metric, Result};
use serde::{Deserialize, Serialize};

/// Largest vector dimension accepted.
pub const MAX_DIM: usize = 65_536;
/// Largest `m` accepted for HNSW (hnsw_rs terminates the process above 256).
pub const MAX_HNSW_M: usize = 256;
/// Largest `k` accepted by queries.
pub const MAX_K: usize = 100_000;
/// Largest `ef_construction` / `ef_search` accepted.
pub const MAX_EF: usize = 100_000;
/// Largest worker-thread count accepted for the engine's pool.
pub const MAX_THREADS: usize = 1024;

/// Which nearest-neighbour index serves queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexKind {
    /// Brute force over all items (exact; parallel; best for small catalogs).
    Exact,
    /// HNSW graph on the `hnsw_rs` crate (approximate; sub-linear).
    Hnsw,
    /// embedrec's own HNSW graph over the catalog (approximate; sub-linear; no vector copy).
    Native,
    /// The native graph walked on int8 codes of the vectors, which sit with its level-0
    /// links (a quarter of the memory traffic per distance; +1 byte per dimension per item),
    /// candidates re-scored exactly from the f32 vectors. With a read-only open the f32 rows
    /// stay in the mapped file and only the re-scored ones are read: the index's resident
    /// memory is the codes, links and ids.
    NativeInt8,
    /// The native graph walked on one-bit codes (the sign of each component around the
    /// mean, RaBitQ-style, with two floats per item: 1/32 of the f32 vectors), which sit with
    /// its level-0 links; candidates re-scored exactly from the f32 vectors. The coarse
    /// codes need a wider search (`ef`) for the same recall; with a read-only open the f32
    /// rows stay in the mapped file.
    Native1Bit,
}

impl IndexKind {
    /// Parses `"native"`, `"native_int8"`, `"native_1bit"`, `"hnsw"` (also `"hnsw_rs"`) or
    /// `"exact"`.
    pub fn parse(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "hnsw" | "hnsw_rs" => Ok(IndexKind::Hnsw),
            "native" => Ok(IndexKind::Native),
            "native_int8" | "int8" => Ok(IndexKind::NativeInt8),
            "native_1bit" | "1bit" => Ok(IndexKind::Native1Bit),
            "exact" | "flat" | "brute_force" => Ok(IndexKind::Exact),
            _ => Err(Error::invalid(
                "index",
                "\"native\", \"native_int8\", \"native_1bit\", \"hnsw\" or \"exact\"",
                format!("{name:?}"),
            )),
        }
    }
    /// True when the index is the native graph, which is saved with the engine.
    pub(crate) fn stores_graph(self) -> bool {
        matches!(
            self,
            IndexKind::Native | IndexKind::NativeInt8 | IndexKind::Native1Bit
        )
    }
    /// True when the index keeps its level-0 links in the catalog's rows (the native graph
    /// on f32 vectors; on codes they sit with the codes).
    pub(crate) fn links_in_rows(self) -> bool {
        self == IndexKind::Native
    }
    /// The codes the native graph walks on, if any.
    pub(crate) fn codes(self) -> Option<crate::index::CodeKind> {
        match self {
            IndexKind::NativeInt8 => Some(crate::index::CodeKind::Int8),
            IndexKind::Native1Bit => Some(crate::index::CodeKind::Bits),
            _ => None,
        }
    }
    /// The canonical lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Exact => "exact",
            IndexKind::Hnsw => "hnsw",
            IndexKind::Native => "native",
            IndexKind::NativeInt8 => "native_int8",
            IndexKind::Native1Bit => "native_1bit",
        }
    }
}

/// Full configuration of an [`Engine`](crate::Engine). Build one with [`EngineConfig::new`]
/// and the `with_*` methods, or fill the public fields; [`EngineConfig::validate`] is called
/// by the engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// Number of components of every item vector.
    pub dim: usize,
    /// Similarity measure.
    pub metric: Metric,
    /// Index used for unfiltered and non-selective queries.
    pub index: IndexKind,
    /// HNSW (native and hnsw_rs): links per node and layer (2..=256). Default 16.
    pub m: usize,
    /// HNSW: candidate list size during construction. Default 200.
    pub ef_construction: usize,
    /// HNSW: candidate list size during search (raised to `k` when smaller). Default 128
    /// (recall@10 of about 0.98 on 5,000 x 24 clustered data with m = 16, see tests/recall.rs).
    pub ef_search: usize,
    /// Result cache: maximum number of entries (0 disables the cache). Default 10,000.
    pub cache_capacity: usize,
    /// Result cache: maximum bytes held (keys plus results). Default 64 MiB.
    pub cache_max_bytes: usize,
    /// Result cache: time to live in seconds; `None` keeps entries until evicted or invalidated.
    pub cache_ttl_secs: Option<f64>,
    /// Worker threads of the engine's own pool; 0 means one per available core.
    pub threads: usize,
    /// Half-life in seconds applied to interaction weights when building a profile from
    /// history; `None` weighs all history equally.
    pub recency_half_life_secs: Option<f64>,
    /// When a filter is estimated to pass at most this fraction of live items, the exact path
    /// over the allowed subset is used instead of the graph. Default 0.10, the crossover
    /// `examples/filter_crossover.rs` measures (figures in docs/benchmarks.md).
    pub exact_filter_fraction: f64,
    /// Catalogs with at most this many live items are always searched exactly. Default 2,000.
    pub exact_below: usize,
    /// HNSW is rebuilt from the catalog when tombstoned points exceed this fraction of all
    /// points. Default 0.3.
    pub rebuild_tombstone_fraction: f64,
    /// How item vectors are stored. Default [`VectorStorage::F32`]. Fixed for the engine's
    /// life; the saved file records it by the kind of its vector section.
    #[serde(skip)]
    pub vector_storage: VectorStorage,
}

impl EngineConfig {
    /// Writes the configuration's record of a version-2 META section (`docs/format.md`):
    /// every field but the vector storage (which the ROWS section records), integers as
    /// u64, the metric and index as u32 codes, optional numbers as f64 with NaN for none.
    pub(crate) fn write_record(&self, w: &mut crate::codec::bytes::Writer) {
        w.u64(self.dim as u64);
        w.u32(match self.metric {
            Metric::Cosine => 0,
            Metric::Dot => 1,
            Metric::L2 => 2,
        });
        w.u32(match self.index {
            IndexKind::Exact => 0,
            IndexKind::Hnsw => 1,
            IndexKind::Native => 2,
            IndexKind::NativeInt8 => 3,
            IndexKind::Native1Bit => 4,
        });
        for x in [
            self.m,
            self.ef_construction,
            self.ef_search,
            self.cache_capacity,
            self.cache_max_bytes,
        ] {
            w.u64(x as u64);
        }
        w.f64(self.cache_ttl_secs.unwrap_or(f64::NAN));
        w.u64(self.threads as u64);
        w.f64(self.recency_half_life_secs.unwrap_or(f64::NAN));
        w.f64(self.exact_filter_fraction);
        w.u64(self.exact_below as u64);
        w.f64(self.rebuild_tombstone_fraction);
    }

    /// Reads a record [`EngineConfig::write_record`] wrote (the caller validates it).
    pub(crate) fn read_record(
        r: &mut crate::codec::bytes::Reader<'_>,
    ) -> std::result::Result<Self, String> {
        let big = |r: &mut crate::codec::bytes::Reader<'_>, what: &str| {
            r.usize_at_most(u32::MAX as u64, what)
        };
        let dim = big(r, "dim")?;
        let metric = match r.u32()? {
            0 => Metric::Cosine,
            1 => Metric::Dot,
            2 => Metric::L2,
            x => return Err(format!("unknown metric code {x}")),
        };
        let index = match r.u32()? {
            0 => IndexKind::Exact,
            1 => IndexKind::Hnsw,
            2 => IndexKind::Native,
            3 => IndexKind::NativeInt8,
            4 => IndexKind::Native1Bit,
            x => return Err(format!("unknown index code {x}")),
        };
        let (m, ef_construction, ef_search) = (
            big(r, "m")?,
            big(r, "ef_construction")?,
            big(r, "ef_search")?,
        );
        let cache_capacity = r.usize_at_most(u64::MAX, "cache_capacity")?;
        let cache_max_bytes = r.usize_at_most(u64::MAX, "cache_max_bytes")?;
        let some = |x: f64| (!x.is_nan()).then_some(x);
        let cache_ttl_secs = some(r.f64()?);
        let threads = big(r, "threads")?;
        let recency_half_life_secs = some(r.f64()?);
        let exact_filter_fraction = r.f64()?;
        let exact_below = r.usize_at_most(u64::MAX, "exact_below")?;
        let rebuild_tombstone_fraction = r.f64()?;
        Ok(EngineConfig {
            dim,
            metric,
            index,
            m,
            ef_construction,
            ef_search,
            cache_capacity,
            cache_max_bytes,
            cache_ttl_secs,
            threads,
            recency_half_life_secs,
            exact_filter_fraction,
            exact_below,
            rebuild_tombstone_fraction,
            vector_storage: VectorStorage::F32,
        })
    }

    /// A configuration with the documented defaults for vectors of `dim` components.
    pub fn new(dim: usize) -> Self {
        EngineConfig {
            dim,
            metric: Metric::Cosine,
            index: IndexKind::Native,
            m: 16,
            ef_construction: 200,
            ef_search: 128,
            cache_capacity: 10_000,
            cache_max_bytes: 64 << 20,
            cache_ttl_secs: None,
            threads: 0,
            recency_half_life_secs: None,
            exact_filter_fraction: 0.10,
            exact_below: 2_000,
            rebuild_tombstone_fraction: 0.3,
            vector_storage: VectorStorage::F32,
        }
    }
    /// Sets the metric.
    pub fn with_metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }
    /// Sets the index kind.
    pub fn with_index(mut self, index: IndexKind) -> Self {
        self.index = index;
        self
    }
    /// Sets HNSW parameters.
    pub fn with_hnsw(mut self, m: usize, ef_construction: usize, ef_search: usize) -> Self {
        self.m = m;
        self.ef_construction = ef_construction;
        self.ef_search = ef_search;
        self
    }
    /// Sets cache capacity (entries), byte bound and TTL.
    pub fn with_cache(mut self, capacity: usize, max_bytes: usize, ttl_secs: Option<f64>) -> Self {
        self.cache_capacity = capacity;
        self.cache_max_bytes = max_bytes;
        self.cache_ttl_secs = ttl_secs;
        self
    }
    /// Sets the number of worker threads (0 = all cores).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }
    /// Sets how item vectors are stored.
    pub fn with_vector_storage(mut self, storage: VectorStorage) -> Self {
        self.vector_storage = storage;
        self
    }
    /// Sets the recency half-life used for history profiles.
    pub fn with_recency_half_life(mut self, secs: Option<f64>) -> Self {
        self.recency_half_life_secs = secs;
        self
    }

    /// Link entries each catalog row reserves ahead of its vector: the native graph keeps
    /// its level-0 lists there (hnswlib's layout: a node's links next to its vector); other
    /// indexes keep none.
    pub(crate) fn row_links(&self) -> usize {
        if self.index.links_in_rows() && self.dim > 0 {
            crate::index::links_per_row(self.m)
        } else {
            0
        }
    }

    /// Checks every field; the error names the field, the accepted range and the value.
    pub fn validate(&self) -> Result<()> {
        let range = |field: &str, v, lo, hi| check_range(&format!("config.{field}"), v, lo, hi);
        // dim 0: an engine without content vectors (interactions and models only).
        range("dim", self.dim, 0, MAX_DIM)?;
        if self.index == IndexKind::Hnsw && !cfg!(feature = "hnsw-rs") {
            return Err(Error::invalid(
                "config.index",
                "an index compiled into this build (\"hnsw\" needs the cargo feature \"hnsw-rs\")",
                "\"hnsw\"",
            ));
        }
        range("m", self.m, 2, MAX_HNSW_M)?;
        range("ef_construction", self.ef_construction, 1, MAX_EF)?;
        range("ef_search", self.ef_search, 1, MAX_EF)?;
        range("threads", self.threads, 0, MAX_THREADS)?;
        if let Some(t) = self.cache_ttl_secs
            && !(t.is_finite() && t > 0.0)
        {
            return Err(Error::invalid(
                "config.cache_ttl_secs",
                "a finite number of seconds > 0, or none",
                t,
            ));
        }
        if let Some(h) = self.recency_half_life_secs
            && !(h.is_finite() && h > 0.0)
        {
            return Err(Error::invalid(
                "config.recency_half_life_secs",
                "a finite number of seconds > 0, or none",
                h,
            ));
        }
        for (field, v) in [
            ("exact_filter_fraction", self.exact_filter_fraction),
            (
                "rebuild_tombstone_fraction",
                self.rebuild_tombstone_fraction,
            ),
        ] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(Error::invalid(
                    format!("config.{field}"),
                    "a fraction in 0..=1",
                    v,
                ));
            }
        }
        Ok(())
    }
}

#[cfg(all(test, not(feature = "hnsw-rs")))]
mod feature_tests {
    use super::*;

    #[test]
    fn hnsw_index_needs_the_cargo_feature() {
        let e = EngineConfig::new(4)
            .with_index(IndexKind::Hnsw)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(e.contains("hnsw-rs"), "{e}");
    }
}
