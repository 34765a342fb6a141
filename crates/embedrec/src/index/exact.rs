//! Exact (brute-force) search, parallel over chunks of slots with a bounded heap per chunk.

use super::{AnnIndex, sort_hits};
use crate::Result;
use crate::store::Catalog;
use rayon::prelude::*;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Brute-force index: it keeps no structure of its own and scans the catalog.
#[derive(Debug, Default)]
pub(crate) struct ExactIndex;

impl AnnIndex for ExactIndex {
    fn name(&self) -> &'static str {
        "exact"
    }
    fn upsert(&mut self, _cat: &Catalog, _slots: &[u32]) -> Result<()> {
        Ok(())
    }
    fn remove(&mut self, _slots: &[u32]) {}
    fn search(
        &self,
        cat: &Catalog,
        query: &[f32],
        k: usize,
        _ef: usize,
        accept: Option<&(dyn Fn(u32) -> bool + Sync)>,
    ) -> Vec<(u32, f32)> {
        let live = |s: u32| cat.has_vector(s);
        exact_top_k(cat, query, k, accept.unwrap_or(&live), None)
    }
    fn rebuild(&mut self, _cat: &Catalog) -> Result<()> {
        Ok(())
    }
    fn memory_bytes(&self) -> usize {
        0
    }
}

#[derive(Clone, Copy)]
struct MinHit(f32, u32);
impl PartialEq for MinHit {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for MinHit {}
impl PartialOrd for MinHit {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for MinHit {
    // Reversed so that BinaryHeap (a max-heap) keeps the *worst* hit on top; ties: larger slot is worse.
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.total_cmp(&self.0).then(self.1.cmp(&o.1))
    }
}

/// The best `k` `(slot, score)` pairs seen so far, in a bounded heap whose top is the worst
/// kept (ties: the larger slot is worse).
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<MinHit>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Whether `(slot, score)` would be kept now.
    #[inline]
    pub(crate) fn would_keep(&self, slot: u32, score: f32) -> bool {
        self.k > 0
            && (self.heap.len() < self.k
                || self
                    .heap
                    .peek()
                    .is_some_and(|top| MinHit(score, slot) < *top))
    }

    /// Offers `(slot, score)`; kept when it is among the best `k` so far.
    #[inline]
    pub(crate) fn offer(&mut self, slot: u32, score: f32) {
        if self.would_keep(slot, score) {
            if self.heap.len() == self.k {
                self.heap.pop();
            }
            self.heap.push(MinHit(score, slot));
        }
    }

    /// The kept pairs, in no particular order.
    pub(crate) fn into_vec(self) -> Vec<(u32, f32)> {
        self.heap.into_iter().map(|h| (h.1, h.0)).collect()
    }

    /// The kept pairs, best first.
    pub(crate) fn into_sorted(self) -> Vec<(u32, f32)> {
        let mut v = self.into_vec();
        sort_hits(&mut v);
        v
    }
}

/// Which of a slot's two checks a scan makes first.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ScanOrder {
    /// The filter, then the score (scores that cost more than the filter: long vectors).
    FilterFirst,
    /// The score, then the filter only for a score that would enter the top k (cheap scores
    /// such as model factors, where the filter's checks would dominate).
    ScoreFirst,
}

fn scan(
    score: &(dyn Fn(u32) -> f32 + Sync),
    k: usize,
    accept: &(dyn Fn(u32) -> bool + Sync),
    slots: impl Iterator<Item = u32>,
    order: ScanOrder,
) -> Vec<(u32, f32)> {
    let mut top = TopK::new(k);
    for s in slots {
        if order == ScanOrder::FilterFirst && !accept(s) {
            continue;
        }
        let sc = score(s);
        if sc == f32::NEG_INFINITY {
            // A slot the scorer has no view of (e.g. no model factors).
            continue;
        }
        if order == ScanOrder::ScoreFirst && (!top.would_keep(s, sc) || !accept(s)) {
            continue;
        }
        top.offer(s, sc);
    }
    top.into_vec()
}

/// Exact top-k by the metric over `subset` (or all slots), best first.
pub(crate) fn exact_top_k(
    cat: &Catalog,
    query: &[f32],
    k: usize,
    accept: &(dyn Fn(u32) -> bool + Sync),
    subset: Option<&[u32]>,
) -> Vec<(u32, f32)> {
    top_k_by(
        cat.slots(),
        &cat.scorer(query),
        k,
        accept,
        subset,
        ScanOrder::FilterFirst,
    )
}

/// The `k` best of `(slot, score)` pairs among slots `accept` takes, best first (a bounded
/// heap: no full sort of the candidates).
pub(crate) fn top_k_pairs(
    pairs: Vec<(u32, f32)>,
    k: usize,
    accept: &(dyn Fn(u32) -> bool + Sync),
) -> Vec<(u32, f32)> {
    let mut top = TopK::new(k);
    for (s, sc) in pairs {
        if sc.is_nan() || sc == f32::NEG_INFINITY || !top.would_keep(s, sc) || !accept(s) {
            continue;
        }
        top.offer(s, sc);
    }
    top.into_sorted()
}

/// Scans of more slots than this are split into chunks scored in parallel.
pub(crate) const PARALLEL_SCAN: usize = 16_384;

/// Top-k by any per-slot score over `subset` (or slots `0..n_slots`), best first; slots
/// scored `-inf` are skipped. A scan of
/// more than [`PARALLEL_SCAN`] slots runs its chunks in parallel when the caller runs inside a
/// rayon pool (the engine's), and in the calling thread otherwise: never on the global pool.
pub(crate) fn top_k_by(
    n_slots: usize,
    score: &(dyn Fn(u32) -> f32 + Sync),
    k: usize,
    accept: &(dyn Fn(u32) -> bool + Sync),
    subset: Option<&[u32]>,
    order: ScanOrder,
) -> Vec<(u32, f32)> {
    if k == 0 {
        return Vec::new();
    }
    const CHUNK: usize = PARALLEL_SCAN;
    let n = subset.map_or(n_slots, |s| s.len());
    let mut hits = if n <= CHUNK || rayon::current_thread_index().is_none() {
        match subset {
            Some(s) => scan(score, k, accept, s.iter().copied(), order),
            None => scan(score, k, accept, 0..n_slots as u32, order),
        }
    } else {
        let parts: Vec<Vec<(u32, f32)>> = (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let lo = c * CHUNK;
                let hi = (lo + CHUNK).min(n);
                match subset {
                    Some(s) => scan(score, k, accept, s[lo..hi].iter().copied(), order),
                    None => scan(score, k, accept, lo as u32..hi as u32, order),
                }
            })
            .collect();
        parts.into_iter().flatten().collect()
    };
    sort_hits(&mut hits);
    hits.truncate(k);
    hits
}
