//! embedrec's own HNSW index (Malkov & Yashunin), written for the engine's catalog:
//!
//! - nodes are catalog slots, and distances are the catalog's exact scores, so the graph
//!   stores no second copy of the vectors;
//! - level-0 links live in fixed-size slots (`2·m` per node, padded to whole cache lines
//!   when that costs at most 1/8) at the head of each node's catalog row, right before its
//!   vector (hnswlib's layout: the catalog reserves them, see [`links_per_row`]); upper
//!   levels in one shared pool (a node's lists are contiguous there; the node keeps an
//!   offset);
//! - visited sets are per-thread arrays of generation tags, reset by bumping the generation;
//! - the search is memory-bound, so it overlaps its loads: when a node is expanded, the
//!   visited tags of all its neighbours are prefetched, then the vectors of the unvisited
//!   ones are requested into L1 a few ahead of the one being scored (about 32 cache lines
//!   in flight) and into L2 further ahead (about 128 lines); the link list of the next
//!   candidate to expand loads meanwhile, and in the greedy descent the list of each new
//!   best node as soon as it is found;
//! - neighbours are chosen with the paper's heuristic (keep a candidate only if it is closer
//!   to the new node than to every neighbour already kept);
//! - filters are applied during traversal: rejected nodes are walked through but never
//!   returned; removed items are tombstones (the catalog no longer has them) that stay
//!   navigable, and a recycled slot is re-linked when its new item is inserted.

mod codes;

use super::{AnnIndex, sort_hits};
use crate::Result;
use crate::store::Catalog;
use crate::util::prefetch::CacheLevel;
use codes::Int8Codes;
use parking_lot::Mutex;
use rayon::prelude::*;
use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering as AtomicOrd};

const NONE: u32 = u32::MAX;
const MAX_LEVEL: usize = 16;

/// Cache lines of vector data requested into L1 ahead of the one being scored.
const AHEAD_LINES: usize = 32;

/// Cache lines of vector data requested into L2 ahead of the one being scored.
const FAR_LINES: usize = 128;

/// Most vectors requested into L2 ahead (a level-0 list holds `2·m` nodes).
const FAR_MAX: usize = 32;

/// How many vectors of `bytes` each to request into L1 ahead of the one being scored, so
/// that about [`AHEAD_LINES`] lines are in flight: enough to overlap the memory latency,
/// few enough that a prefetch never waits for a free L1 miss buffer while data already there
/// goes unscored. Requesting every unvisited neighbour at once into L1 stalled on exactly
/// that (ip-200k, ef 16, same process, alternating passes: 18.3-18.5k QPS against
/// 19.6-20.0k with 32 lines; 16, 64 and 128 lines measured slower than 32 again on a
/// Zen 4 VM).
fn lookahead(bytes: usize) -> usize {
    (AHEAD_LINES / bytes.div_ceil(64).max(1)).clamp(1, 16)
}

/// How many vectors of `bytes` each to request into L2 ahead of the one being scored (at
/// least [`lookahead`]'s count: the L2 tier then adds nothing). On top of the L1 tier,
/// requesting 16 vectors of 128 floats into L2 measured +16-21 % QPS on ip-200k and +5-9 %
/// on ip-1m (64 floats: 16 and 32 ahead the same), 2-core Zen 4 VM, alternating processes.
fn far_lookahead(bytes: usize) -> usize {
    (FAR_LINES / bytes.div_ceil(64).max(1)).clamp(lookahead(bytes), FAR_MAX)
}

/// How a walk reaches the vectors it scores: `prefetch` requests a node's vector into a
/// cache, `score` scores it (higher is closer); `ahead` says how many to request into L1
/// before they are scored, `far` how many into L2.
struct Probe<P, S> {
    prefetch: P,
    ahead: usize,
    far: usize,
    score: S,
}

impl<P: Fn(u32, CacheLevel), S: Fn(u32) -> f32> Probe<P, S> {
    /// A probe over vectors of `bytes` each.
    fn new(prefetch: P, bytes: usize, score: S) -> Self {
        Probe {
            prefetch,
            ahead: lookahead(bytes),
            far: far_lookahead(bytes),
            score,
        }
    }

    /// Scores the nodes `nth(0), nth(1), ...` (up to the first `None`) in order, passing
    /// each with its score to `f`, while the vectors `ahead` of the one being scored are
    /// requested into L1 and those `far` ahead into L2, so that their loads overlap instead
    /// of arriving one node at a time. A node is requested into L2 only when it is at least
    /// `ahead` places from the start (the first ones go straight to L1).
    #[inline(always)]
    fn scan(&self, nth: impl Fn(usize) -> Option<u32>, mut f: impl FnMut(u32, f32)) {
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

/// The node a link-list entry holds (`slot + 1`), or `None` at the 0 that ends the list.
#[inline(always)]
fn decode_link(x: &AtomicU32) -> Option<u32> {
    x.load(AtomicOrd::Relaxed).checked_sub(1)
}

/// Candidate ordered by score (higher is closer).
#[derive(Clone, Copy, PartialEq)]
struct Cand {
    score: f32,
    slot: u32,
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.score.total_cmp(&o.score).then(o.slot.cmp(&self.slot))
    }
}
/// Reversed order: a max-heap of these pops the *worst* candidate first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Worst(std::cmp::Reverse<Cand>);

/// Per-thread visited marks: a node is visited when its tag equals the current generation,
/// so a new search only bumps the generation. Tags are bytes (one per slot and thread that
/// searches): the array is cleared once every 255 searches, a memset that costs well under
/// 1 % of those searches, for half the memory (and cache footprint) of 16-bit tags.
struct VisitedTags {
    tags: Vec<u8>,
    generation: u8,
    scratch: Scratch,
}

/// The buffers of a level search, kept per thread so that a query allocates none of them.
#[derive(Default)]
struct Scratch {
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
struct Visited<'a> {
    tags: &'a mut [u8],
    generation: u8,
    scratch: &'a mut Scratch,
}

impl Visited<'_> {
    #[inline(always)]
    fn prefetch(&self, s: u32) {
        if let Some(t) = self.tags.get(s as usize) {
            crate::util::prefetch::prefetch_ptr(t as *const u8, 1);
        }
    }

    /// Marks `s` visited; true when it was not visited before.
    #[inline(always)]
    fn first_visit(&mut self, s: u32) -> bool {
        let t = &mut self.tags[s as usize];
        let fresh = *t != self.generation;
        *t = self.generation;
        fresh
    }
}

/// Runs `f` with a cleared visited set for `n` nodes.
fn with_visited<R>(n: usize, f: impl FnOnce(&mut Visited<'_>) -> R) -> R {
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

/// Hashes a slot number with one multiply. The upper-level map's keys are the engine's own
/// dense slot numbers, never host input, so a keyed hash buys nothing; SipHash costs a
/// greedy descent step more than the table probe itself.
#[derive(Default, Clone, Copy)]
struct SlotHasher(u64);

impl std::hash::Hasher for SlotHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.write_u32(b as u32));
    }
    #[inline]
    fn write_u32(&mut self, x: u32) {
        // Fibonacci hashing; the fold gives the low bits (the table's bucket index) the
        // product's well-mixed high bits.
        let h = (self.0 ^ x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}

/// Link entries a catalog row reserves for the native graph of parameter `m`: its level-0
/// list of `2·m` links, padded to whole cache lines when that costs at most 1/8.
pub(crate) fn links_per_row(m: usize) -> usize {
    let lines = (2 * m).div_ceil(16) * 16;
    if (lines - 2 * m) * 8 <= 2 * m {
        lines
    } else {
        2 * m
    }
}

/// The native HNSW graph.
///
/// Link lists are fixed-capacity arrays of atomics holding `slot + 1`, ended by a 0 when not
/// full (so zeroed memory is an empty list and a level-0 list of `m0 = 32` links is exactly
/// two aligned cache lines), so that many threads can insert
/// at once: each writer holds the per-node lock of the list it rewrites, readers never lock
/// (a reader racing a writer sees an older or newer list, and every id it can see is a valid
/// slot, because lists only ever hold slots the catalog has vectors for).
#[derive(Debug)]
pub(crate) struct NativeHnsw {
    m: usize,
    m0: usize,
    ef_construction: usize,
    level_mult: f64,
    /// Per slot with an upper level (about one in `m`): offset in `upper_pool` of its
    /// `level * m` entries for levels 1..=level. A map, not a column, since only the greedy
    /// descent reads it and a column would cost 4 bytes for every node.
    upper_at: HashMap<u32, u32, BuildHasherDefault<SlotHasher>>,
    upper_pool: Vec<AtomicU32>,
    /// Pool entries of unlinked nodes (reclaimed by `compact_upper`).
    upper_garbage: usize,
    /// Per slot: top level, or -1 when the slot has no node.
    levels: Vec<i8>,
    /// [`LOCK_STRIPES`] locks; a slot's is held while its link lists are rewritten.
    locks: Box<[Mutex<()>]>,
    entry: AtomicU32,
    max_level: AtomicUsize,
    /// Held while a node that may raise the top level is inserted.
    entry_lock: Mutex<()>,
    rng: u64,
    /// Nodes whose item was removed and whose slot was not reused yet.
    tombstones: usize,
    /// Slots with a node (level >= 0), tombstones included.
    nodes: usize,
    /// Tombstone flags, one bit per slot.
    dead: Vec<u64>,
    rebuild_fraction: f64,
    /// Int8 codes used for traversal when enabled (`None`: traversal on f32 vectors).
    int8: Option<Int8Codes>,
}

/// Batches at least this large are inserted in parallel on the current rayon pool.
const PARALLEL_MIN: usize = 256;

/// Locks guarding link-list rewrites, shared by slots with the same low bits: a writer holds
/// one at a time, so sharing can delay but never deadlock, and a few thousand stripes keep
/// collisions between a handful of threads rare without a lock per slot.
const LOCK_STRIPES: usize = 4096;

impl NativeHnsw {
    pub(crate) fn new(m: usize, ef_construction: usize, rebuild_fraction: f64) -> Self {
        NativeHnsw {
            m,
            m0: 2 * m,
            ef_construction,
            level_mult: 1.0 / (m as f64).ln(),
            upper_at: HashMap::default(),
            upper_pool: Vec::new(),
            upper_garbage: 0,
            levels: Vec::new(),
            locks: (0..LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            entry: AtomicU32::new(NONE),
            max_level: AtomicUsize::new(0),
            entry_lock: Mutex::new(()),
            rng: 0x2545F4914F6CDD1D,
            tombstones: 0,
            nodes: 0,
            dead: Vec::new(),
            rebuild_fraction,
            int8: None,
        }
    }

    /// Traverses on int8 codes (fitted on the first vectors inserted, refitted on rebuild)
    /// and re-scores the kept candidates exactly.
    pub(crate) fn with_int8(mut self) -> Self {
        self.int8 = Some(Int8Codes::default());
        self
    }

    /// Fits and encodes int8 codes for every node (after loading a stored graph).
    pub(crate) fn enable_int8(&mut self, cat: &Catalog) {
        let nodes: Vec<u32> = (0..self.levels.len() as u32)
            .filter(|&s| self.levels[s as usize] >= 0)
            .collect();
        let mut codes = Int8Codes::fit(cat, &nodes);
        for &s in &nodes {
            codes.encode(cat, s, cat.slots());
        }
        self.int8 = Some(codes);
    }

    fn grow(&mut self, slots: usize) {
        let old = self.levels.len();
        if old < slots {
            self.levels.resize(slots, -1);
            self.dead.resize(slots.div_ceil(64), 0);
        }
    }

    /// Checks that the catalog's rows have room for this graph's level-0 lists (the engine
    /// creates the catalog with [`links_per_row`] of its `m`).
    fn check_rows(&self, cat: &Catalog) -> Result<()> {
        if cat.link_capacity() < self.m0 {
            return Err(crate::Error::Internal(format!(
                "catalog rows hold {} link entries, the native graph needs {}",
                cat.link_capacity(),
                self.m0
            )));
        }
        Ok(())
    }

    /// The lock of a slot's link lists.
    #[inline]
    fn lock(&self, slot: u32) -> parking_lot::MutexGuard<'_, ()> {
        self.locks[slot as usize % LOCK_STRIPES].lock()
    }

    #[inline]
    fn is_dead(&self, slot: u32) -> bool {
        self.dead[slot as usize / 64] >> (slot % 64) & 1 == 1
    }

    fn set_dead(&mut self, slot: u32, dead: bool) {
        let (w, bit) = (slot as usize / 64, 1u64 << (slot % 64));
        if dead {
            self.dead[w] |= bit;
        } else {
            self.dead[w] &= !bit;
        }
    }

    /// The raw list (capacity entries of `slot + 1`, 0-terminated) of a slot at a level:
    /// at level 0 the head of its catalog row; above, its part of the upper pool, empty
    /// when the slot has no such level (a recycled slot may come back lower while stale
    /// links still reach it).
    #[inline(always)]
    fn list<'a>(&'a self, cat: &'a Catalog, slot: u32, level: usize) -> &'a [AtomicU32] {
        if level == 0 {
            &cat.links(slot)[..self.m0]
        } else {
            self.upper(slot, level)
        }
    }

    /// The list of a slot at a level above 0 (see [`NativeHnsw::list`]).
    #[inline(always)]
    fn upper(&self, slot: u32, level: usize) -> &[AtomicU32] {
        if level as isize > self.levels[slot as usize] as isize {
            return &[];
        }
        let Some(&at) = self.upper_at.get(&slot) else {
            return &[];
        };
        let at = at as usize + (level - 1) * self.m;
        &self.upper_pool[at..at + self.m]
    }

    /// The current links of a slot at a level.
    #[inline]
    fn links<'a>(
        &'a self,
        cat: &'a Catalog,
        slot: u32,
        level: usize,
    ) -> impl Iterator<Item = u32> + 'a {
        self.list(cat, slot, level).iter().map_while(decode_link)
    }

    /// Hints the CPU to load a slot's link list at a level.
    #[inline(always)]
    fn prefetch_links(&self, cat: &Catalog, slot: u32, level: usize) {
        let list = self.list(cat, slot, level);
        if let Some(x) = list.first() {
            crate::util::prefetch::prefetch_ptr(
                (x as *const AtomicU32).cast(),
                (list.len() * 4).div_ceil(64),
            );
        }
    }

    /// Replaces the links of a slot at a level (the caller holds the slot's lock or `&mut`).
    fn set_links(&self, cat: &Catalog, slot: u32, level: usize, links: &[u32]) {
        let list = self.list(cat, slot, level);
        let n = links.len().min(list.len());
        for (dst, &x) in list.iter().zip(&links[..n]) {
            dst.store(x + 1, AtomicOrd::Relaxed);
        }
        if let Some(end) = list.get(n) {
            end.store(0, AtomicOrd::Release);
        }
    }

    fn random_level(&mut self) -> usize {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let u = ((self.rng >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        ((-u.ln() * self.level_mult) as usize).min(MAX_LEVEL - 1)
    }

    /// Greedy walk at one level from `start`; returns the closest node found.
    fn greedy(
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
    fn search_level(
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
                fresh.clear();
                for n in self.links(cat, c.slot, level) {
                    visited.prefetch(n);
                }
                for n in self.links(cat, c.slot, level) {
                    if visited.first_visit(n) {
                        fresh.push(n);
                    }
                }
                probe.scan(
                    |i| fresh.get(i).copied(),
                    |n, score| {
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

    /// The paper's heuristic: keep a candidate (best first) only if it is closer to the base
    /// node than to every neighbour kept so far.
    fn select(&self, cat: &Catalog, candidates: &[Cand], m: usize) -> Vec<u32> {
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
    fn add_link(&self, cat: &Catalog, n: u32, links: &mut Vec<u32>, x: u32, max: usize) {
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
    fn unlink(&mut self, cat: &Catalog, slot: u32) {
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
    fn assign_level(&mut self, slot: u32) {
        let level = self.random_level();
        self.levels[slot as usize] = level as i8;
        self.nodes += 1;
        self.alloc_upper(slot, level);
    }

    /// Gives a slot (whose level is set) zeroed upper-level lists at the end of the pool.
    fn alloc_upper(&mut self, slot: u32, level: usize) {
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
    fn compact_upper(&mut self) {
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
    fn insert(&self, cat: &Catalog, slot: u32) {
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
        for l in (0..=level.min(max_level)).rev() {
            let levels = &self.levels;
            // Stale links (to recycled slots re-inserted lower) can reach nodes without level l.
            let found = self.search_level(cat, &probe, cur, self.ef_construction, l, |n| {
                n != slot && levels[n as usize] >= l as i8
            });
            let max = if l == 0 { self.m0 } else { self.m };
            let chosen = self.select(cat, &found, self.m);
            {
                // Once this node is linked at the level above, concurrent inserts can reach
                // it and add themselves to its list at this level before it is written:
                // merge those links instead of overwriting them (an overwritten link is a
                // lost in-link of the other node, which 2-thread builds showed as nodes no
                // search could reach).
                let _g = self.lock(slot);
                let mut own = chosen.clone();
                for x in self.links(cat, slot, l) {
                    self.add_link(cat, slot, &mut own, x, max);
                }
                self.set_links(cat, slot, l, &own);
            }
            for &n in &chosen {
                // Reverse link, pruned with the same heuristic when full.
                let _g = self.lock(n);
                let mut nl: Vec<u32> = self.links(cat, n, l).collect();
                self.add_link(cat, n, &mut nl, slot, max);
                self.set_links(cat, n, l, &nl);
            }
            if let Some(best) = found.first() {
                cur = *best;
            }
        }
        if top_guard.is_some() && level > self.max_level.load(AtomicOrd::Acquire) {
            self.max_level.store(level, AtomicOrd::Release);
            self.entry.store(slot, AtomicOrd::Release);
        }
    }

    /// Greedy descent through the upper levels, then the level-0 search for `ef` nodes
    /// accepted by `accept` (`None`: every node not tombstoned), scored through `probe`.
    fn walk(
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
    fn insert_all(&mut self, cat: &Catalog, slots: &[u32]) {
        self.grow(cat.slots());
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
        if let Some(codes) = &mut self.int8 {
            if !codes.is_fitted() {
                *codes = Int8Codes::fit(cat, &slots);
            }
            for &s in &slots {
                codes.encode(cat, s, cat.slots());
            }
        }
        let this = &*self;
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
}

impl AnnIndex for NativeHnsw {
    fn name(&self) -> &'static str {
        if self.int8.is_some() {
            "native_int8"
        } else {
            "native"
        }
    }

    fn upsert(&mut self, cat: &Catalog, slots: &[u32]) -> Result<()> {
        self.check_rows(cat)?;
        self.insert_all(cat, slots);
        Ok(())
    }

    fn filters_during_traversal(&self) -> bool {
        true
    }

    fn navigates_removed(&self) -> bool {
        true
    }

    fn to_bytes(&self, cat: &Catalog) -> Option<Vec<u8>> {
        Some(NativeHnsw::to_bytes(self, cat))
    }

    fn remove(&mut self, slots: &[u32]) {
        // Tombstones: the catalog no longer accepts these slots; they stay navigable until
        // the slot is recycled (re-inserted) or the graph is rebuilt.
        for &s in slots {
            if self.levels.get(s as usize).is_some_and(|&l| l >= 0) && !self.is_dead(s) {
                self.set_dead(s, true);
                self.tombstones += 1;
            }
        }
    }

    fn wants_rebuild(&self) -> bool {
        self.nodes >= 1_000 && self.tombstones as f64 > self.rebuild_fraction * self.nodes as f64
    }

    fn search(
        &self,
        cat: &Catalog,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: Option<&(dyn Fn(u32) -> bool + Sync)>,
    ) -> Vec<(u32, f32)> {
        let entry = self.entry.load(AtomicOrd::Acquire);
        if entry == NONE || k == 0 {
            return Vec::new();
        }
        let exact = Probe::new(
            |s, to| cat.prefetch(s, to),
            cat.row_bytes(),
            cat.scorer(query),
        );
        let mut hits: Vec<(u32, f32)> = match &self.int8 {
            // Walk on the codes, then re-score the kept candidates exactly.
            Some(codes) => {
                let probe = Probe::new(
                    |s, to| codes.prefetch(s, to),
                    codes.row_bytes(),
                    codes.scorer(cat.metric(), query),
                );
                let found = self.walk(cat, &probe, ef.max(k), accept);
                let mut hits = Vec::with_capacity(found.len());
                exact.scan(
                    |i| found.get(i).map(|c| c.slot),
                    |s, score| hits.push((s, score)),
                );
                hits
            }
            None => self
                .walk(cat, &exact, ef.max(k), accept)
                .into_iter()
                .map(|c| (c.slot, c.score))
                .collect(),
        };
        sort_hits(&mut hits);
        hits.truncate(k);
        hits
    }

    fn rebuild(&mut self, cat: &Catalog) -> Result<()> {
        self.check_rows(cat)?;
        let int8 = self.int8.is_some();
        *self = NativeHnsw::new(self.m, self.ef_construction, self.rebuild_fraction);
        if int8 {
            self.int8 = Some(Int8Codes::default());
        }
        // The old graph's level-0 lists are in the catalog's rows: empty them all (free
        // slots are not re-inserted, and nothing must lead from them to the old graph).
        for s in 0..cat.slots() as u32 {
            self.set_links(cat, s, 0, &[]);
        }
        let slots: Vec<u32> = cat.live_slots().collect();
        self.insert_all(cat, &slots);
        Ok(())
    }

    fn memory_bytes(&self) -> usize {
        // The level-0 lists are in the catalog's rows (the engine reports them as index
        // memory: `Rows::link_bytes`).
        self.int8.as_ref().map_or(0, Int8Codes::bytes)
            + self.levels.len()
            + self.dead.len() * 8
            + self.upper_pool.len() * 4
            + self.upper_at.capacity() * 9
    }
}

// ---------------------------------------------------------------------------------- persistence

const GRAPH_MAGIC: &[u8; 4] = b"NHG1";

impl NativeHnsw {
    /// Serialises the graph: magic, m, slots, entry, max level, tombstones, then per slot its
    /// level (i8), dead flag (u8), level-0 links (count + ids) and upper-level links.
    pub(crate) fn to_bytes(&self, cat: &Catalog) -> Vec<u8> {
        let mut o = Vec::with_capacity(self.levels.len() * (self.m0 * 4 + 2) + 64);
        o.extend_from_slice(GRAPH_MAGIC);
        o.extend_from_slice(&(self.m as u32).to_le_bytes());
        o.extend_from_slice(&(self.levels.len() as u64).to_le_bytes());
        o.extend_from_slice(&self.entry.load(AtomicOrd::Acquire).to_le_bytes());
        o.extend_from_slice(&(self.max_level.load(AtomicOrd::Acquire) as u32).to_le_bytes());
        o.extend_from_slice(&(self.tombstones as u64).to_le_bytes());
        o.extend_from_slice(&self.rng.to_le_bytes());
        for s in 0..self.levels.len() {
            o.push(self.levels[s] as u8);
            o.push(self.is_dead(s as u32) as u8);
            if self.levels[s] < 0 {
                continue;
            }
            for l in 0..=self.levels[s] as usize {
                let links: Vec<u32> = self.links(cat, s as u32, l).collect();
                o.extend_from_slice(&(links.len() as u32).to_le_bytes());
                for x in links {
                    o.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        o
    }

    /// Rebuilds a graph from [`NativeHnsw::to_bytes`] output, read from the file's graph
    /// section, validating every count, level and link id against `slots` and `m` (never
    /// trusting a length before checking it fits). The caller checks that the section ends
    /// where the graph does and that its checksum matches. The level-0 lists are held
    /// aside until [`StoredGraph::attach`] puts them in the catalog's rows (the graph is
    /// read while another thread builds the catalog).
    pub(crate) fn read(
        r: &mut crate::codec::SectionReader<'_>,
        m: usize,
        ef_construction: usize,
        rebuild_fraction: f64,
        slots: usize,
    ) -> std::result::Result<StoredGraph, String> {
        if r.take(4)? != GRAPH_MAGIC {
            return Err("bad graph magic".into());
        }
        let u32_ = |x: &[u8]| u32::from_le_bytes(x.try_into().expect("4 bytes"));
        let u64_ = |x: &[u8]| u64::from_le_bytes(x.try_into().expect("8 bytes"));
        let gm = u32_(r.take(4)?) as usize;
        if gm != m {
            return Err(format!("graph built with m = {gm}, configuration says {m}"));
        }
        let n = u64_(r.take(8)?);
        if n != slots as u64 {
            return Err(format!("graph has {n} slots, catalog has {slots}"));
        }
        let entry = u32_(r.take(4)?);
        let max_level = u32_(r.take(4)?) as usize;
        let tombstones = u64_(r.take(8)?) as usize;
        let rng = u64_(r.take(8)?);
        let mut g = NativeHnsw::new(m, ef_construction, rebuild_fraction);
        g.rng = rng;
        g.grow(slots);
        let m0 = g.m0;
        let mut level0 = vec![0u32; slots * m0];
        let mut dead_count = 0usize;
        for s in 0..slots {
            let head = r.take(2)?;
            let (level, dead) = (head[0] as i8, head[1]);
            if !(-1..MAX_LEVEL as i8).contains(&level) || dead > 1 {
                return Err(format!(
                    "slot {s}: level {level} / dead flag {dead} out of range"
                ));
            }
            g.levels[s] = level;
            g.nodes += (level >= 0) as usize;
            g.set_dead(s as u32, dead == 1);
            dead_count += (dead == 1) as usize;
            if level < 0 {
                continue;
            }
            g.alloc_upper(s as u32, level as usize);
            for l in 0..=level as usize {
                let count = u32_(r.take(4)?) as usize;
                let max = if l == 0 { g.m0 } else { m };
                if count > max {
                    return Err(format!("slot {s} level {l}: {count} links, at most {max}"));
                }
                let raw = r.take(count * 4)?;
                let links = raw.chunks_exact(4).map(u32_);
                if let Some(x) = links.clone().find(|&x| x as usize >= slots) {
                    return Err(format!(
                        "slot {s} level {l}: link to {x} outside 0..{slots}"
                    ));
                }
                if l == 0 {
                    for (dst, x) in level0[s * m0..].iter_mut().zip(links) {
                        *dst = x + 1;
                    }
                } else {
                    for (dst, x) in g.upper(s as u32, l).iter().zip(links) {
                        dst.store(x + 1, AtomicOrd::Relaxed);
                    }
                }
            }
        }
        if dead_count != tombstones {
            return Err(format!(
                "{dead_count} dead slots but header says {tombstones}"
            ));
        }
        if entry == NONE {
            if g.levels.iter().any(|&l| l >= 0) {
                return Err("nodes but no entry point".into());
            }
        } else if (entry as usize) >= slots
            || g.levels[entry as usize] as isize != max_level as isize
        {
            return Err(format!(
                "entry point {entry} does not carry the top level {max_level}"
            ));
        }
        g.entry = AtomicU32::new(entry);
        g.max_level = AtomicUsize::new(max_level);
        g.tombstones = tombstones;
        Ok(StoredGraph { graph: g, level0 })
    }
}

/// A graph read from a file whose level-0 lists (`m0` entries per slot, encoded as in the
/// rows) still have to be put in the catalog's rows.
#[derive(Debug)]
pub(crate) struct StoredGraph {
    graph: NativeHnsw,
    level0: Vec<u32>,
}

impl StoredGraph {
    /// Writes the level-0 lists into the rows of `cat` (the catalog read from the same file:
    /// as many slots, rows sized by [`links_per_row`]) and returns the graph.
    pub(crate) fn attach(self, cat: &Catalog) -> Result<NativeHnsw> {
        let g = self.graph;
        g.check_rows(cat)?;
        if cat.slots() * g.m0 != self.level0.len() {
            return Err(crate::Error::Internal(format!(
                "graph for {} slots attached to a catalog of {}",
                self.level0.len() / g.m0,
                cat.slots()
            )));
        }
        for (s, list) in self.level0.chunks_exact(g.m0).enumerate() {
            for (dst, &x) in cat.links(s as u32).iter().zip(list) {
                dst.store(x, AtomicOrd::Relaxed);
            }
        }
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An L2 catalog of f32 rows with room for the lists of `m = 16`, holding `vecs` (ids
    /// "0", "1", ...), and their slots.
    fn catalog_of(vecs: &[Vec<f32>]) -> (Catalog, Vec<u32>) {
        let ids: Vec<String> = (0..vecs.len()).map(|i| i.to_string()).collect();
        let mut cat = Catalog::new(
            vecs[0].len(),
            crate::Metric::L2,
            crate::VectorStorage::F32,
            links_per_row(16),
        );
        let items: Vec<_> = ids
            .iter()
            .zip(vecs)
            .map(|(id, v)| crate::store::PreparedItem {
                id,
                vector: v,
                attrs: None,
            })
            .collect();
        let slots = cat.apply(&items).into_iter().map(|(s, _)| s).collect();
        (cat, slots)
    }

    /// Level-0 nodes no other node links to: what a search can never reach.
    fn orphans(g: &NativeHnsw, cat: &Catalog) -> usize {
        let mut linked = vec![false; g.levels.len()];
        for s in 0..g.levels.len() as u32 {
            g.links(cat, s, 0).for_each(|x| linked[x as usize] = true);
        }
        (0..g.levels.len())
            .filter(|&s| g.levels[s] >= 0 && !linked[s])
            .count()
    }

    /// A 2-thread build links every node: concurrent inserts that reach a node before its
    /// own list is written merge into that list instead of being overwritten. (Before the
    /// merge, 5,000 clustered points left about five unreachable nodes per build.)
    #[test]
    fn parallel_build_leaves_no_unreachable_nodes() {
        let (n, dim) = (5_000usize, 32usize);
        let mut rng = crate::util::rng::SplitMix64(11);
        let centres: Vec<Vec<f32>> = (0..50)
            .map(|_| (0..dim).map(|_| rng.normal()).collect())
            .collect();
        let vecs: Vec<Vec<f32>> = (0..n)
            .map(|_| {
                let c = &centres[rng.below(50)];
                c.iter().map(|x| x + 0.5 * rng.normal()).collect()
            })
            .collect();
        let (cat, slots) = catalog_of(&vecs);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let total: usize = (0..3)
            .map(|_| {
                let mut g = NativeHnsw::new(16, 200, 0.5);
                pool.install(|| g.insert_all(&cat, &slots));
                orphans(&g, &cat)
            })
            .sum();
        assert!(total <= 2, "{total} unreachable nodes over 3 builds");
    }

    /// The level-0 lists live in the catalog's rows: a rebuild empties the rows of removed
    /// items (free slots keep no links into the old graph), links no live node to them, and
    /// the graph saved and attached to a fresh catalog holds the same lists.
    #[test]
    fn level0_lists_live_in_catalog_rows() {
        let (n, dim) = (3_000usize, 8usize);
        let mut rng = crate::util::rng::SplitMix64(5);
        let vecs: Vec<Vec<f32>> = (0..n)
            .map(|_| (0..dim).map(|_| rng.normal()).collect())
            .collect();
        let (mut cat, slots) = catalog_of(&vecs);
        let mut g = NativeHnsw::new(16, 100, 0.5);
        g.upsert(&cat, &slots).unwrap();
        assert!(slots.iter().all(|&s| g.links(&cat, s, 0).next().is_some()));
        let removed: Vec<u32> = slots.iter().copied().filter(|s| s % 3 == 0).collect();
        g.remove(&removed);
        for &s in &removed {
            cat.remove(s, true);
        }
        g.rebuild(&cat).unwrap();
        for s in 0..n as u32 {
            let links: Vec<u32> = g.links(&cat, s, 0).collect();
            if s % 3 == 0 {
                assert!(links.is_empty(), "free slot {s} keeps links {links:?}");
            } else {
                assert!(!links.is_empty(), "live slot {s} has no links");
                assert!(
                    links.iter().all(|x| x % 3 != 0),
                    "slot {s} links a free slot"
                );
            }
        }
        assert_eq!(orphans(&g, &cat), 0);
        // A catalog without room for the lists is refused, not indexed out of bounds.
        let small = Catalog::new(dim, crate::Metric::L2, crate::VectorStorage::F32, 8);
        assert!(NativeHnsw::new(16, 100, 0.5).rebuild(&small).is_err());
        // Saved, read back and attached to a catalog rebuilt from the same items.
        let bytes = NativeHnsw::to_bytes(&g, &cat);
        let bytes: &[u8] = &bytes;
        let mut r = crate::codec::SectionReader::over(&bytes);
        let stored = NativeHnsw::read(&mut r, 16, 100, 0.5, n).unwrap();
        let (fresh, _) = catalog_of(&vecs);
        let g2 = stored.attach(&fresh).unwrap();
        for s in 0..n as u32 {
            assert!(g.links(&cat, s, 0).eq(g2.links(&fresh, s, 0)), "slot {s}");
        }
    }

    /// Slot hashes spread over a table's buckets (low bits) and tags (top 7 bits): dense
    /// and strided slot numbers, like the nodes that carry upper levels, fill 2^16 buckets
    /// about as evenly as random keys would, and use every tag.
    #[test]
    fn slot_hashes_spread_over_buckets_and_tags() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let b = BuildHasherDefault::<SlotHasher>::default();
        for step in [1u32, 16, 256, 4096] {
            let mut buckets = vec![0u32; 1 << 16];
            let mut tags = [false; 128];
            for i in 0..(1u32 << 16) {
                let h = b.hash_one(i.wrapping_mul(step));
                buckets[(h & 0xffff) as usize] += 1;
                tags[(h >> 57) as usize] = true;
            }
            let max = *buckets.iter().max().unwrap();
            let empty = buckets.iter().filter(|&&c| c == 0).count();
            // Random keys: about 1/e of the buckets empty, the fullest holding ~8.
            assert!(max <= 12, "step {step}: a bucket holds {max}");
            assert!(empty < (1 << 16) / 2, "step {step}: {empty} empty buckets");
            assert!(tags.iter().all(|&t| t), "step {step}: unused tags");
        }
    }

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
