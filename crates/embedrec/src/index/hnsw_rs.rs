//! HNSW on the `hnsw_rs` crate, wrapped so that nothing unsafe reaches it.
//!
//! What the wrapper guards against (all checked by the engine or here, before hnsw_rs runs):
//! - `m > 256` makes `Hnsw::new` call `process::exit`: [`EngineConfig::validate`](crate::EngineConfig::validate) caps it.
//! - NaN components panic inside its neighbour selection; wrong dimensions are silently
//!   accepted; a zero vector under cosine is "identical to everything": the catalog rejects all three.
//! - Negative distances trip its assertions: the inner-product distance is mapped to a
//!   positive, monotone function (see [`crate::distance`]).
//! - A repeated id creates a second point and there is no delete: every insertion gets a
//!   fresh point id; replaced and removed points become tombstones that the search filter
//!   skips, and the graph is rebuilt when tombstones exceed a configured fraction.
//! - Its file loader is never used: the engine persists vectors and rebuilds the graph.

use super::{AnnIndex, sort_hits};
use crate::distance::{HnswCosine, HnswDot, HnswL2};
use crate::store::Catalog;
use crate::{Metric, Result};
use hnsw_rs::prelude::Hnsw;

/// Maximum number of layers (hnsw_rs's own maximum; its dump format requires exactly 16).
const MAX_LAYERS: usize = 16;
const NONE: u32 = u32::MAX;

enum Graph {
    Cosine(Hnsw<'static, f32, HnswCosine>),
    Dot(Hnsw<'static, f32, HnswDot>),
    L2(Hnsw<'static, f32, HnswL2>),
}

macro_rules! with_graph {
    ($g:expr, $h:ident => $body:expr) => {
        match $g {
            Graph::Cosine($h) => $body,
            Graph::Dot($h) => $body,
            Graph::L2($h) => $body,
        }
    };
}

/// The hnsw_rs-backed index.
pub(crate) struct HnswIndex {
    metric: Metric,
    m: usize,
    ef_construction: usize,
    rebuild_fraction: f64,
    graph: Graph,
    /// point id -> slot (NONE for tombstones).
    point_slot: Vec<u32>,
    /// slot -> current point id (NONE when the slot has no point).
    slot_point: Vec<u32>,
    tombstones: usize,
    dim: usize,
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("metric", &self.metric)
            .field("m", &self.m)
            .field("ef_construction", &self.ef_construction)
            .field("points", &self.point_slot.len())
            .field("tombstones", &self.tombstones)
            .finish()
    }
}

fn new_graph(metric: Metric, m: usize, capacity: usize, ef_construction: usize) -> Graph {
    // m and ef_construction were validated by EngineConfig::validate (m <= 256).
    let cap = capacity.max(1024);
    match metric {
        Metric::Cosine => Graph::Cosine(Hnsw::new(m, cap, MAX_LAYERS, ef_construction, HnswCosine)),
        Metric::Dot => Graph::Dot(Hnsw::new(m, cap, MAX_LAYERS, ef_construction, HnswDot)),
        Metric::L2 => Graph::L2(Hnsw::new(m, cap, MAX_LAYERS, ef_construction, HnswL2)),
    }
}

impl HnswIndex {
    pub(crate) fn new(
        metric: Metric,
        dim: usize,
        m: usize,
        ef_construction: usize,
        rebuild_fraction: f64,
    ) -> Self {
        HnswIndex {
            metric,
            m,
            ef_construction,
            rebuild_fraction,
            graph: new_graph(metric, m, 0, ef_construction),
            point_slot: Vec::new(),
            slot_point: Vec::new(),
            tombstones: 0,
            dim,
        }
    }

    fn insert_points(&mut self, cat: &Catalog, slots: &[u32]) {
        let data: Vec<(Vec<f32>, usize)> = slots
            .iter()
            .map(|&s| {
                let p = self.point_slot.len();
                self.point_slot.push(s);
                if self.slot_point.len() <= s as usize {
                    self.slot_point.resize(s as usize + 1, NONE);
                }
                self.slot_point[s as usize] = p as u32;
                (cat.index_vector(s), p)
            })
            .collect();
        let refs: Vec<(&Vec<f32>, usize)> = data.iter().map(|(v, p)| (v, *p)).collect();
        with_graph!(&self.graph, g => {
            if refs.len() >= 64 {
                // Runs on the caller's rayon pool (the engine's own), never the global one.
                g.parallel_insert(&refs);
            } else {
                for (v, p) in &refs {
                    g.insert((v.as_slice(), *p));
                }
            }
        });
    }

    fn tombstone(&mut self, slot: u32) {
        if let Some(p) = self.slot_point.get_mut(slot as usize)
            && *p != NONE
        {
            self.point_slot[*p as usize] = NONE;
            *p = NONE;
            self.tombstones += 1;
        }
    }
}

impl AnnIndex for HnswIndex {
    fn name(&self) -> &'static str {
        "hnsw"
    }

    fn upsert(&mut self, cat: &Catalog, slots: &[u32]) -> Result<()> {
        for &s in slots {
            self.tombstone(s);
        }
        self.insert_points(cat, slots);
        Ok(())
    }

    fn remove(&mut self, slots: &[u32]) {
        for &s in slots {
            self.tombstone(s);
        }
    }

    fn search(
        &self,
        cat: &Catalog,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: Option<&(dyn Fn(u32) -> bool + Sync)>,
    ) -> Vec<(u32, f32)> {
        let live = |s: u32| cat.is_live(s);
        let accept = accept.unwrap_or(&live);
        if k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        // hnsw_rs's filtered search never terminates early (it drains the whole candidate
        // heap, several times slower; docs/benchmarks.md), so
        // the graph is searched unfiltered for `ef` candidates, scaled up for tombstones, and
        // filtered here. The engine sizes `ef` for its filter and falls back to the exact
        // path when fewer than `k` candidates pass.
        let live = self.point_slot.len() - self.tombstones;
        if live == 0 {
            return Vec::new();
        }
        let scale = self.point_slot.len() as f64 / live as f64;
        let fetch = ((ef.max(k) as f64) * scale).ceil() as usize;
        let point_slot = &self.point_slot;
        let score = cat.scorer(query);
        let found = with_graph!(&self.graph, g => g.search(query, fetch, fetch));
        let mut hits: Vec<(u32, f32)> = found
            .into_iter()
            .filter_map(|n| {
                let s = *point_slot.get(n.d_id)?;
                (s != NONE && accept(s)).then(|| (s, score(s)))
            })
            .collect();
        sort_hits(&mut hits);
        hits.truncate(k);
        hits
    }

    fn wants_rebuild(&self) -> bool {
        let total = self.point_slot.len();
        total >= 1_000 && self.tombstones as f64 > self.rebuild_fraction * total as f64
    }

    fn rebuild(&mut self, cat: &Catalog) -> Result<()> {
        self.graph = new_graph(self.metric, self.m, cat.len(), self.ef_construction);
        self.point_slot = Vec::with_capacity(cat.len());
        self.slot_point = vec![NONE; cat.slots()];
        self.tombstones = 0;
        let slots: Vec<u32> = cat.vector_slots().collect();
        self.insert_points(cat, &slots);
        Ok(())
    }

    fn memory_bytes(&self) -> usize {
        // Approximation of hnsw_rs's layout: a copy of each vector, an Arc'd point, and on
        // average ~1.5 * m neighbour entries (Arc + distance) per point on layer 0.
        let per_point = self.dim * 4 + 96 + (3 * self.m / 2) * 24;
        self.point_slot.len() * (per_point + 4) + self.slot_point.len() * 4
    }
}
