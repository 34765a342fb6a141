//! A graph index over vectors that are derived rather than stored in the catalog (a
//! model's item factors), keyed by catalog slot, for one of two similarities:
//!
//! - **inner product** (maximum inner-product search): the graph is built and walked with
//!   the inner product itself as the similarity (as hnswlib's "ip" space), neighbours
//!   chosen as the best `m` (see [`NativeHnsw::with_plain_selection`]). The
//!   norm-augmentation transform (each row `y` as `[y, sqrt(R² − |y|²)]`, searched by
//!   cosine) was measured against it on ALS factors and lost badly: recall@10 0.21 against
//!   0.95 at the same breadth (docs/benchmarks.md), because most augmented rows then point
//!   along the added axis;
//! - **cosine**: the rows compared by cosine (the space keeps their inverse norms).
//!
//! The rows live in a private [`Catalog`] of their own (slot `s` of the space is slot `s` of
//! the engine's catalog), so the native graph walks them with its usual row layout. Scores
//! returned are exact: the inner product or the cosine of the stored row.

use super::{AnnIndex, NativeHnsw, links_per_row};
use crate::distance::norm;
use crate::store::catalog::PreparedItem;
use crate::store::{Catalog, VectorStorage};
use crate::{Metric, Result};

/// Share of tombstones (removed or re-linked rows) past which the graph is rebuilt.
const REBUILD_FRACTION: f64 = 0.3;

/// The similarity a [`VectorIndex`] ranks by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Similarity {
    InnerProduct,
    Cosine,
}

/// An HNSW graph over externally supplied rows (see the module documentation).
#[derive(Debug)]
pub(crate) struct VectorIndex {
    similarity: Similarity,
    dim: usize,
    space: Catalog,
    graph: NativeHnsw,
    /// Slots that are nodes of the graph (the others are never returned).
    members: Vec<bool>,
    m: usize,
    ef_construction: usize,
}

impl VectorIndex {
    /// Builds the index over `rows` (`slots * dim`, row `s` for slot `s`), linking the slots
    /// `include` accepts (rows of zero norm are never linked under cosine). Runs in parallel
    /// on the current rayon pool.
    pub(crate) fn build(
        similarity: Similarity,
        dim: usize,
        rows: &[f32],
        include: &dyn Fn(u32) -> bool,
        m: usize,
        ef_construction: usize,
    ) -> Result<Self> {
        let n = rows.len() / dim.max(1);
        let metric = match similarity {
            Similarity::InnerProduct => Metric::Dot,
            Similarity::Cosine => Metric::Cosine,
        };
        let mut ix = VectorIndex {
            similarity,
            dim,
            space: Catalog::new(dim, metric, VectorStorage::F32, links_per_row(m)),
            graph: Self::graph(similarity, m, ef_construction),
            members: Vec::new(),
            m,
            ef_construction,
        };
        let slots: Vec<u32> = (0..n as u32).collect();
        ix.write_rows(rows, &slots);
        let linked: Vec<u32> = slots
            .into_iter()
            .filter(|&s| ix.linkable(s, include))
            .collect();
        ix.link(&linked)?;
        Ok(ix)
    }

    /// The first step of an update to `rows` (the factors of `slots` changed; slots past the
    /// end are new): the changes that need `&mut self` (rows written, slots that
    /// left unlinked, new members given their levels); returns the slots to link with
    /// [`VectorIndex::link_prepared`], then [`VectorIndex::finish_update`] completes it.
    pub(crate) fn prepare_update(
        &mut self,
        rows: &[f32],
        slots: &[u32],
        include: &dyn Fn(u32) -> bool,
    ) -> Result<Vec<u32>> {
        let dim = self.dim;
        // Rows of slots past the end are appended in order, so space slots stay aligned.
        let n = rows.len() / dim.max(1);
        let mut touched: Vec<u32> = slots.to_vec();
        touched.extend(self.space.slots() as u32..n as u32);
        touched.sort_unstable();
        touched.dedup();
        self.write_rows(rows, &touched);
        let (link, unlink): (Vec<u32>, Vec<u32>) = touched
            .into_iter()
            .partition(|&s| self.linkable(s, include));
        self.unlink(&unlink);
        if self.members.len() < self.space.slots() {
            self.members.resize(self.space.slots(), false);
        }
        for &s in &link {
            self.members[s as usize] = true;
        }
        self.graph.prepare(&self.space, &link)
    }

    /// Links prepared slots: only `&self`, so searches may run meanwhile.
    pub(crate) fn link_prepared(&self, slots: &[u32]) {
        self.graph.link(&self.space, slots);
    }

    /// Rebuilds the graph if removals left too many tombstones.
    pub(crate) fn finish_update(&mut self) -> Result<()> {
        self.maybe_rebuild()
    }

    /// Unlinks these slots (items removed): they are never returned again.
    pub(crate) fn remove(&mut self, slots: &[u32]) -> Result<()> {
        self.unlink(slots);
        self.maybe_rebuild()
    }

    /// A fresh graph over the members once tombstones pass [`REBUILD_FRACTION`].
    fn maybe_rebuild(&mut self) -> Result<()> {
        if self.graph.wants_rebuild() {
            let all: Vec<u32> = (0..self.members.len() as u32)
                .filter(|&s| self.members[s as usize])
                .collect();
            self.graph = Self::graph(self.similarity, self.m, self.ef_construction);
            for s in 0..self.space.slots() as u32 {
                // Old level-0 lists live in the rows: start from empty ones.
                for l in self.space.links(s) {
                    l.store(0, std::sync::atomic::Ordering::Relaxed);
                }
            }
            self.members.fill(false);
            self.link(&all)?;
        }
        Ok(())
    }

    fn unlink(&mut self, slots: &[u32]) {
        let gone: Vec<u32> = slots
            .iter()
            .copied()
            .filter(|&s| self.members.get(s as usize).copied().unwrap_or(false))
            .collect();
        for &s in &gone {
            self.members[s as usize] = false;
        }
        self.graph.remove(&gone);
    }

    /// Up to `k` best `(slot, score)` pairs for `query` (`dim` components, non-zero) among
    /// the slots `accept` takes, best first, examining at least `ef` candidates.
    pub(crate) fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &(dyn Fn(u32) -> bool + Sync),
    ) -> Vec<(u32, f32)> {
        let q = self.prepare(query);
        let members = |s: u32| self.members.get(s as usize).copied().unwrap_or(false) && accept(s);
        self.graph.search(&self.space, &q, k, ef, Some(&members))
    }

    /// The exact score of a slot for a query prepared by [`VectorIndex::prepare`], the
    /// kernel resolved once (the cosine reads the stored norms: no norm computed per slot).
    /// Slots that are not members score `-inf`.
    pub(crate) fn scorer<'a>(&'a self, prepared: &'a [f32]) -> impl Fn(u32) -> f32 + Sync + 'a {
        let score = self.space.scorer(prepared);
        move |s: u32| {
            if self.members.get(s as usize).copied().unwrap_or(false) {
                score(s)
            } else {
                f32::NEG_INFINITY
            }
        }
    }

    /// Heap bytes of the index (rows, links, graph).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.space.vector_bytes() + self.graph.memory_bytes() + self.members.len()
    }

    fn graph(similarity: Similarity, m: usize, ef_construction: usize) -> NativeHnsw {
        let g = NativeHnsw::new(m, ef_construction, REBUILD_FRACTION);
        match similarity {
            Similarity::InnerProduct => g.with_plain_selection(),
            Similarity::Cosine => g,
        }
    }

    fn linkable(&self, s: u32, include: &dyn Fn(u32) -> bool) -> bool {
        include(s) && (self.similarity == Similarity::InnerProduct || self.space.inv_norm(s) > 0.0)
    }

    fn link(&mut self, slots: &[u32]) -> Result<()> {
        if self.members.len() < self.space.slots() {
            self.members.resize(self.space.slots(), false);
        }
        for &s in slots {
            self.members[s as usize] = true;
        }
        self.graph.upsert(&self.space, slots)
    }

    /// Stores the rows of `slots`, appending slots past the end in order.
    fn write_rows(&mut self, rows: &[f32], slots: &[u32]) {
        let dim = self.dim;
        let mut names = Vec::with_capacity(slots.len());
        let mut data = Vec::with_capacity(slots.len() * dim);
        for &s in slots {
            data.extend_from_slice(&rows[s as usize * dim..(s as usize + 1) * dim]);
            names.push(s.to_string());
        }
        let w = dim.max(1);
        let items: Vec<PreparedItem<'_>> = names
            .iter()
            .zip(data.chunks_exact(w))
            .map(|(id, vector)| PreparedItem {
                id,
                vector: Some(vector),
                attrs: None,
            })
            .collect();
        let placed = self.space.apply(&items);
        debug_assert!(placed.iter().zip(slots).all(|((p, _), s)| p == s));
    }

    /// The query as the space compares it: unit length under cosine, else as given.
    pub(crate) fn prepare(&self, query: &[f32]) -> Vec<f32> {
        match self.similarity {
            Similarity::InnerProduct => query.to_vec(),
            Similarity::Cosine => {
                let n = norm(query);
                let inv = if n > 0.0 { 1.0 / n } else { 0.0 };
                query.iter().map(|x| x * inv).collect()
            }
        }
    }
}
