//! Results, statistics and reports as the hosts receive them: one shape, keys in the
//! host's [`Style`].

use crate::value::Style;
use embedrec::eval::{Interactions, RankingMetrics};
use embedrec::{
    EngineConfig, EngineStats, FitReport, Hit, ItemAttrs, KnnWeighting, ModelSpec, Progress,
    TuneReport,
};
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

/// An item's metadata as `{tags, attributes: {name: value}}`.
pub fn item_attributes(a: &ItemAttrs) -> J {
    let numbers: Map<String, J> = (a.numbers.iter())
        .map(|(n, v)| (n.clone(), json!(v)))
        .collect();
    json!({"tags": a.tags, "attributes": numbers})
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
            ("mapped_bytes", json!(s.mapped_bytes)),
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

/// An `f32` parameter as the decimal it was written as (0.01, not 0.009999999776).
fn decimal(x: f32) -> J {
    json!(x.to_string().parse::<f64>().unwrap_or(x as f64))
}

/// A model and its parameters: `{model, params}`.
pub fn model_spec(style: Style, spec: &ModelSpec) -> J {
    let params = match spec {
        ModelSpec::Als(p) => object(
            style,
            vec![
                ("factors", json!(p.factors)),
                ("iterations", json!(p.iterations)),
                ("regularization", decimal(p.regularization)),
                ("alpha", decimal(p.alpha)),
                ("confidence", json!(p.confidence.name())),
                ("cg_steps", json!(p.cg_steps)),
                ("seed", json!(p.seed)),
            ],
        ),
        ModelSpec::ItemKnn(p) => {
            let mut v = vec![
                ("neighbours", json!(p.neighbours)),
                ("weighting", json!(p.weighting.name())),
            ];
            if let KnnWeighting::Bm25 { k1, b } = p.weighting {
                v.extend([("k1", decimal(k1)), ("b", decimal(b))]);
            }
            object(style, v)
        }
        ModelSpec::Ease(p) => object(style, vec![("regularization", decimal(p.regularization))]),
        _ => json!({}),
    };
    json!({"model": spec.name(), "params": params})
}

/// What a tuned fit did: the final fit's report with `tuning` (the chosen model and
/// parameters, every trial with its validation figures, the users scored and `k`).
pub fn tune_report(style: Style, r: &TuneReport, k: usize) -> J {
    let mut out = fit_report(style, &r.fit);
    let trials: Vec<J> = r
        .trials
        .iter()
        .map(|t| {
            let mut j = model_spec(style, &t.spec);
            let m = j.as_object_mut().expect("an object");
            m.insert("ndcg".into(), json!(t.ndcg));
            m.insert("recall".into(), json!(t.recall));
            m.insert("seconds".into(), json!(t.seconds));
            j
        })
        .collect();
    let tuning = object(
        style,
        vec![
            ("chosen", model_spec(style, &r.chosen)),
            ("trials", J::Array(trials)),
            ("validation_users", json!(r.validation_users)),
            ("k", json!(k)),
        ],
    );
    out.as_object_mut()
        .expect("an object")
        .insert("tuning".into(), tuning);
    out
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
