//! The installed model's item factors, indexed so that model queries walk a graph instead
//! of scoring every item: inner product for `recommend` (maximum inner-product search) and
//! cosine for `similar`. Kept in step with the model after fits, upserts, removals and
//! incremental updates.

use crate::Result;
use crate::index::{Similarity, VectorIndex};
use crate::model::Model;
use crate::store::Catalog;

/// Construction breadth of the factor graphs: half the content graph's default costs half
/// the build time and left recall unchanged for inner product, 0.985 for cosine (ALS
/// factors, 100k items; docs/benchmarks.md).
pub(crate) const MAX_EF_CONSTRUCTION: usize = 100;

/// Graph indexes over a model's item factors (see the module documentation).
#[derive(Debug)]
pub(crate) struct FactorIndex {
    pub(super) inner: VectorIndex,
    pub(super) cosine: VectorIndex,
}

impl FactorIndex {
    /// Indexes the factors of `model` over the live items of `cat` (`None` for models that
    /// do not rank by factors). Builds both graphs at once on the current rayon pool, with
    /// at most [`MAX_EF_CONSTRUCTION`].
    pub(crate) fn build(model: &Model, cat: &Catalog, m: usize, ef: usize) -> Result<Option<Self>> {
        let ef = ef.min(MAX_EF_CONSTRUCTION);
        let Some((rows, f)) = model.item_factors() else {
            return Ok(None);
        };
        let rows = &rows[..rows.len().min(cat.slots() * f)];
        let live = |s: u32| cat.is_live(s);
        let (inner, cosine) = rayon::join(
            || VectorIndex::build(Similarity::InnerProduct, f, rows, &live, m, ef),
            || VectorIndex::build(Similarity::Cosine, f, rows, &live, m, ef),
        );
        Ok(Some(FactorIndex {
            inner: inner?,
            cosine: cosine?,
        }))
    }

    /// The factors of these slots changed (new items, incremental updates).
    pub(crate) fn update(&mut self, model: &Model, cat: &Catalog, slots: &[u32]) -> Result<()> {
        let Some((rows, f)) = model.item_factors() else {
            return Ok(());
        };
        let rows = &rows[..rows.len().min(cat.slots() * f)];
        let n = (rows.len() / f) as u32;
        let slots: Vec<u32> = slots.iter().copied().filter(|&s| s < n).collect();
        let live = |s: u32| cat.is_live(s);
        self.inner.update(rows, &slots, &live)?;
        self.cosine.update(rows, &slots, &live)
    }

    /// Items removed from the catalog.
    pub(crate) fn remove(&mut self, slots: &[u32]) -> Result<()> {
        self.inner.remove(slots)?;
        self.cosine.remove(slots)
    }

    /// Heap bytes of both graphs and their rows.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes() + self.cosine.memory_bytes()
    }
}
