//! Nearest-neighbour indexes behind one trait.
//!
//! An index only proposes candidates; the engine re-scores every returned slot with the exact
//! kernel from the catalog, so scores are identical whichever index found the item.

use crate::Result;
use crate::store::Catalog;

mod exact;
mod hnsw;
#[cfg(feature = "hnsw-rs")]
mod hnsw_rs;
mod vectors;

pub(crate) use exact::{ExactIndex, PARALLEL_SCAN, ScanOrder, TopK, top_k_by, top_k_pairs};
pub(crate) use hnsw::{CodeKind, NativeHnsw, links_per_row};
#[cfg(feature = "hnsw-rs")]
pub(crate) use hnsw_rs::HnswIndex;
pub(crate) use vectors::{Similarity, VectorIndex};

/// The contract every index implements. Implementations receive only validated input:
/// vectors of the right dimension with finite components (unit length under cosine).
pub trait AnnIndex: Send + Sync + std::fmt::Debug {
    /// Short name (`"native"`, `"native_int8"`, `"native_1bit"`, `"exact"`, `"hnsw"`).
    fn name(&self) -> &'static str;
    /// Inserts or replaces the vectors of these catalog slots (already stored in `cat`).
    /// Called on the engine's thread pool.
    fn upsert(&mut self, cat: &Catalog, slots: &[u32]) -> Result<()>;
    /// [`AnnIndex::upsert`] in two steps, so that queries can run during the costly one:
    /// `prepare` makes every change that needs `&mut self` (cheap) and returns the slots
    /// left to link, which [`AnnIndex::link`] then links through `&self` while searches run.
    /// By default everything happens here and nothing is left to link.
    fn prepare(&mut self, cat: &Catalog, slots: &[u32]) -> Result<Vec<u32>> {
        self.upsert(cat, slots)?;
        Ok(Vec::new())
    }
    /// Links slots returned by [`AnnIndex::prepare`] (on the engine's pool), concurrently
    /// with searches.
    fn link(&self, _cat: &Catalog, _slots: &[u32]) {}
    /// Forgets these slots (they are already free in the catalog).
    fn remove(&mut self, slots: &[u32]);
    /// Up to `k` best `(slot, score)` pairs, best first, among slots accepted by `accept`
    /// (`None`: every live slot).
    /// `query` is prepared (unit length for cosine). `ef` is the search breadth: an
    /// approximate index examines at least `ef` candidates (the engine raises it for filters
    /// that reject many items).
    fn search(
        &self,
        cat: &Catalog,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: Option<&(dyn Fn(u32) -> bool + Sync)>,
    ) -> Vec<(u32, f32)>;
    /// True when `accept` is applied while walking the index (so `ef` counts accepted items);
    /// false when the index filters a fixed candidate list afterwards (then the engine widens
    /// `ef` by the filter's selectivity).
    fn filters_during_traversal(&self) -> bool {
        false
    }
    /// True when removed slots stay in the structure as navigable tombstones (their vectors
    /// must then stay in the catalog until the slot is reused or the index rebuilt).
    fn navigates_removed(&self) -> bool {
        false
    }
    /// Whether the index structure is stored in the engine file (loading then skips the
    /// rebuild), by [`AnnIndex::write_graph`].
    fn stores_graph(&self) -> bool {
        false
    }
    /// Writes the index structure's section of the engine file. `cat` is the catalog the
    /// index was built over (the native graph keeps its level-0 links in the catalog's
    /// rows, which the catalog writes).
    fn write_graph(&self, _cat: &Catalog, _w: &mut dyn std::io::Write) -> std::io::Result<()> {
        Ok(())
    }
    /// True when the index would be better rebuilt from the catalog (e.g. too many tombstones).
    fn wants_rebuild(&self) -> bool {
        false
    }
    /// Rebuilds from every live slot of the catalog.
    fn rebuild(&mut self, cat: &Catalog) -> Result<()>;
    /// Approximate heap bytes used by the index itself (excluding the catalog).
    fn memory_bytes(&self) -> usize;
}

/// Orders candidates best first with a deterministic tie-break on slot.
pub(crate) fn sort_hits(hits: &mut [(u32, f32)]) {
    hits.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
}
