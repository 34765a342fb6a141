//! Walking the graph: the greedy descent through the upper levels and the beam search of
//! one level, with the loads they overlap (visited tags, link lists, vectors a few ahead).

use super::{Cand, NativeHnsw, Worst, decode_link};
use crate::store::Catalog;
use crate::util::prefetch::CacheLevel;
use std::cell::RefCell;
use std::collections::BinaryHeap;

/// Cache lines of vector data requested into L1 ahead of the one being scored.
pub(super) const AHEAD_LINES: usize = 32;

/// Cache lines of vector data requested into L2 ahead of the one being scored.
pub(super) const FAR_LINES: usize = 128;

/// Most vectors requested into L2 ahead (a level-0 list holds `2·m` nodes).
pub(super) const FAR_MAX: usize = 32;

/// Rows of at most this many cache lines are requested into L2 for every neighbour of an
/// expanded node as soon as its list is read, before the visited marks say which ones will
/// be scored (a full level-0 list then asks for at most 256 lines).
pub(super) const EARLY_MAX_LINES: usize = 8;

/// How many vectors of `bytes` each to request into L1 ahead of the one being scored, so
/// that about [`AHEAD_LINES`] lines are in flight: enough to overlap the memory latency,
/// few enough that a prefetch never waits for a free L1 miss buffer while data already there
/// goes unscored (requesting every unvisited neighbour at once stalled on exactly that; the
/// depths were measured, see docs/benchmarks.md, "Prefetch depths").
pub(super) fn lookahead(bytes: usize) -> usize {
    (AHEAD_LINES / bytes.div_ceil(64).max(1)).clamp(1, 16)
}

/// How many vectors of `bytes` each to request into L2 ahead of the one being scored (at
/// least [`lookahead`]'s count: the L2 tier then adds nothing). A core keeps more misses in
/// flight towards L2 than towards L1 (figures in docs/benchmarks.md, "Prefetch depths").
pub(super) fn far_lookahead(bytes: usize) -> usize {
    (FAR_LINES / bytes.div_ceil(64).max(1)).clamp(lookahead(bytes), FAR_MAX)
}

/// How a walk reaches the vectors it scores: `prefetch` requests a node's vector into a
/// cache, `score` scores it (higher is closer); `ahead` says how many to request into L1
/// before they are scored, `far` how many into L2.
pub(super) struct Probe<P, S> {
    prefetch: P,
    ahead: usize,
    far: usize,
    early: bool,
    pub(super) score: S,
}

impl<P: Fn(u32, CacheLevel), S: Fn(u32) -> f32> Probe<P, S> {
    /// A probe over vectors of `bytes` each.
    pub(super) fn new(prefetch: P, bytes: usize, score: S) -> Self {
        Probe {
            prefetch,
            ahead: lookahead(bytes),
            far: far_lookahead(bytes),
            early: bytes.div_ceil(64) <= EARLY_MAX_LINES,
            score,
        }
    }

    /// Requests the vector of `node` into L2 when vectors are small (at most
    /// [`EARLY_MAX_LINES`] each), so that its load overlaps the visited check that decides
    /// whether it is scored; one found visited was scored recently and mostly hits a cache.
    /// Larger rows are requested only once known fresh ([`Probe::scan`]): every
    /// neighbour's 768-d row at once overflowed the miss queues (docs/benchmarks.md,
    /// "Prefetch depths").
    #[inline(always)]
    pub(super) fn prefetch_early(&self, node: u32) {
        if self.early {
            (self.prefetch)(node, CacheLevel::L2);
        }
    }

    /// Scores the nodes `nth(0), nth(1), ...` (up to the first `None`) in order, passing
    /// each with its score to `f`, while the vectors `ahead` of the one being scored are
    /// requested into L1 and those `far` ahead into L2, so that their loads overlap instead
    /// of arriving one node at a time. A node is requested into L2 only when it is at least
    /// `ahead` places from the start (the first ones go straight to L1).
    #[inline(always)]
    pub(super) fn scan(&self, nth: impl Fn(usize) -> Option<u32>, mut f: impl FnMut(u32, f32)) {
        let far = |m| (self.prefetch)(m, CacheLevel::L2);
        (self.ahead..self.far).map_while(&nth).for_each(far);
        (0..self.ahead)
            .map_while(&nth)
            .for_each(|m| (self.prefetch)(m, CacheLevel::L1));
        for (i, n) in (0..).map_while(&nth).enumerate() {
            if self.far > self.ahead
                && let Some(m) = nth(i + self.far)
            {
                far(m);
            }
            if let Some(m) = nth(i + self.ahead) {
                (self.prefetch)(m, CacheLevel::L1);
            }
            f(n, (self.score)(n));
        }
    }
}

/// Per-thread visited marks: a node is visited when its tag equals the current generation,
/// so a new search only bumps the generation. Tags are bytes (one per slot and thread that
/// searches): the array is cleared once every 255 searches, a memset that costs well under
/// 1 % of those searches, for half the memory (and cache footprint) of 16-bit tags.
pub(super) struct VisitedTags {
    tags: Vec<u8>,
    generation: u8,
    scratch: Scratch,
}

/// The buffers of a level search, kept per thread so that a query allocates none of them.
#[derive(Default)]
pub(super) struct Scratch {
    candidates: Vec<Cand>,
    results: Vec<Worst>,
    fresh: Vec<u32>,
}

impl Scratch {
    const fn new() -> Self {
        Scratch {
            candidates: Vec::new(),
            results: Vec::new(),
            fresh: Vec::new(),
        }
    }
}

thread_local! {
    static VISITED: RefCell<VisitedTags> = const {
        RefCell::new(VisitedTags {
            tags: Vec::new(),
            generation: 0,
            scratch: Scratch::new(),
        })
    };
}

/// A fresh visited set for one search (borrowed from the thread's [`VisitedTags`]), with
/// the thread's search buffers.
pub(super) struct Visited<'a> {
    tags: &'a mut [u8],
    generation: u8,
    scratch: &'a mut Scratch,
}

impl Visited<'_> {
    #[inline(always)]
    pub(super) fn prefetch(&self, s: u32) {
        if let Some(t) = self.tags.get(s as usize) {
            crate::util::prefetch::prefetch_ptr(t as *const u8, 1);
        }
    }

    /// Marks the first `most` of `nodes` visited and leaves in `fresh` those that were not,
    /// in order. No branch per node: each is written at the end of `fresh` and kept
    /// only when fresh, so the tag loads (random reads over a byte per node) overlap instead
    /// of each waiting behind the previous node's mispredicted branch (+3–20 % QPS on a
    /// 1M-node graph: docs/benchmarks.md, "Visited marks without a branch").
    #[inline(always)]
    pub(super) fn keep_fresh(
        &mut self,
        nodes: impl Iterator<Item = u32>,
        most: usize,
        fresh: &mut Vec<u32>,
    ) {
        fresh.clear();
        fresh.resize(most, 0);
        let mut count = 0;
        for n in nodes.take(most) {
            let Some(end) = fresh.get_mut(count) else {
                break;
            };
            *end = n;
            count += usize::from(self.first_visit(n));
        }
        fresh.truncate(count);
    }

    /// Marks `s` visited; true when it was not visited before.
    #[inline(always)]
    pub(super) fn first_visit(&mut self, s: u32) -> bool {
        let t = &mut self.tags[s as usize];
        let fresh = *t != self.generation;
        *t = self.generation;
        fresh
    }
}

/// Runs `f` with a cleared visited set for `n` nodes.
pub(super) fn with_visited<R>(n: usize, f: impl FnOnce(&mut Visited<'_>) -> R) -> R {
    VISITED.with(|v| {
        let mut v = v.borrow_mut();
        let v = &mut *v;
        if v.tags.len() < n {
            v.tags.resize(n, 0);
        }
        v.generation = v.generation.wrapping_add(1);
        if v.generation == 0 {
            v.tags.fill(0);
            v.generation = 1;
        }
        f(&mut Visited {
            tags: &mut v.tags,
            generation: v.generation,
            scratch: &mut v.scratch,
        })
    })
}

impl NativeHnsw {
    /// Greedy walk at one level from `start`; returns the closest node found.
    pub(super) fn greedy(
        &self,
        cat: &Catalog,
        probe: &Probe<impl Fn(u32, CacheLevel), impl Fn(u32) -> f32>,
        mut cur: Cand,
        level: usize,
    ) -> Cand {
        loop {
            let mut best = cur;
            let list = self.list(cat, cur.slot, level);
            probe.scan(
                |i| list.get(i).and_then(decode_link),
                |slot, score| {
                    let c = Cand { score, slot };
                    if c > best {
                        // Likely the next node this walk reads the list of.
                        self.prefetch_links(cat, slot, level);
                        best = c;
                    }
                },
            );
            if best.slot == cur.slot {
                return cur;
            }
            cur = best;
        }
    }

    /// Best-first search at one level keeping `ef` results among nodes passing `accept`
    /// (all nodes are traversed). Returns the results, best first.
    pub(super) fn search_level(
        &self,
        cat: &Catalog,
        probe: &Probe<impl Fn(u32, CacheLevel), impl Fn(u32) -> f32>,
        entry: Cand,
        ef: usize,
        level: usize,
        accept: impl Fn(u32) -> bool,
    ) -> Vec<Cand> {
        with_visited(self.levels.len(), |visited| {
            let Scratch {
                mut candidates,
                mut results,
                mut fresh,
            } = std::mem::take(visited.scratch);
            candidates.clear();
            results.clear();
            let mut candidates = BinaryHeap::from(candidates);
            let mut results = BinaryHeap::from(results);
            visited.first_visit(entry.slot);
            candidates.push(entry);
            if accept(entry.slot) {
                results.push(Worst(std::cmp::Reverse(entry)));
            }
            let mut worst = if results.len() >= ef {
                entry.score
            } else {
                f32::NEG_INFINITY
            };
            while let Some(c) = candidates.pop() {
                if results.len() >= ef && c.score < worst {
                    break;
                }
                // The next candidate (unless this one's neighbours displace it) is expanded
                // after this one: its links load meanwhile.
                if let Some(next) = candidates.peek() {
                    self.prefetch_links(cat, next.slot, level);
                }
                // Unvisited neighbours first, then their vectors scored through the probe's
                // lookahead.
                for n in self.links(cat, c.slot, level) {
                    visited.prefetch(n);
                    probe.prefetch_early(n);
                }
                let most = self.list(cat, c.slot, level).len();
                visited.keep_fresh(self.links(cat, c.slot, level), most, &mut fresh);
                // A neighbour better than every candidate waiting and every neighbour scored
                // before it is the next one expanded unless a later one beats it: its list
                // loads while the rest are scored.
                let mut next_best = candidates.peek().map_or(f32::NEG_INFINITY, |n| n.score);
                probe.scan(
                    |i| fresh.get(i).copied(),
                    |n, score| {
                        if score > next_best {
                            self.prefetch_links(cat, n, level);
                            next_best = score;
                        }
                        if results.len() < ef || score > worst {
                            let cand = Cand { score, slot: n };
                            candidates.push(cand);
                            if accept(n) {
                                results.push(Worst(std::cmp::Reverse(cand)));
                                if results.len() > ef {
                                    results.pop();
                                }
                                if results.len() >= ef
                                    && let Some(w) = results.peek()
                                {
                                    worst = w.0.0.score;
                                }
                            }
                        }
                    },
                );
            }
            let mut results = results.into_vec();
            let mut out: Vec<Cand> = results.iter().map(|w| w.0.0).collect();
            out.sort_unstable_by(|a, b| b.cmp(a));
            results.clear();
            *visited.scratch = Scratch {
                candidates: candidates.into_vec(),
                results,
                fresh,
            };
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The probe scores every node once, in order, stopping at the first gap, and requests
    /// each node's vector exactly once, `ahead` nodes before it is scored (all at once when
    /// there are fewer).
    #[test]
    fn probe_scans_in_order_and_requests_each_vector_ahead_of_its_score() {
        for (bytes, ahead, far) in [
            (4 * 128, 4, 16),
            (4 * 64, 8, 32),
            (64, 16, 32),
            (4 * 4096, 1, 1),
        ] {
            for len in [0usize, 1, 3, ahead, ahead + 1, far, far + 1, 40] {
                let nodes: Vec<u32> = (0..len as u32).map(|i| 100 + 7 * i).collect();
                let log = RefCell::new(Vec::new());
                let probe = Probe::new(
                    |s, to| {
                        log.borrow_mut()
                            .push((if to == CacheLevel::L1 { 'p' } else { 'f' }, s))
                    },
                    bytes,
                    |s| {
                        log.borrow_mut().push(('s', s));
                        s as f32 * 0.5
                    },
                );
                assert_eq!((probe.ahead, probe.far), (ahead, far), "{bytes} bytes");
                let mut seen = Vec::new();
                probe.scan(|i| nodes.get(i).copied(), |n, score| seen.push((n, score)));
                let want: Vec<(u32, f32)> = nodes.iter().map(|&n| (n, n as f32 * 0.5)).collect();
                assert_eq!(seen, want);
                let log = log.into_inner();
                let at = |kind: char, n: u32| log.iter().position(|&e| e == (kind, n));
                let scored_before = |kind: char, n: u32| {
                    log[..at(kind, n).unwrap()]
                        .iter()
                        .filter(|e| e.0 == 's')
                        .count()
                };
                for (i, &n) in nodes.iter().enumerate() {
                    let count = |kind| log.iter().filter(|&&e| e == (kind, n)).count();
                    assert_eq!(count('p'), 1, "node {n}: L1 requests");
                    assert_eq!(scored_before('p', n), i.saturating_sub(ahead), "node {n}");
                    assert!(
                        at('p', n) < at('s', n),
                        "node {n} scored before its request"
                    );
                    // The L2 tier covers the nodes past the L1 window, `far` ahead.
                    if i < ahead || far == ahead {
                        assert_eq!(count('f'), 0, "node {n}: L2 requests");
                    } else {
                        assert_eq!(count('f'), 1, "node {n}: L2 requests");
                        assert_eq!(scored_before('f', n), i.saturating_sub(far), "node {n}");
                        assert!(at('f', n) < at('p', n), "node {n}: L2 after L1");
                    }
                }
            }
        }
    }

    /// Small rows are requested into L2 for every node given, large ones not at all (they
    /// are requested by `scan` once known fresh).
    #[test]
    fn small_rows_are_requested_before_the_visited_check() {
        for (bytes, early) in [(4, true), (64 * EARLY_MAX_LINES, true), (4 * 128, true)]
            .into_iter()
            .chain([(64 * EARLY_MAX_LINES + 1, false), (4 * 768, false)])
        {
            let log = RefCell::new(Vec::new());
            let probe = Probe::new(|s, to| log.borrow_mut().push((s, to)), bytes, |_| 0.0);
            [3, 9, 4].into_iter().for_each(|n| probe.prefetch_early(n));
            let want = if early {
                vec![
                    (3, CacheLevel::L2),
                    (9, CacheLevel::L2),
                    (4, CacheLevel::L2),
                ]
            } else {
                vec![]
            };
            assert_eq!(log.into_inner(), want, "{bytes} bytes");
        }
    }

    /// `keep_fresh` keeps, in order, the nodes neither visited before nor repeated, and
    /// marks the first `most` nodes it was given (no others).
    #[test]
    fn keep_fresh_keeps_unvisited_nodes_in_order() {
        with_visited(100, |v| {
            assert!(v.first_visit(7));
            let mut fresh = vec![99; 3];
            v.keep_fresh([3, 7, 5, 3, 9, 0].into_iter(), 6, &mut fresh);
            assert_eq!(fresh, [3, 5, 9, 0]);
            v.keep_fresh([9, 11, 12, 13].into_iter(), 2, &mut fresh);
            assert_eq!(fresh, [11]);
            assert!(!v.first_visit(9) && !v.first_visit(11) && v.first_visit(12));
        });
    }

    /// Every search starts with nothing visited, across the byte-wide generation's wraps:
    /// slot `k % 255`, marked in search `k`, comes back in search `k + 255`, which has the
    /// same generation unless the wrap cleared the tags.
    #[test]
    fn visited_sets_start_empty_across_generation_wraps() {
        for search in 0..1_000u32 {
            with_visited(255, |v| {
                let s = search % 255;
                assert!(
                    v.first_visit(s),
                    "search {search}: slot {s} already visited"
                );
                assert!(!v.first_visit(s), "search {search}: mark of slot {s} lost");
            });
        }
    }
}
