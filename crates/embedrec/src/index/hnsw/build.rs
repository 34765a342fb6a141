//! Building the graph: levels, neighbour selection by the paper's heuristic, linking in
//! both directions under striped locks, parallel batch insertion, tombstone unlinking.

use super::walk::Probe;
use super::{Cand, NONE, NativeHnsw, PARALLEL_MIN};
use crate::store::Catalog;
use crate::util::prefetch::CacheLevel;
use rayon::prelude::*;
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrd};

impl NativeHnsw {
    /// The paper's heuristic: keep a candidate (best first) only if it is closer to the base
    /// node than to every neighbour kept so far. A graph built for plain selection keeps the
    /// best `m` instead.
    pub(super) fn select(&self, cat: &Catalog, candidates: &[Cand], m: usize) -> Vec<u32> {
        if self.plain_selection {
            return candidates.iter().take(m).map(|c| c.slot).collect();
        }
        let mut kept: Vec<u32> = Vec::with_capacity(m);
        for c in candidates {
            if kept.len() >= m {
                break;
            }
            let good = kept.iter().all(|&k| cat.pair_score(c.slot, k) < c.score);
            if good {
                kept.push(c.slot);
            }
        }
        kept
    }

    /// Adds `x` to `links`, the list of node `n` (unless present); when that makes more than
    /// `max`, keeps the heuristic's choice among them.
    pub(super) fn add_link(&self, cat: &Catalog, n: u32, links: &mut Vec<u32>, x: u32, max: usize) {
        if links.contains(&x) {
            return;
        }
        links.push(x);
        if links.len() > max {
            let mut cands: Vec<Cand> = links
                .iter()
                .map(|&y| Cand {
                    score: cat.pair_score(n, y),
                    slot: y,
                })
                .collect();
            cands.sort_unstable_by(|a, b| b.cmp(a));
            *links = self.select(cat, &cands, max);
        }
    }

    /// Takes a slot out of the graph before it is re-inserted (its item was replaced or the
    /// slot recycled). Sequential.
    pub(super) fn unlink(&mut self, cat: &Catalog, slot: u32) {
        let s = slot as usize;
        if self.is_dead(slot) {
            // A recycled slot stops being a tombstone.
            self.set_dead(slot, false);
            self.tombstones -= 1;
        }
        if self.levels[s] >= 0 {
            self.nodes -= 1;
        }
        if self.upper_at.remove(&slot).is_some() {
            self.upper_garbage += self.levels[s] as usize * self.m;
        }
        self.levels[s] = -1;
        self.set_links(cat, slot, 0, &[]);
    }

    /// Draws a level for an unlinked slot and allocates its upper lists. Sequential.
    pub(super) fn assign_level(&mut self, slot: u32) {
        let level = self.random_level();
        self.levels[slot as usize] = level as i8;
        self.nodes += 1;
        self.alloc_upper(slot, level);
    }

    /// Gives a slot (whose level is set) zeroed upper-level lists at the end of the pool.
    pub(super) fn alloc_upper(&mut self, slot: u32, level: usize) {
        if level == 0 {
            return;
        }
        if self.upper_garbage > 4096 && self.upper_garbage * 2 > self.upper_pool.len() {
            self.compact_upper();
        }
        self.upper_at.insert(slot, self.upper_pool.len() as u32);
        self.upper_pool
            .resize_with(self.upper_pool.len() + level * self.m, || AtomicU32::new(0));
    }

    /// Rewrites the upper-level pool without the lists of unlinked nodes.
    pub(super) fn compact_upper(&mut self) {
        let w = self.m;
        let mut pool = Vec::with_capacity(self.upper_pool.len() - self.upper_garbage);
        for (&s, at) in self.upper_at.iter_mut() {
            let (start, len) = (*at as usize, self.levels[s as usize].max(0) as usize * w);
            *at = pool.len() as u32;
            pool.extend(
                self.upper_pool[start..start + len]
                    .iter()
                    .map(|x| AtomicU32::new(x.load(AtomicOrd::Relaxed))),
            );
        }
        self.upper_pool = pool;
        self.upper_garbage = 0;
    }

    /// Links one prepared slot into the graph. Safe to call from many threads at once.
    pub(super) fn insert(&self, cat: &Catalog, slot: u32) {
        let level = self.levels[slot as usize] as usize;
        // A node that may become the new top holds the entry lock for its whole insertion
        // (rare: about one node in m^level).
        let mut top_guard = if level > self.max_level.load(AtomicOrd::Acquire) {
            Some(self.entry_lock.lock())
        } else {
            None
        };
        let entry = self.entry.load(AtomicOrd::Acquire);
        let max_level = self.max_level.load(AtomicOrd::Acquire);
        if entry == NONE {
            let _g = top_guard.get_or_insert_with(|| self.entry_lock.lock());
            if self.entry.load(AtomicOrd::Acquire) == NONE {
                self.max_level.store(level, AtomicOrd::Release);
                self.entry.store(slot, AtomicOrd::Release);
                return;
            }
            drop(top_guard.take());
            return self.insert(cat, slot);
        }
        let q = cat.index_vector_ref(slot);
        let probe = Probe::new(|s, to| cat.prefetch(s, to), cat.row_bytes(), cat.scorer(&q));
        let mut cur = Cand {
            score: (probe.score)(entry),
            slot: entry,
        };
        for l in (level + 1..=max_level).rev() {
            cur = self.greedy(cat, &probe, cur, l);
        }
        // Own lists first, every level top-down; the reverse links that make this node
        // reachable only after all of them are written. A search that reached it at level
        // `l + 1` before its level-`l` list was written would start its level-`l` search
        // from a node with no links there, find nothing else, and link its own node to this
        // one alone (parallel builds showed such nodes as ones a narrow search misses).
        let mut chosen_at: Vec<Vec<u32>> = Vec::with_capacity(level.min(max_level) + 1);
        for l in (0..=level.min(max_level)).rev() {
            let levels = &self.levels;
            // Stale links (to recycled slots re-inserted lower) can reach nodes without level l.
            let found = self.search_level(cat, &probe, cur, self.ef_construction, l, |n| {
                n != slot && levels[n as usize] >= l as i8
            });
            let max = self.capacity(l);
            let chosen = self.select(cat, &found, self.m);
            {
                // A stale link (held for the slot's previous node) can still lead a
                // concurrent insert here to add itself to these lists: merge such links
                // instead of overwriting them (an overwritten link is a lost in-link).
                let _g = self.lock(slot);
                let mut own = chosen.clone();
                for x in self.links(cat, slot, l) {
                    self.add_link(cat, slot, &mut own, x, max);
                }
                self.set_links(cat, slot, l, &own);
            }
            chosen_at.push(chosen);
            if let Some(best) = found.first() {
                cur = *best;
            }
        }
        for (l, chosen) in (0..=level.min(max_level)).rev().zip(&chosen_at) {
            let max = self.capacity(l);
            for &n in chosen {
                // Reverse link, pruned with the same heuristic when full.
                let _g = self.lock(n);
                let mut nl: Vec<u32> = self.links(cat, n, l).collect();
                self.add_link(cat, n, &mut nl, slot, max);
                self.set_links(cat, n, l, &nl);
            }
        }
        if top_guard.is_some() && level > self.max_level.load(AtomicOrd::Acquire) {
            self.max_level.store(level, AtomicOrd::Release);
            self.entry.store(slot, AtomicOrd::Release);
        }
    }

    /// Greedy descent through the upper levels, then the level-0 search for `ef` nodes
    /// accepted by `accept` (`None`: every node not tombstoned), scored through `probe`.
    pub(super) fn walk(
        &self,
        cat: &Catalog,
        probe: &Probe<impl Fn(u32, CacheLevel), impl Fn(u32) -> f32>,
        ef: usize,
        accept: Option<&(dyn Fn(u32) -> bool + Sync)>,
    ) -> Vec<Cand> {
        let entry = self.entry.load(AtomicOrd::Acquire);
        let mut cur = Cand {
            score: (probe.score)(entry),
            slot: entry,
        };
        for l in (1..=self.max_level.load(AtomicOrd::Acquire)).rev() {
            cur = self.greedy(cat, probe, cur, l);
        }
        match accept {
            Some(accept) => self.search_level(cat, probe, cur, ef, 0, accept),
            // Without tombstones every node is a result (no per-node flag to load).
            None if self.tombstones == 0 => self.search_level(cat, probe, cur, ef, 0, |_| true),
            None => self.search_level(cat, probe, cur, ef, 0, |n| !self.is_dead(n)),
        }
    }

    /// Prepares then inserts slots: in parallel on the current rayon pool for large batches
    /// (each insertion sees the graph as other threads leave it, as in hnswlib), sequentially
    /// for small ones.
    pub(super) fn insert_all(&mut self, cat: &Catalog, slots: &[u32]) {
        let slots = self.prepare_insert(cat, slots);
        self.link_prepared(cat, &slots);
    }

    /// The part of an insertion that needs `&mut self`: the slots unlinked, given levels and
    /// upper lists (and codes); returns them sorted and deduplicated, for
    /// [`NativeHnsw::link_prepared`].
    pub(super) fn prepare_insert(&mut self, cat: &Catalog, slots: &[u32]) -> Vec<u32> {
        self.grow(cat.slots());
        if let Some(codes) = &mut self.codes {
            codes.grow(cat.slots());
        }
        let mut slots = slots.to_vec();
        slots.sort_unstable();
        slots.dedup();
        for &s in &slots {
            self.unlink(cat, s);
        }
        let entry = *self.entry.get_mut();
        if entry != NONE && self.levels[entry as usize] < 0 {
            // The entry point was unlinked: the new one is a node of the highest level left.
            let best = (0..self.levels.len())
                .max_by_key(|&x| self.levels[x])
                .filter(|&x| self.levels[x] >= 0);
            *self.entry.get_mut() = best.map_or(NONE, |x| x as u32);
            *self.max_level.get_mut() = best.map_or(0, |x| self.levels[x] as usize);
        }
        for &s in &slots {
            self.assign_level(s);
        }
        if let Some(codes) = &mut self.codes {
            codes.encode(cat, &slots);
        }
        slots
    }

    /// Links prepared slots ([`NativeHnsw::insert_batch`]), then, once the nodes inserted
    /// since the last check (in this batch or in earlier, smaller ones) reach
    /// `1 / ORPHAN_CHECK_FRACTION` of the graph, any node left without in-links
    /// ([`NativeHnsw::link_orphans`]). Only `&self`: searches may run meanwhile (links are
    /// atomics; a node being linked is reachable once a neighbour lists it).
    pub(super) fn link_prepared(&self, cat: &Catalog, slots: &[u32]) {
        self.insert_batch(cat, slots);
        let unchecked = self.unchecked.fetch_add(slots.len(), AtomicOrd::Relaxed) + slots.len();
        if unchecked * ORPHAN_CHECK_FRACTION >= self.nodes {
            self.unchecked.store(0, AtomicOrd::Relaxed);
            self.link_orphans(cat);
        }
    }

    /// Inserts prepared slots, in parallel for large batches.
    pub(super) fn insert_batch(&self, cat: &Catalog, slots: &[u32]) {
        let this = self;
        if slots.len() >= PARALLEL_MIN && rayon::current_num_threads() > 1 {
            // A sequential start gives the first threads a graph to descend.
            let (head, rest) = slots.split_at(PARALLEL_MIN / 4);
            head.iter().for_each(|&s| this.insert(cat, s));
            rest.par_iter()
                .with_min_len(16)
                .for_each(|&s| this.insert(cat, s));
        } else {
            slots.iter().for_each(|&s| this.insert(cat, s));
        }
    }

    /// Gives every level-0 node that no other node links to (pruned out of each list that
    /// held it, which a search then never reaches at level 0) a link from its nearest
    /// neighbour, the first of its own list: appended when that list has room, else in
    /// place of the link it scores lowest (which can leave that node without in-links in
    /// turn: rarer still, left as it is). Only `&self`, under the lists' locks.
    pub(super) fn link_orphans(&self, cat: &Catalog) {
        let n = self.levels.len();
        let mut linked = vec![false; n];
        for s in 0..n as u32 {
            if self.levels[s as usize] >= 0 {
                self.links(cat, s, 0)
                    .for_each(|x| linked[x as usize] = true);
            }
        }
        let orphans =
            (0..n as u32).filter(|&s| self.levels[s as usize] >= 0 && !linked[s as usize]);
        for s in orphans {
            let Some(best) = self.links(cat, s, 0).next() else {
                continue;
            };
            let _g = self.lock(best);
            let mut list: Vec<u32> = self.links(cat, best, 0).collect();
            if list.contains(&s) {
                continue;
            }
            if list.len() >= self.m0 {
                let scores = list.iter().map(|&x| cat.pair_score(best, x));
                let weakest = scores.enumerate().min_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((i, _)) = weakest {
                    list.swap_remove(i);
                }
            }
            list.push(s);
            self.set_links(cat, best, 0, &list);
        }
    }
}

/// Once the nodes inserted since the last check reach `1 / ORPHAN_CHECK_FRACTION` of the
/// graph's (at the end of a build, a rebuild, a large load, or of the small upserts that add
/// up to as many), [`NativeHnsw::link_orphans`] runs: its one pass over every list then
/// costs little next to those inserts' searches (one per inserted node), and a node that
/// pruning cut off is found again before the graph has grown by another eighth.
pub(super) const ORPHAN_CHECK_FRACTION: usize = 8;
