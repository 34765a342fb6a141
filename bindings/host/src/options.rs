//! Options of the engine, filters, recommendations, training and splits: read from host
//! values over the core's defaults, unknown keys rejected.

use crate::value::{Options, Style, Value, to_f64};
use embedrec::eval::{
    DEFAULT_LEAVE_LAST_OUT_MIN, DEFAULT_MIN_INTERACTIONS, DEFAULT_SPLIT_SEED, DEFAULT_TEST_FRACTION,
};
use embedrec::{
    AlsParams, Confidence, EngineConfig, Error, Filter, IndexKind, KnnWeighting, Metric, ModelSpec,
    OpenOptions, RecommendOptions, Result, SyncMode, TuneOptions, VectorStorage,
};

const ENGINE_KEYS: &[&str] = &[
    "metric",
    "index",
    "m",
    "ef_construction",
    "ef_search",
    "cache_capacity",
    "cache_max_bytes",
    "cache_ttl",
    "threads",
    "recency_half_life",
    "exact_filter_fraction",
    "exact_below",
    "vector_storage",
];

/// The engine configuration from one options object that holds `dim` too (Node's form).
pub fn engine_options(mut o: Options) -> Result<EngineConfig> {
    let f = o.field("dim");
    let dim = o
        .take("dim")
        .ok_or_else(|| Error::invalid(f, "the vector dimension (an integer)", "nothing"))?;
    engine_config(&dim, o)
}

/// `Engine.open`'s options: `read_only` (a memory-mapped engine that writes nothing), how
/// writes are synced (`sync`, `sync_interval_ms`), when to checkpoint (`checkpoint_bytes`),
/// and — with `dim` — the configuration that creates the engine when the file does not
/// exist (read-only: the dimension the file must have).
pub fn open_options(mut o: Options) -> Result<(Option<EngineConfig>, OpenOptions)> {
    let mut open = OpenOptions::default();
    // The core refuses write options with read_only (`Engine::open`).
    open.read_only = o.bool("read_only")? == Some(true);
    let interval = o.usize("sync_interval_ms")?.map(|ms| ms as u64);
    let sync = o.string("sync")?;
    if sync.is_some() || interval.is_some() {
        open.sync = SyncMode::parse(sync.as_deref().unwrap_or("full"), interval)?;
    }
    if let Some(b) = o.usize("checkpoint_bytes")? {
        open.checkpoint_bytes = b as u64;
    }
    if o.has("dim") {
        return Ok((Some(engine_options(o)?), open));
    }
    o.finish(&[
        "dim",
        "read_only",
        "sync",
        "sync_interval_ms",
        "checkpoint_bytes",
    ])?;
    Ok((None, open))
}

/// `Engine.from_bytes`'s options: `read_only` (serve from the host's buffer in place, see
/// [`embedrec::Engine::from_bytes_read_only`]; default: decode into memory).
pub fn from_bytes_options(mut o: Options) -> Result<bool> {
    let read_only = o.bool("read_only")?.unwrap_or(false);
    o.finish(&["read_only"])?;
    Ok(read_only)
}

/// The options of `metrics_text` over several engines: `pid` (label every sample with this
/// process's id; default false).
pub fn exposition_options(mut o: Options) -> Result<embedrec::ExpositionOptions> {
    let pid = o.bool("pid")?.unwrap_or(false);
    o.finish(&["pid"])?;
    Ok(embedrec::ExpositionOptions::default().with_pid(pid))
}

/// `ShardedEngine.open`'s options: `threads`, the set's pool (0, the default: one per
/// core).
pub fn sharded_open_options(mut o: Options) -> Result<usize> {
    let threads = o.usize("threads")?.unwrap_or(0);
    o.finish(&["threads"])?;
    Ok(threads)
}

/// The engine configuration for `dim` and these options; every option left out keeps
/// [`EngineConfig::new`]'s default.
pub fn engine_config(dim: &Value, mut o: Options) -> Result<EngineConfig> {
    let dim = crate::to_usize("dim", dim)?;
    let mut c = EngineConfig::new(dim);
    if let Some(m) = o.string("metric")? {
        c.metric = Metric::parse(&m)?;
    }
    if let Some(i) = o.string("index")? {
        c.index = IndexKind::parse(&i)?;
    }
    if let Some(s) = o.string("vector_storage")? {
        c.vector_storage = VectorStorage::parse(&s)?;
    }
    let ints: [(&str, &mut usize); 7] = [
        ("m", &mut c.m),
        ("ef_construction", &mut c.ef_construction),
        ("ef_search", &mut c.ef_search),
        ("cache_capacity", &mut c.cache_capacity),
        ("cache_max_bytes", &mut c.cache_max_bytes),
        ("threads", &mut c.threads),
        ("exact_below", &mut c.exact_below),
    ];
    for (key, slot) in ints {
        if let Some(v) = o.usize(key)? {
            *slot = v;
        }
    }
    if let Some(v) = o.f64("exact_filter_fraction")? {
        c.exact_filter_fraction = v;
    }
    c.cache_ttl_secs = o.f64("cache_ttl")?;
    c.recency_half_life_secs = o.f64("recency_half_life")?;
    let mut known = vec!["dim"];
    known.extend_from_slice(ENGINE_KEYS);
    o.finish(&known)?;
    Ok(c)
}

const FILTER_KEYS: &[&str] = &[
    "tags_any",
    "tags_all",
    "tags_none",
    "ranges",
    "allow_ids",
    "deny_ids",
];

/// A filter from its options (null: no filter). `ranges` is either a mapping
/// `{attribute: [min, max]}` or a list of `{attribute, min, max}` objects; null bounds are
/// open.
pub fn filter(what: &str, style: Style, v: Value) -> Result<Option<Filter>> {
    if v == Value::Null {
        return Ok(None);
    }
    let mut o = Options::new(what, style, v)?;
    let mut f = Filter::new()
        .tags_any(o.strings("tags_any")?.unwrap_or_default())
        .tags_all(o.strings("tags_all")?.unwrap_or_default())
        .tags_none(o.strings("tags_none")?.unwrap_or_default())
        .deny(o.ids("deny_ids")?.unwrap_or_default());
    let ranges_field = o.field("ranges");
    let mut ranges = match o.take("ranges") {
        None => Vec::new(),
        Some(r) => ranges(&ranges_field, style, r)?,
    };
    ranges.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, lo, hi) in ranges {
        f = f.range(name, lo, hi);
    }
    if let Some(a) = o.ids("allow_ids")? {
        f = f.allow(a);
    }
    o.finish(FILTER_KEYS)?;
    Ok(Some(f))
}

type Range = (String, Option<f64>, Option<f64>);

fn bound(field: &str, v: &Value) -> Result<Option<f64>> {
    match v {
        Value::Null => Ok(None),
        v => to_f64(field, v).map(Some),
    }
}

fn ranges(field: &str, style: Style, v: Value) -> Result<Vec<Range>> {
    match v {
        Value::Map(m) => m
            .into_iter()
            .map(|(name, pair)| {
                let f = format!("{field}[{name:?}]");
                match pair {
                    Value::List(b) if b.len() == 2 => {
                        Ok((name, bound(&f, &b[0])?, bound(&f, &b[1])?))
                    }
                    other => Err(Error::invalid(f, "a pair [min, max]", other.describe())),
                }
            })
            .collect(),
        Value::List(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let mut r = Options::new(&format!("{field}[{i}]"), style, item)?;
                let f = r.field("attribute");
                let name = r
                    .string("attribute")?
                    .ok_or_else(|| Error::invalid(f, "an attribute name", "nothing"))?;
                let lo = r.f64("min")?;
                let hi = r.f64("max")?;
                r.finish(&["attribute", "min", "max"])?;
                Ok((name, lo, hi))
            })
            .collect(),
        other => Err(Error::invalid(
            field,
            "{attribute: [min, max]} or a list of {attribute, min, max}",
            other.describe(),
        )),
    }
}

/// Options of a recommend call: a filter and whether seen items are left out (default
/// true).
pub fn recommend_options(
    filter: Option<Filter>,
    exclude_seen: Option<bool>,
    diversity: Option<f64>,
) -> RecommendOptions {
    let d = RecommendOptions::default();
    RecommendOptions {
        filter,
        exclude_seen: exclude_seen.unwrap_or(d.exclude_seen),
        // Range checked by the core (a value past f32 becomes infinite and is refused).
        diversity: diversity.map_or(d.diversity, |x| x as f32),
    }
}

/// Options of a recommend call given as one object (Node's form): `filter`,
/// `exclude_seen`, `diversity`, and `with_metadata` (hits carry their items' tags and
/// attributes; default false), returned second.
pub fn recommend_call(mut o: Options) -> Result<(RecommendOptions, bool)> {
    let style = o.style();
    let field = o.field("filter");
    let f = match o.take("filter") {
        None => None,
        Some(v) => filter(&field, style, v)?,
    };
    let exclude_seen = o.bool("exclude_seen")?;
    let diversity = o.f64("diversity")?;
    let meta = o.bool("with_metadata")?.unwrap_or(false);
    o.finish(&["filter", "exclude_seen", "diversity", "with_metadata"])?;
    Ok((recommend_options(f, exclude_seen, diversity), meta))
}

/// Options of a search or similar call given as one object (Node's form): `with_metadata`
/// (default false).
pub fn hit_options(mut o: Options) -> Result<bool> {
    let meta = o.bool("with_metadata")?.unwrap_or(false);
    o.finish(&["with_metadata"])?;
    Ok(meta)
}

/// The ALS parameters under which factors of `width` columns are installed
/// ([`embedrec::Engine::install_factors`]): the ALS keys (`regularization`, `alpha`,
/// `confidence`, … with the core's defaults; `factors` defaults to the width).
pub fn factor_params(width: usize, o: Options) -> Result<AlsParams> {
    let given = o.has("factors");
    match model_spec("als", o)? {
        ModelSpec::Als(mut p) => {
            if !given {
                p.factors = width;
            }
            Ok(p)
        }
        _ => unreachable!("\"als\" parses as ALS"),
    }
}

/// What a `fit` call asks for: a model to train, or a search over models and parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum FitCall {
    /// Train this model.
    Train(ModelSpec),
    /// Tune ([`embedrec::Engine::fit_tuned`]).
    Tune(TuneOptions),
}

/// A `fit` call: `model` with these parameters, or — when `tune` is given (true or an
/// object of `budget`, `models`, `k`, `max_users`, `seed`) — a search. `model` `"auto"`
/// searches every model; another name searches that model unless `tune.models` says
/// otherwise. Model parameters and `tune` do not mix.
pub fn fit_call(model: &str, mut o: Options) -> Result<FitCall> {
    let style = o.style();
    let field = o.field("tune");
    let tune = match o.take("tune") {
        None | Some(Value::Bool(false)) => None,
        Some(Value::Bool(true)) => Some(Value::Map(Vec::new())),
        Some(v @ Value::Map(_)) => Some(v),
        Some(other) => {
            return Err(Error::invalid(
                field,
                "true, false or an object of tuning options",
                other.describe(),
            ));
        }
    };
    let Some(tune) = tune else {
        if model == "auto" {
            return Err(Error::invalid(
                "model",
                "a model name (\"auto\" needs tune)",
                "\"auto\"",
            ));
        }
        return model_spec(model, o).map(FitCall::Train);
    };
    o.finish(&["tune"]).map_err(|_| {
        Error::invalid(
            "tune",
            "no model parameters beside it (tuning chooses them)",
            "model parameters",
        )
    })?;
    let mut t = Options::new(&field, style, tune)?;
    let mut opts = TuneOptions::default();
    if let Some(b) = t.f64("budget")? {
        opts.budget_secs = b;
    }
    opts.models = match t.strings("models")? {
        Some(m) => m,
        None if model == "auto" => Vec::new(),
        None => vec![model.to_string()],
    };
    if let Some(k) = t.usize("k")? {
        opts.k = k;
    }
    if let Some(n) = t.usize("max_users")? {
        opts.max_users = n;
    }
    if let Some(s) = t.usize("seed")? {
        opts.seed = s as u64;
    }
    t.finish(&["budget", "models", "k", "max_users", "seed"])?;
    Ok(FitCall::Tune(opts))
}

/// The model `name` with the core's defaults, overridden by these parameters; a parameter
/// the model does not take is an error naming the ones it does.
pub fn model_spec(name: &str, mut o: Options) -> Result<ModelSpec> {
    let mut spec = ModelSpec::parse(name)?;
    let known: &[&str] = match &mut spec {
        ModelSpec::Als(p) => {
            if let Some(v) = o.usize("factors")? {
                p.factors = v;
            }
            if let Some(v) = o.usize("iterations")? {
                p.iterations = v;
            }
            if let Some(v) = o.f64("regularization")? {
                p.regularization = v as f32;
            }
            if let Some(v) = o.f64("alpha")? {
                p.alpha = v as f32;
            }
            if let Some(v) = o.usize("cg_steps")? {
                p.cg_steps = v;
            }
            if let Some(v) = o.usize("seed")? {
                p.seed = v as u64;
            }
            if let Some(c) = o.string("confidence")? {
                p.confidence = Confidence::parse(&c)?;
            }
            &[
                "factors",
                "iterations",
                "regularization",
                "alpha",
                "confidence",
                "cg_steps",
                "seed",
            ]
        }
        ModelSpec::ItemKnn(p) => {
            if let Some(v) = o.usize("neighbours")? {
                p.neighbours = v;
            }
            if let Some(w) = o.string("weighting")? {
                p.weighting = KnnWeighting::parse(&w)?;
            }
            let (k1, b) = (o.f64("k1")?, o.f64("b")?);
            if let KnnWeighting::Bm25 { k1: pk1, b: pb } = &mut p.weighting {
                if let Some(k1) = k1 {
                    *pk1 = k1 as f32;
                }
                if let Some(b) = b {
                    *pb = b as f32;
                }
            } else if k1.is_some() || b.is_some() {
                return Err(Error::invalid(
                    o.field("k1"),
                    "k1 and b only with weighting \"bm25\"",
                    "k1 or b with another weighting",
                ));
            }
            &["neighbours", "weighting", "k1", "b"]
        }
        ModelSpec::Ease(p) => {
            if let Some(v) = o.f64("regularization")? {
                p.regularization = v as f32;
            }
            &["regularization"]
        }
        _ => &[],
    };
    o.finish(known)?;
    Ok(spec)
}

/// Interactions given as parallel lists (weights default to 1, timestamps to 0); every list
/// must have one entry per user id.
pub fn interactions(
    style: Style,
    users: Vec<String>,
    items: Vec<String>,
    weights: Option<Vec<f32>>,
    timestamps: Option<Vec<i64>>,
) -> Result<embedrec::eval::Interactions> {
    let n = users.len();
    for (key, len) in [
        ("item_ids", Some(items.len())),
        ("weights", weights.as_ref().map(Vec::len)),
        ("timestamps", timestamps.as_ref().map(Vec::len)),
    ] {
        if let Some(len) = len.filter(|&l| l != n) {
            return Err(Error::invalid(
                style.key(key),
                format!("{n} entries (one per user id)"),
                len,
            ));
        }
    }
    Ok(embedrec::eval::Interactions {
        weights: weights.unwrap_or_else(|| vec![1.0; n]),
        timestamps: timestamps.unwrap_or_else(|| vec![0; n]),
        users,
        items,
    })
}

/// Parameters of a split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitParams {
    /// Fraction of each user's interactions that goes to test (holdout only).
    pub test_fraction: f64,
    /// Users with fewer interactions stay whole in train.
    pub min_interactions: usize,
    /// Seed of the holdout's choice.
    pub seed: u64,
}

/// `holdout_split`'s options, over the core's defaults.
pub fn holdout_params(mut o: Options) -> Result<SplitParams> {
    let p = SplitParams {
        test_fraction: o.f64("test_fraction")?.unwrap_or(DEFAULT_TEST_FRACTION),
        min_interactions: o
            .usize("min_interactions")?
            .unwrap_or(DEFAULT_MIN_INTERACTIONS),
        seed: o.usize("seed")?.map_or(DEFAULT_SPLIT_SEED, |s| s as u64),
    };
    o.finish(&["test_fraction", "min_interactions", "seed"])?;
    Ok(p)
}

/// `leave_last_out`'s options, over the core's defaults.
pub fn leave_last_out_params(mut o: Options) -> Result<SplitParams> {
    let p = SplitParams {
        test_fraction: 0.0,
        min_interactions: o
            .usize("min_interactions")?
            .unwrap_or(DEFAULT_LEAVE_LAST_OUT_MIN),
        seed: 0,
    };
    o.finish(&["min_interactions"])?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, Value)]) -> Value {
        Value::Map(kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn engine_options_keep_the_core_defaults() {
        let c = engine_config(
            &Value::Num(8.0),
            Options::new(
                "options",
                Style::Camel,
                map(&[("efSearch", Value::Num(64.0))]),
            )
            .unwrap(),
        )
        .unwrap();
        let d = EngineConfig::new(8);
        assert_eq!(c.ef_search, 64);
        assert_eq!(c.m, d.m);
        assert_eq!(c.cache_capacity, d.cache_capacity);
        let bad = Options::new(
            "options",
            Style::Camel,
            map(&[("efSearh", Value::Num(1.0))]),
        );
        assert!(engine_config(&Value::Num(8.0), bad.unwrap()).is_err());
    }

    #[test]
    fn model_parameters_of_another_model_are_errors() {
        let o = Options::new("", Style::Snake, map(&[("factor", Value::Int(8))])).unwrap();
        let e = model_spec("als", o).unwrap_err().to_string();
        assert!(e.contains("factors") && e.contains("factor"), "{e}");
        let o = Options::new("", Style::Snake, map(&[("factors", Value::Int(8))])).unwrap();
        match model_spec("als", o).unwrap() {
            ModelSpec::Als(p) => assert_eq!(p.factors, 8),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ranges_read_from_both_forms() {
        let a = filter(
            "filter",
            Style::Snake,
            map(&[(
                "ranges",
                map(&[("year", Value::List(vec![Value::Int(1990), Value::Null]))]),
            )]),
        )
        .unwrap()
        .unwrap();
        let b = filter(
            "filter",
            Style::Camel,
            map(&[(
                "ranges",
                Value::List(vec![map(&[
                    ("attribute", Value::Str("year".into())),
                    ("min", Value::Num(1990.0)),
                ])]),
            )]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(a, b);
    }
}
