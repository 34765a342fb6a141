//! The query planner: the exact path over a subset, over all items, or the index, and the
//! hits it returns.

use super::{Engine, Hit, State};
use crate::Metric;
use crate::index::{PARALLEL_SCAN, exact_top_k, top_k_by};
use crate::store::filter::CompiledFilter;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Most graph candidates examined for one query before the exact path is preferred.
const MAX_FETCH: usize = 4_096;

impl Engine {
    /// Runs a scan over `subset` (or every slot): on the engine's pool when it is large
    /// enough to be split in parallel, in the calling thread otherwise. Never on the global
    /// rayon pool.
    fn scan<R: Send>(
        &self,
        st: &State,
        subset: Option<&[u32]>,
        f: impl Fn() -> R + Send + Sync,
    ) -> R {
        if subset.map_or(st.cat.slots(), <[u32]>::len) > PARALLEL_SCAN
            && let Ok(r) = self.pool.install(&f)
        {
            return r;
        }
        f()
    }

    /// Top k slots by a dense score vector among those passing the filter.
    pub(super) fn top_by_scores(
        &self,
        st: &State,
        scores: &[f32],
        k: usize,
        cf: &CompiledFilter,
    ) -> Vec<Hit> {
        if cf.impossible {
            return Vec::new();
        }
        let accept = |s: u32| scores[s as usize] > f32::NEG_INFINITY && cf.matches(&st.cat, s);
        let score = |s: u32| scores[s as usize];
        let subset = cf.allow.as_deref();
        let hits = self.scan(st, subset, || {
            top_k_by(st.cat.slots(), &score, k, &accept, subset)
        });
        self.to_hits(st, hits)
    }

    /// Most popular items (by summed interaction weight) passing the filter.
    pub(super) fn popular(&self, st: &State, k: usize, cf: &CompiledFilter) -> Vec<Hit> {
        let score = |s: u32| st.users.popularity(s) as f32;
        let accept = |s: u32| cf.matches(&st.cat, s);
        let subset = cf.allow.as_deref();
        let hits = self.scan(st, subset, || {
            top_k_by(st.cat.slots(), &score, k, &accept, subset)
        });
        self.to_hits(st, hits)
    }

    /// The query as the index compares it: unit length under cosine, else as given.
    pub(super) fn prepare<'a>(&self, v: &'a [f32]) -> std::borrow::Cow<'a, [f32]> {
        match self.config.metric {
            Metric::Cosine => {
                let n = crate::distance::norm(v);
                std::borrow::Cow::Owned(v.iter().map(|x| x / n).collect())
            }
            _ => std::borrow::Cow::Borrowed(v),
        }
    }

    pub(super) fn to_hits(&self, st: &State, hits: Vec<(u32, f32)>) -> Vec<Hit> {
        // Each id is two dependent cache misses (span, then bytes) on a large catalog:
        // request all spans, then all bytes, so that the misses overlap.
        st.cat.prefetch_ids(hits.iter().map(|h| h.0));
        hits.into_iter()
            .map(|(s, score)| Hit {
                id: Arc::from(st.cat.id(s)),
                score,
            })
            .collect()
    }

    /// Chooses the path (exact over a subset, exact over all, or the index) and runs it.
    pub(super) fn run_query(
        &self,
        st: &State,
        q: &[f32],
        k: usize,
        cf: &CompiledFilter,
    ) -> Vec<Hit> {
        let live = st.cat.len();
        if live == 0 || cf.impossible {
            return Vec::new();
        }
        let accept = |s: u32| cf.matches(&st.cat, s);
        let exact = |subset: Option<&[u32]>| {
            self.scan(st, subset, || exact_top_k(&st.cat, q, k, &accept, subset))
        };
        // Brute force wins for small catalogs, large k, and selective filters (the graph
        // would have to examine k / fraction candidates).
        let fraction = if cf.only_exclusions() {
            1.0
        } else {
            self.estimated_fraction(st, cf)
        };
        let wanted = (k + cf.excluded_count()) as f64 / fraction.max(1e-9);
        let scan_all = st.index.name() == "exact"
            || live <= self.config.exact_below
            || k.saturating_mul(4) >= live
            || fraction <= self.config.exact_filter_fraction
            || wanted > MAX_FETCH as f64;
        let hits = if let Some(allow) = &cf.allow {
            exact(Some(allow))
        } else if scan_all {
            exact(None)
        } else {
            // Candidates to examine: enough that k survive the filter and exclusions (an
            // index that filters while walking counts only accepted items already).
            let ef = if st.index.filters_during_traversal() {
                self.ef_search.load(Ordering::Relaxed).max(k)
            } else {
                (self.ef_search.load(Ordering::Relaxed)).max((wanted * 1.2).ceil() as usize)
            };
            let trivial = cf.only_exclusions() && cf.excluded_count() == 0;
            let found = st
                .index
                .search(&st.cat, q, k, ef, (!trivial).then_some(&accept));
            if found.len() < k && found.len() < live {
                // The graph walk ran out of matching candidates; the exact path guarantees k
                // results whenever k matching items exist.
                exact(None)
            } else {
                found
            }
        };
        self.to_hits(st, hits)
    }

    /// Fraction of live items passing the filter, estimated on an evenly spaced sample.
    pub(super) fn estimated_fraction(&self, st: &State, cf: &CompiledFilter) -> f64 {
        const SAMPLE: usize = 512;
        let slots = st.cat.slots();
        let step = (slots / SAMPLE).max(1);
        let (mut live, mut pass) = (0usize, 0usize);
        for s in (0..slots).step_by(step) {
            if st.cat.is_live(s as u32) {
                live += 1;
                pass += cf.matches(&st.cat, s as u32) as usize;
            }
        }
        if live == 0 {
            0.0
        } else {
            pass as f64 / live as f64
        }
    }
}
