//! A graph index over vectors that are derived rather than stored in the catalog (a
//! model's item factors), keyed by catalog slot, for one of two similarities:
//!
//! - **inner product** (maximum inner-product search): each row `y` is augmented to
//!   `[y, sqrt(R² − |y|²)]`, so every augmented row has norm `R` and, for a query `[q, 0]`,
//!   the cosine of the augmented pair is `q·y / (|q| R)`: ordering by cosine in the
//!   augmented space is ordering by inner product, and the graph is built in a proper
//!   metric space (the norm-augmentation transform of Bachrach et al., 2014). `R` is the
//!   largest norm at build time with headroom; a later row longer than `R` rebuilds the
//!   graph with a larger one.
//! - **cosine**: the rows as given, compared by cosine (the space keeps their inverse norms).
//!
//! The rows live in a private [`Catalog`] of their own (slot `s` of the space is slot `s` of
//! the engine's catalog), so the native graph walks them with its usual row layout. Scores
//! returned are exact: the inner product recomputed on the unaugmented row, or the cosine.

use super::{AnnIndex, NativeHnsw, links_per_row, sort_hits};
use crate::distance::{dot, norm};
use crate::store::catalog::PreparedItem;
use crate::store::{Catalog, VectorStorage};
use crate::{Metric, Result};

/// The similarity a [`VectorIndex`] ranks by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Similarity {
    InnerProduct,
    Cosine,
}

/// Headroom of the augmentation radius over the longest row at build time, so that rows
/// updated later (incremental model updates) rarely force a rebuild.
const RADIUS_HEADROOM: f32 = 1.25;

/// An HNSW graph over externally supplied rows (see the module documentation).
#[derive(Debug)]
pub(crate) struct VectorIndex {
    similarity: Similarity,
    dim: usize,
    radius: f32,
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
        let radius = match similarity {
            Similarity::InnerProduct => {
                let longest = (0..n)
                    .filter(|&s| include(s as u32))
                    .map(|s| norm(&rows[s * dim..(s + 1) * dim]))
                    .fold(0.0f32, f32::max);
                (longest * RADIUS_HEADROOM).max(f32::MIN_POSITIVE.sqrt())
            }
            Similarity::Cosine => 0.0,
        };
        let space_dim = match similarity {
            Similarity::InnerProduct => dim + 1,
            Similarity::Cosine => dim,
        };
        let mut ix = VectorIndex {
            similarity,
            dim,
            radius,
            space: Catalog::new(
                space_dim,
                Metric::Cosine,
                VectorStorage::F32,
                links_per_row(m),
            ),
            graph: NativeHnsw::new(m, ef_construction, 1.0),
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

    /// Rows of these slots changed (or are new): stores them and re-links those `include`
    /// accepts; unlinks the others. Rebuilds the whole graph when an inner-product row is
    /// longer than the augmentation radius or tombstones dominate.
    pub(crate) fn update(
        &mut self,
        rows: &[f32],
        slots: &[u32],
        include: &dyn Fn(u32) -> bool,
    ) -> Result<()> {
        let dim = self.dim;
        let row = |s: u32| &rows[s as usize * dim..(s as usize + 1) * dim];
        let too_long = self.similarity == Similarity::InnerProduct
            && slots
                .iter()
                .any(|&s| include(s) && norm(row(s)) > self.radius);
        if too_long {
            *self = Self::build(
                self.similarity,
                dim,
                rows,
                include,
                self.m,
                self.ef_construction,
            )?;
            return Ok(());
        }
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
        self.remove(&unlink);
        self.link(&link)?;
        if self.graph.wants_rebuild() {
            let all: Vec<u32> = (0..self.members.len() as u32)
                .filter(|&s| self.members[s as usize])
                .collect();
            self.graph = NativeHnsw::new(self.m, self.ef_construction, 1.0);
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

    /// Unlinks these slots (items removed): they are never returned again.
    pub(crate) fn remove(&mut self, slots: &[u32]) {
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
        let q = self.space_query(query);
        let members = |s: u32| self.members.get(s as usize).copied().unwrap_or(false) && accept(s);
        let mut hits = self.graph.search(&self.space, &q, k, ef, Some(&members));
        if self.similarity == Similarity::InnerProduct {
            for h in &mut hits {
                h.1 = dot(query, &self.space.vector(h.0)[..self.dim]);
            }
            sort_hits(&mut hits);
        }
        hits
    }

    /// The exact score of a slot for `query` under this index's similarity, with the
    /// query prepared once: the cosine reads the stored norms (no norm computed per call).
    /// Slots that are not members score `-inf`.
    pub(crate) fn scorer<'a>(&'a self, query: &'a [f32]) -> impl Fn(u32) -> f32 + Sync + 'a {
        let q = match self.similarity {
            Similarity::Cosine => {
                let n = norm(query);
                query.iter().map(|x| x / n).collect()
            }
            Similarity::InnerProduct => Vec::new(),
        };
        move |s: u32| {
            if !self.members.get(s as usize).copied().unwrap_or(false) {
                return f32::NEG_INFINITY;
            }
            match self.similarity {
                Similarity::Cosine => self.space.score(&q, s),
                Similarity::InnerProduct => dot(query, &self.space.vector(s)[..self.dim]),
            }
        }
    }

    /// Heap bytes of the index (rows, links, graph).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.space.vector_bytes() + self.graph.memory_bytes() + self.members.len()
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

    /// Stores the (augmented) rows of `slots`, appending slots past the end in order.
    fn write_rows(&mut self, rows: &[f32], slots: &[u32]) {
        let dim = self.dim;
        let mut names = Vec::with_capacity(slots.len());
        let mut data = Vec::with_capacity(slots.len() * (dim + 1));
        for &s in slots {
            let y = &rows[s as usize * dim..(s as usize + 1) * dim];
            data.extend_from_slice(y);
            if self.similarity == Similarity::InnerProduct {
                let n2 = dot(y, y).min(self.radius * self.radius);
                data.push((self.radius * self.radius - n2).max(0.0).sqrt());
            }
            names.push(s.to_string());
        }
        let w = self.space.dim();
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

    /// The query in the space: unit length, with a zero augmentation component.
    fn space_query(&self, query: &[f32]) -> Vec<f32> {
        let n = norm(query);
        let inv = if n > 0.0 { 1.0 / n } else { 0.0 };
        let mut q: Vec<f32> = query.iter().map(|x| x * inv).collect();
        if self.similarity == Similarity::InnerProduct {
            q.push(0.0);
        }
        q
    }
}
