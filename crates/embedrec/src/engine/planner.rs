//! The query planner: the exact path over a subset, over all items, or the index, and the
//! hits it returns.

use super::factors::FactorIndex;
use super::{Engine, Hit, State};
use crate::Metric;
use crate::distance::dot;
use crate::index::{PARALLEL_SCAN, ScanOrder, top_k_by, top_k_pairs};
use crate::model::{Model, Ranking};
use crate::store::filter::CompiledFilter;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// An index search: breadth `ef`, the filter to apply; `(slot, exact score)` best first.
pub(super) type Walk<'a> =
    dyn Fn(usize, &(dyn Fn(u32) -> bool + Sync)) -> Vec<(u32, f32)> + Sync + 'a;

/// Breadth multiplier of inner-product walks: an inner-product graph needs about twice the
/// breadth of a metric one for the same recall (docs/benchmarks.md).
const IP_BREADTH: usize = 2;

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

    /// Most popular items passing the filter.
    pub(super) fn popular(&self, st: &State, k: usize, cf: &CompiledFilter) -> Vec<Hit> {
        let hits = self.ranked(
            st,
            k,
            cf,
            &|s: u32| st.users.popularity(s) as f32,
            ScanOrder::ScoreFirst,
            None,
        );
        self.to_hits(st, hits)
    }

    /// The `k` best items by a model's ranking: factor rankings through the factor index
    /// (or exactly, when the planner finds that cheaper), candidate lists by top-k
    /// selection, then the most popular items when the model had fewer than `k`.
    pub(super) fn rank_model(
        &self,
        st: &State,
        model: &Model,
        r: Ranking<'_>,
        k: usize,
        cf: &CompiledFilter,
    ) -> Vec<Hit> {
        let factor_scan = super::factors::factor_walk_from(&self.config);
        let hits = match r {
            Ranking::Factors(u) => {
                let (y, f) = model.item_factors().expect("a factor ranking has factors");
                let rows = (y.len() / f).min(st.cat.slots());
                let score = |s: u32| {
                    let s = s as usize;
                    if s < rows {
                        dot(&y[s * f..(s + 1) * f], &u)
                    } else {
                        f32::NEG_INFINITY
                    }
                };
                let fx = st.factors.as_ref().and_then(FactorIndex::inner);
                let walk = |ef: usize, accept: &(dyn Fn(u32) -> bool + Sync)| {
                    fx.map_or_else(Vec::new, |ix| ix.search(&u, k, ef * IP_BREADTH, accept))
                };
                self.ranked(
                    st,
                    k,
                    cf,
                    &score,
                    ScanOrder::ScoreFirst,
                    fx.map(|_| (&walk as &Walk<'_>, true, factor_scan)),
                )
            }
            Ranking::CosineFactors(t) => match st.factors.as_ref().map(FactorIndex::cosine) {
                Some(ix) => {
                    let q = ix.prepare(&t);
                    let score = ix.scorer(&q);
                    let walk = |ef: usize, accept: &(dyn Fn(u32) -> bool + Sync)| {
                        ix.search(&t, k, ef, accept)
                    };
                    self.ranked(
                        st,
                        k,
                        cf,
                        &score,
                        ScanOrder::ScoreFirst,
                        Some((&walk, true, self.config.exact_below)),
                    )
                }
                None => Vec::new(),
            },
            Ranking::Candidates(c) => top_k_pairs(c, k, &|s: u32| cf.matches(&st.cat, s)),
            Ranking::Dense(d) => {
                let score = |s: u32| d.get(s as usize).copied().unwrap_or(f32::NEG_INFINITY);
                self.ranked(st, k, cf, &score, ScanOrder::ScoreFirst, None)
            }
        };
        if hits.len() >= k {
            return self.to_hits(st, hits);
        }
        // Too few candidates: the rest by popularity.
        let mut rest = cf.clone();
        rest.exclude(hits.iter().map(|h| h.0));
        let score = |s: u32| st.users.popularity(s) as f32;
        let more = self.ranked(
            st,
            k - hits.len(),
            &rest,
            &score,
            ScanOrder::ScoreFirst,
            None,
        );
        self.to_hits(st, hits.into_iter().chain(more).collect())
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

    /// Chooses the path (exact over a subset, exact over all, or the index) and runs it over
    /// the items that have content vectors.
    pub(super) fn run_query(
        &self,
        st: &State,
        q: &[f32],
        k: usize,
        cf: &CompiledFilter,
    ) -> Vec<Hit> {
        let mut cf = cf.clone();
        cf.require_vectors();
        let cf = &cf;
        let scorer = st.cat.scorer(q);
        let trivial = cf.only_exclusions() && cf.excluded_count() == 0;
        let walk = |ef: usize, accept: &(dyn Fn(u32) -> bool + Sync)| {
            st.index
                .search(&st.cat, q, k, ef, (!trivial).then_some(accept))
        };
        let graph = st.index.name() != "exact";
        let hits = self.ranked(
            st,
            k,
            cf,
            &scorer,
            ScanOrder::FilterFirst,
            graph.then_some((
                &walk as &Walk<'_>,
                st.index.filters_during_traversal(),
                self.config.exact_below,
            )),
        );
        self.to_hits(st, hits)
    }

    /// The `k` best `(slot, score)` pairs passing `cf`: by the exact path (every candidate
    /// scored with `score`, the filter checked before or after the score as `order` says;
    /// slots scored `-inf` are never returned) or, when the planner
    /// finds it cheaper, by `walk` — an index search given its breadth `ef` and the filter,
    /// whether the index applies the filter while walking, and the catalog size up to which
    /// scanning wins.
    ///
    /// Brute force wins for small catalogs, large `k` and selective filters (a graph would
    /// have to examine `k / fraction` candidates); an allow-list is always scanned directly.
    pub(super) fn ranked(
        &self,
        st: &State,
        k: usize,
        cf: &CompiledFilter,
        score: &(dyn Fn(u32) -> f32 + Sync),
        order: ScanOrder,
        walk: Option<(&Walk<'_>, bool, usize)>,
    ) -> Vec<(u32, f32)> {
        let live = st.cat.len();
        if live == 0 || cf.impossible || k == 0 {
            return Vec::new();
        }
        let accept = |s: u32| cf.matches(&st.cat, s);
        let exact = |subset: Option<&[u32]>| {
            self.scan(st, subset, || {
                top_k_by(st.cat.slots(), score, k, &accept, subset, order)
            })
        };
        let Some((walk, filters_while_walking, exact_below)) = walk else {
            return exact(cf.allow.as_deref());
        };
        if cf.allow.is_some() {
            return exact(cf.allow.as_deref());
        }
        let fraction = if cf.only_exclusions() {
            1.0
        } else {
            self.estimated_fraction(st, cf)
        };
        let wanted = (k + cf.excluded_count()) as f64 / fraction.max(1e-9);
        if live <= exact_below
            || k.saturating_mul(4) >= live
            || fraction <= self.config.exact_filter_fraction
            || wanted > MAX_FETCH as f64
        {
            return exact(None);
        }
        // Candidates to examine: enough that k survive the filter and exclusions (an index
        // that filters while walking counts only accepted items already).
        let ef_search = self.ef_search.load(Ordering::Relaxed);
        let ef = if filters_while_walking {
            ef_search.max(k)
        } else {
            ef_search.max((wanted * 1.2).ceil() as usize)
        };
        let found = walk(ef, &accept);
        if found.len() < k && found.len() < live {
            // The walk ran out of matching candidates; the exact path guarantees k results
            // whenever k matching items exist.
            exact(None)
        } else {
            found
        }
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
