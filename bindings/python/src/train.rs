//! Training and evaluation for Python: `Engine.fit`, `Engine.evaluate`, `holdout_split`,
//! `leave_last_out`.

use crate::error::{invalid, run, to_py};
use embedrec::eval::Interactions;
use embedrec::{Confidence, KnnWeighting, ModelSpec, Progress};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Builds a model spec from a name and keyword arguments: the core's defaults for that model,
/// overridden by the keywords given; unknown keys are an error.
pub(crate) fn spec(
    py: Python<'_>,
    model: &str,
    kw: Option<&Bound<'_, PyDict>>,
) -> PyResult<ModelSpec> {
    let mut spec = ModelSpec::parse(model).map_err(|e| to_py(py, e))?;
    let mut used: Vec<&str> = Vec::new();
    let mut get = |key: &'static str| -> Option<Bound<'_, PyAny>> {
        used.push(key);
        kw.and_then(|d| d.get_item(key).ok().flatten())
    };
    macro_rules! set {
        ($target:expr, $key:literal) => {
            if let Some(v) = get($key) {
                $target = v.extract()?;
            }
        };
    }
    match &mut spec {
        ModelSpec::Als(p) => {
            set!(p.factors, "factors");
            set!(p.iterations, "iterations");
            set!(p.regularization, "regularization");
            set!(p.alpha, "alpha");
            set!(p.cg_steps, "cg_steps");
            set!(p.seed, "seed");
            if let Some(v) = get("confidence") {
                p.confidence =
                    Confidence::parse(&v.extract::<String>()?).map_err(|e| to_py(py, e))?;
            }
        }
        ModelSpec::ItemKnn(p) => {
            set!(p.neighbours, "neighbours");
            if let Some(v) = get("weighting") {
                p.weighting =
                    KnnWeighting::parse(&v.extract::<String>()?).map_err(|e| to_py(py, e))?;
            }
            if let KnnWeighting::Bm25 { k1, b } = &mut p.weighting {
                set!(*k1, "k1");
                set!(*b, "b");
            }
        }
        ModelSpec::Ease(p) => set!(p.regularization, "regularization"),
        _ => {}
    }
    if let Some(d) = kw {
        for k in d.keys() {
            let k: String = k.extract()?;
            if !used.contains(&k.as_str()) {
                return Err(invalid(
                    py,
                    &format!("fit({model:?}) argument"),
                    &format!("one of {used:?}"),
                    format!("{k:?}"),
                ));
            }
        }
    }
    Ok(spec)
}

pub(crate) fn progress_dict<'py>(py: Python<'py>, p: &Progress) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("model", p.model)?;
    d.set_item("iteration", p.iteration)?;
    d.set_item("total", p.total)?;
    d.set_item("elapsed", p.elapsed_secs)?;
    d.set_item("loss", p.loss)?;
    Ok(d)
}

pub(crate) fn interactions(
    py: Python<'_>,
    users: Vec<String>,
    items: Vec<String>,
    weights: Option<Vec<f32>>,
    timestamps: Option<Vec<i64>>,
) -> PyResult<Interactions> {
    let n = users.len();
    if items.len() != n {
        return Err(invalid(
            py,
            "item_ids",
            &format!("{n} entries (one per user id)"),
            items.len(),
        ));
    }
    Ok(Interactions {
        weights: weights.unwrap_or_else(|| vec![1.0; n]),
        timestamps: timestamps.unwrap_or_else(|| vec![0; n]),
        users,
        items,
    })
}

fn as_dict<'py>(py: Python<'py>, d: Interactions) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    out.set_item("user_ids", d.users)?;
    out.set_item("item_ids", d.items)?;
    out.set_item("weights", d.weights)?;
    out.set_item("timestamps", d.timestamps)?;
    Ok(out)
}

/// Per-user random holdout split: for users with at least ``min_interactions`` interactions,
/// ``round(test_fraction * n)`` (at least 1) chosen with ``seed`` go to test.
///
/// Returns:
///     ``(train, test)``: dicts with ``user_ids``, ``item_ids``, ``weights``, ``timestamps``.
#[pyfunction]
#[pyo3(signature = (user_ids, item_ids, weights=None, timestamps=None, *, test_fraction=0.2, min_interactions=5, seed=42))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn holdout_split<'py>(
    py: Python<'py>,
    user_ids: Vec<String>,
    item_ids: Vec<String>,
    weights: Option<Vec<f32>>,
    timestamps: Option<Vec<i64>>,
    test_fraction: f64,
    min_interactions: usize,
    seed: u64,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let d = interactions(py, user_ids, item_ids, weights, timestamps)?;
    let (a, b) = run(py, || {
        embedrec::eval::holdout_split(&d, test_fraction, min_interactions, seed)
    })?;
    Ok((as_dict(py, a)?, as_dict(py, b)?))
}

/// Leave-last-out split: each user's latest interaction (by timestamp) goes to test.
///
/// Returns:
///     ``(train, test)`` dicts, as ``holdout_split``.
#[pyfunction]
#[pyo3(signature = (user_ids, item_ids, weights=None, timestamps=None, *, min_interactions=2))]
pub(crate) fn leave_last_out<'py>(
    py: Python<'py>,
    user_ids: Vec<String>,
    item_ids: Vec<String>,
    weights: Option<Vec<f32>>,
    timestamps: Option<Vec<i64>>,
    min_interactions: usize,
) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>)> {
    let d = interactions(py, user_ids, item_ids, weights, timestamps)?;
    let (a, b) = run(py, || embedrec::eval::leave_last_out(&d, min_interactions))?;
    Ok((as_dict(py, a)?, as_dict(py, b)?))
}

pub(crate) fn metrics_dict<'py>(
    py: Python<'py>,
    m: embedrec::eval::RankingMetrics,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("k", m.k)?;
    d.set_item("users", m.users)?;
    d.set_item("precision", m.precision)?;
    d.set_item("recall", m.recall)?;
    d.set_item("ndcg", m.ndcg)?;
    d.set_item("map", m.map)?;
    d.set_item("hit_rate", m.hit_rate)?;
    d.set_item("coverage", m.coverage)?;
    Ok(d)
}

/// Maps a cancellation caused by an exception in the Python callback back to that exception.
pub(crate) fn callback_error(py: Python<'_>, e: embedrec::Error, raised: Option<PyErr>) -> PyErr {
    match raised {
        Some(err) => err,
        None => to_py(py, e),
    }
}
