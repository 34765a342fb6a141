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
//!
//! Saved whole ([`VectorIndex::write`]): a load or a read-only open uses the stored rows
//! and graph instead of building them again.

use super::{AnnIndex, NativeHnsw, links_per_row};
use crate::distance::norm;
use crate::store::catalog::PreparedItem;
use crate::store::{Catalog, VectorStorage};
use crate::{Metric, Result};

/// Share of tombstones (removed or re-linked rows) past which the graph is rebuilt.
const REBUILD_FRACTION: f64 = 0.3;

/// Magic of a saved index.
const MAGIC: &[u8; 4] = b"VIX1";
/// Bytes of the header before the space's rows (a multiple of 64, so that the rows' block
/// keeps its alignment in a page-aligned section).
const HEADER: usize = 64;

/// The similarity a [`VectorIndex`] ranks by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Similarity {
    InnerProduct = 0,
    Cosine = 1,
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

    /// Every slot's level-0 links (for tests that check the graph was left as it was).
    #[cfg(test)]
    pub(crate) fn level0_lists(&self) -> Vec<Vec<u32>> {
        self.graph.level0_lists(&self.space)
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

    /// Writes the index: a 64-byte header (magic, similarity u32: 0 inner product, 1
    /// cosine; dim, slots, m, ef_construction as u64; zeros), the space's rows and norms
    /// ([`Catalog::write_space`]), the graph's record ([`NativeHnsw::write`]), then one byte
    /// per slot (1: a member of the graph).
    pub(crate) fn write(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut h = Vec::with_capacity(HEADER);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&(self.similarity as u32).to_le_bytes());
        for x in [self.dim, self.space.slots(), self.m, self.ef_construction] {
            h.extend_from_slice(&(x as u64).to_le_bytes());
        }
        h.resize(HEADER, 0);
        w.write_all(&h)?;
        self.space.write_space(w)?;
        self.graph.write(&self.space, w)?;
        let members: Vec<u8> = (0..self.space.slots())
            .map(|s| self.members.get(s).copied().unwrap_or(false) as u8)
            .collect();
        w.write_all(&members)
    }

    /// Reads an index [`VectorIndex::write`] wrote, which must have this similarity and
    /// shape (`dim` components, `slots` rows, graph parameters `m` and `ef_construction`).
    /// Every count, level and link of the graph is checked against the slots; rows read
    /// into memory are checked finite and their level-0 links checked too (from a mapped
    /// source they are views, bounds-checked where a walk follows them). The caller
    /// finishes the reader.
    pub(crate) fn read(
        r: &mut crate::codec::SectionReader<'_>,
        similarity: Similarity,
        (dim, slots): (usize, usize),
        (m, ef_construction): (usize, usize),
    ) -> std::result::Result<Self, String> {
        let h = r.take(HEADER)?;
        let u64_at = |o: usize| u64::from_le_bytes(h[o..o + 8].try_into().expect("8 bytes"));
        let got = (
            &h[..4],
            u32::from_le_bytes(h[4..8].try_into().expect("4 bytes")),
            [u64_at(8), u64_at(16), u64_at(24), u64_at(32)],
        );
        let want = [dim, slots, m, ef_construction].map(|x| x as u64);
        if got != (&MAGIC[..], similarity as u32, want) || h[40..].iter().any(|&b| b != 0) {
            return Err(format!(
                "index shape {:?} (dim, slots, m, ef_construction; similarity {}), expected \
                 {want:?} (similarity {})",
                got.2, got.1, similarity as u32
            ));
        }
        let metric = match similarity {
            Similarity::InnerProduct => Metric::Dot,
            Similarity::Cosine => Metric::Cosine,
        };
        let space = Catalog::read_space((dim, metric, links_per_row(m)), slots, r)?;
        let graph = NativeHnsw::read(r, m, ef_construction, REBUILD_FRACTION, slots)?
            .attach(&space, None)?;
        let graph = match similarity {
            Similarity::InnerProduct => graph.with_plain_selection(),
            Similarity::Cosine => graph,
        };
        let members = r
            .take(slots)?
            .iter()
            .enumerate()
            .map(|(s, &b)| match b {
                0 | 1 => Ok(b == 1),
                _ => Err(format!("slot {s}: member flag {b}")),
            })
            .collect::<std::result::Result<Vec<bool>, String>>()?;
        Ok(VectorIndex {
            similarity,
            dim,
            space,
            graph,
            members,
            m,
            ef_construction,
        })
    }

    /// Whether the rows are views of a mapped file.
    pub(crate) fn is_mapped(&self) -> bool {
        self.space.is_mapped()
    }

    /// Whether slot `s` is a node of the graph (the others are never returned).
    pub(crate) fn is_member(&self, s: u32) -> bool {
        self.members.get(s as usize).copied().unwrap_or(false)
    }

    /// The stored row of slot `s` (`dim` components).
    pub(crate) fn row(&self, s: u32) -> std::borrow::Cow<'_, [f32]> {
        self.space.vector(s)
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
