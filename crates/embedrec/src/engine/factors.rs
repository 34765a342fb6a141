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

/// How much larger a catalog must be before an inner-product walk over model factors (at
/// twice the breadth, `planner::IP_BREADTH`) beats scoring every item: a factor row scores in a few
/// nanoseconds (MovieLens, 9.7k items, 64 factors: 0.13 ms scanning, 0.17 ms walking; the
/// cosine walk of `similar` wins from the usual `exact_below`: 0.07 ms against 0.2 ms).
const FACTOR_SCAN_RATIO: usize = 8;

/// Live items from which inner-product queries over model factors walk a graph (below, they
/// score every item, and the engine builds no inner-product graph).
pub(super) fn factor_walk_from(config: &super::EngineConfig) -> usize {
    config.exact_below.saturating_mul(FACTOR_SCAN_RATIO)
}

/// The graph parameters an engine's configuration gives its factor indexes: breadth `m`,
/// construction breadth (at most [`MAX_EF_CONSTRUCTION`]), and the live-item count above
/// which an inner-product graph exists.
pub(crate) fn factor_params(config: &super::EngineConfig) -> (usize, usize, usize) {
    (
        config.m,
        config.ef_construction.min(MAX_EF_CONSTRUCTION),
        factor_walk_from(config),
    )
}

/// Slots of the factor graphs left to link by [`FactorIndex::link`].
#[derive(Debug, Default)]
pub(crate) struct PendingLinks {
    inner: Vec<u32>,
    cosine: Vec<u32>,
}

/// Graph indexes over a model's item factors (see the module documentation). The
/// inner-product graph exists only once the catalog is large enough for the planner to walk
/// it (`ip_from` live items); below that, inner-product queries score every item.
#[derive(Debug)]
pub(crate) struct FactorIndex {
    inner: Option<VectorIndex>,
    cosine: VectorIndex,
    /// Graph breadth and construction breadth, for an inner-product graph built later.
    m: usize,
    ef: usize,
    ip_from: usize,
}

impl FactorIndex {
    /// Indexes the factors of `model` over the live items of `cat` (`None` for models that
    /// do not rank by factors) with the parameters of [`factor_params`]. Builds the graphs
    /// at once on the current rayon pool; the inner-product graph only above `ip_from` live
    /// items.
    pub(crate) fn build(
        model: &Model,
        cat: &Catalog,
        (m, ef, ip_from): (usize, usize, usize),
    ) -> Result<Option<Self>> {
        let Some((rows, f)) = model.item_factors() else {
            return Ok(None);
        };
        let rows = &rows[..rows.len().min(cat.slots() * f)];
        let live = |s: u32| cat.is_live(s);
        let (inner, cosine) = rayon::join(
            || {
                (cat.len() > ip_from)
                    .then(|| VectorIndex::build(Similarity::InnerProduct, f, rows, &live, m, ef))
                    .transpose()
            },
            || VectorIndex::build(Similarity::Cosine, f, rows, &live, m, ef),
        );
        Ok(Some(FactorIndex {
            inner: inner?,
            cosine: cosine?,
            m,
            ef,
            ip_from,
        }))
    }

    /// The inner-product graph, when the catalog is large enough to have one.
    pub(super) fn inner(&self) -> Option<&VectorIndex> {
        self.inner.as_ref()
    }

    /// The cosine index (its rows score `similar`, its graph walks it).
    pub(super) fn cosine(&self) -> &VectorIndex {
        &self.cosine
    }

    /// The factors of these slots changed (new items, incremental updates). A catalog that
    /// grew past `ip_from` gets its inner-product graph now.
    #[cfg(test)]
    pub(crate) fn update(&mut self, model: &Model, cat: &Catalog, slots: &[u32]) -> Result<()> {
        let pending = self.prepare_update(model, cat, slots)?;
        self.link(&pending);
        self.finish_update()
    }

    /// [`FactorIndex::update`]'s changes that need `&mut self` (rows written; an
    /// inner-product graph that the catalog just grew large enough for is built whole);
    /// returns what [`FactorIndex::link`] links, then [`FactorIndex::finish_update`]
    /// completes it.
    pub(crate) fn prepare_update(
        &mut self,
        model: &Model,
        cat: &Catalog,
        slots: &[u32],
    ) -> Result<PendingLinks> {
        let Some((rows, f)) = model.item_factors() else {
            return Ok(PendingLinks::default());
        };
        let rows = &rows[..rows.len().min(cat.slots() * f)];
        let n = (rows.len() / f) as u32;
        let slots: Vec<u32> = slots.iter().copied().filter(|&s| s < n).collect();
        let live = |s: u32| cat.is_live(s);
        let inner = match &mut self.inner {
            Some(ix) => ix.prepare_update(rows, &slots, &live)?,
            None if cat.len() > self.ip_from => {
                let (m, ef) = (self.m, self.ef);
                let ix = VectorIndex::build(Similarity::InnerProduct, f, rows, &live, m, ef)?;
                self.inner = Some(ix);
                Vec::new()
            }
            None => Vec::new(),
        };
        let cosine = self.cosine.prepare_update(rows, &slots, &live)?;
        Ok(PendingLinks { inner, cosine })
    }

    /// Links what [`FactorIndex::prepare_update`] prepared: only `&self`, so queries may
    /// run meanwhile.
    pub(crate) fn link(&self, p: &PendingLinks) {
        if let Some(ix) = &self.inner {
            ix.link_prepared(&p.inner);
        }
        self.cosine.link_prepared(&p.cosine);
    }

    /// Completes an update (a graph with too many tombstones is rebuilt).
    pub(crate) fn finish_update(&mut self) -> Result<()> {
        if let Some(ix) = &mut self.inner {
            ix.finish_update()?;
        }
        self.cosine.finish_update()
    }

    /// Items removed from the catalog.
    pub(crate) fn remove(&mut self, slots: &[u32]) -> Result<()> {
        if let Some(ix) = &mut self.inner {
            ix.remove(slots)?;
        }
        self.cosine.remove(slots)
    }

    /// Whether there is an inner-product graph (see [`FactorIndex::inner`]).
    pub(crate) fn has_inner(&self) -> bool {
        self.inner.is_some()
    }

    /// Writes the inner-product index, if any (see [`VectorIndex::write`]).
    pub(crate) fn write_inner(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.inner.as_ref().map_or(Ok(()), |ix| ix.write(w))
    }

    /// Writes the cosine index (see [`VectorIndex::write`]).
    pub(crate) fn write_cosine(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        self.cosine.write(w)
    }

    /// The indexes saved by [`FactorIndex::write_inner`] and [`FactorIndex::write_cosine`]
    /// for `model` over `cat`, with the parameters of [`factor_params`]. Their
    /// shape must be the one a build would give (factor count, slots); the rows of graph
    /// members, when read into memory, must equal the model's factors. `Err` names the damaged section (`"factor_ip"`
    /// or `"factor_cosine"`) and why. The caller finishes the readers.
    pub(crate) fn read(
        (inner_r, cosine_r): (
            Option<&mut crate::codec::SectionReader<'_>>,
            &mut crate::codec::SectionReader<'_>,
        ),
        model: &Model,
        cat: &Catalog,
        (m, ef, ip_from): (usize, usize, usize),
    ) -> std::result::Result<Self, (&'static str, String)> {
        let Some((rows, f)) = model.item_factors() else {
            return Err(("factor_cosine", "the model has no item factors".into()));
        };
        let rows = &rows[..rows.len().min(cat.slots() * f)];
        let shape = (f, rows.len() / f.max(1));
        let read = |r: &mut crate::codec::SectionReader<'_>, sim, name| {
            let ix = VectorIndex::read(r, sim, shape, (m, ef)).map_err(|e| (name, r.fail(e)))?;
            // Rows of slots left out of the graph (removed items) may be stale.
            let differs =
                |s: usize| ix.is_member(s as u32) && *ix.row(s as u32) != rows[s * f..(s + 1) * f];
            if !ix.is_mapped()
                && let Some(s) = (0..shape.1).find(|&s| differs(s))
            {
                return Err((
                    name,
                    format!("slot {s}: row differs from the model's factors"),
                ));
            }
            Ok(ix)
        };
        let inner = inner_r
            .map(|r| read(r, Similarity::InnerProduct, "factor_ip"))
            .transpose()?;
        let cosine = read(cosine_r, Similarity::Cosine, "factor_cosine")?;
        Ok(FactorIndex {
            inner,
            cosine,
            m,
            ef,
            ip_from,
        })
    }

    /// Heap bytes of both graphs and their rows.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.inner.as_ref().map_or(0, VectorIndex::memory_bytes) + self.cosine.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AlsModel, AlsParams};

    fn model(n: usize, f: usize) -> Model {
        let mut rng = crate::util::rng::SplitMix64(3);
        let y: Vec<f32> = (0..n * f).map(|_| rng.uniform() - 0.5).collect();
        let params = AlsParams {
            factors: f,
            ..Default::default()
        };
        Model::Als(AlsModel::from_factors(params, y, vec![true; n], vec![]))
    }

    /// Below `ip_from` live items there is no inner-product graph (queries scan); a catalog
    /// that grows past it gets one with the update that crosses the line.
    #[test]
    fn the_inner_product_graph_is_built_once_the_catalog_is_large_enough() {
        let (f, ip_from) = (8, 300);
        let cat = Catalog::of_ids(200);
        let fx = FactorIndex::build(&model(200, f), &cat, (16, 50, ip_from))
            .unwrap()
            .unwrap();
        assert!(fx.inner().is_none());
        let cat = Catalog::of_ids(400);
        let mut fx = fx;
        let grown = model(400, f);
        let new: Vec<u32> = (200..400).collect();
        fx.update(&grown, &cat, &new).unwrap();
        let ip = fx.inner().expect("built once past ip_from");
        let (y, _) = grown.item_factors().unwrap();
        let q = &y[5 * f..6 * f];
        let best = ip.search(q, 1, 400, &|_| true);
        let exact = (0..400u32)
            .max_by(|&a, &b| {
                let s = |i: u32| crate::dot(q, &y[i as usize * f..(i as usize + 1) * f]);
                s(a).total_cmp(&s(b))
            })
            .unwrap();
        assert_eq!(best[0].0, exact);
        let big = FactorIndex::build(&grown, &cat, (16, 50, ip_from))
            .unwrap()
            .unwrap();
        assert!(big.inner().is_some());
    }
}
