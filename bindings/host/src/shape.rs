//! Results, statistics and reports as the hosts receive them: one shape, keys in the
//! host's [`Style`].

use crate::value::Style;
use embedrec::eval::{Interactions, RankingMetrics};
use embedrec::{EngineConfig, EngineStats, FitReport, Hit, Progress};
use serde_json::{Map, Value as J, json};

fn object(style: Style, entries: Vec<(&str, J)>) -> J {
    let mut m = Map::with_capacity(entries.len());
    for (k, v) in entries {
        m.insert(style.key(k), v);
    }
    J::Object(m)
}

/// Hits as `[{id, score}]`.
pub fn hits(h: &[Hit]) -> J {
    J::Array(
        h.iter()
            .map(|h| json!({"id": crate::ids::json_id(&h.id), "score": h.score}))
            .collect(),
    )
}

/// The configuration an engine runs with, every option filled in.
pub fn config(style: Style, c: &EngineConfig) -> J {
    object(
        style,
        vec![
            ("dim", json!(c.dim)),
            ("metric", json!(c.metric.name())),
            ("index", json!(c.index.name())),
            ("m", json!(c.m)),
            ("ef_construction", json!(c.ef_construction)),
            ("ef_search", json!(c.ef_search)),
            ("cache_capacity", json!(c.cache_capacity)),
            ("cache_max_bytes", json!(c.cache_max_bytes)),
            ("cache_ttl", json!(c.cache_ttl_secs)),
            ("threads", json!(c.threads)),
            ("recency_half_life", json!(c.recency_half_life_secs)),
            ("exact_filter_fraction", json!(c.exact_filter_fraction)),
            ("exact_below", json!(c.exact_below)),
            ("vector_storage", json!(c.vector_storage.name())),
        ],
    )
}

/// Sizes, cache counters and per-operation counts and latencies (microseconds; `ops` maps
/// each operation's name to its figures).
pub fn stats(style: Style, s: &EngineStats) -> J {
    let c = &s.cache;
    let cache = object(
        style,
        vec![
            ("hits", json!(c.hits)),
            ("misses", json!(c.misses)),
            ("evictions", json!(c.evictions)),
            ("expirations", json!(c.expirations)),
            ("invalidations", json!(c.invalidations)),
            ("entries", json!(c.entries)),
            ("bytes", json!(c.bytes)),
            ("capacity", json!(c.capacity)),
            ("max_bytes", json!(c.max_bytes)),
            ("hit_rate", json!(c.hit_rate)),
        ],
    );
    let mut ops = Map::with_capacity(s.ops.len());
    for o in &s.ops {
        ops.insert(
            o.name.to_string(),
            object(
                style,
                vec![
                    ("count", json!(o.count)),
                    ("errors", json!(o.errors)),
                    ("mean_us", json!(o.mean_us)),
                    ("p50_us", json!(o.p50_us)),
                    ("p95_us", json!(o.p95_us)),
                    ("p99_us", json!(o.p99_us)),
                ],
            ),
        );
    }
    object(
        style,
        vec![
            ("items", json!(s.items)),
            ("users", json!(s.users)),
            ("interactions", json!(s.interactions)),
            ("index", json!(s.index)),
            ("index_memory_bytes", json!(s.index_memory_bytes)),
            ("vector_memory_bytes", json!(s.vector_memory_bytes)),
            ("epoch", json!(s.epoch)),
            ("threads", json!(s.threads)),
            ("model", json!(s.model)),
            ("cache", cache),
            ("ops", J::Object(ops)),
        ],
    )
}

/// What a fit did.
pub fn fit_report(style: Style, r: &FitReport) -> J {
    object(
        style,
        vec![
            ("model", json!(r.model)),
            ("users", json!(r.users)),
            ("items", json!(r.items)),
            ("interactions", json!(r.interactions)),
            ("seconds", json!(r.seconds)),
            ("index_seconds", json!(r.index_seconds)),
            ("loss", json!(r.loss)),
        ],
    )
}

/// One progress report of a fit.
pub fn progress(style: Style, p: &Progress) -> J {
    object(
        style,
        vec![
            ("model", json!(p.model)),
            ("iteration", json!(p.iteration)),
            ("total", json!(p.total)),
            ("elapsed", json!(p.elapsed_secs)),
            ("loss", json!(p.loss)),
        ],
    )
}

/// Ranking metrics at k.
pub fn ranking_metrics(style: Style, m: &RankingMetrics) -> J {
    object(
        style,
        vec![
            ("k", json!(m.k)),
            ("users", json!(m.users)),
            ("precision", json!(m.precision)),
            ("recall", json!(m.recall)),
            ("ndcg", json!(m.ndcg)),
            ("map", json!(m.map)),
            ("hit_rate", json!(m.hit_rate)),
            ("coverage", json!(m.coverage)),
        ],
    )
}

/// Interactions as parallel lists.
pub fn interactions(style: Style, d: &Interactions) -> J {
    object(
        style,
        vec![
            (
                "user_ids",
                d.users.iter().map(|u| crate::ids::json_id(u)).collect(),
            ),
            (
                "item_ids",
                d.items.iter().map(|i| crate::ids::json_id(i)).collect(),
            ),
            ("weights", json!(d.weights)),
            ("timestamps", json!(d.timestamps)),
        ],
    )
}
