//! Training and evaluation helpers for Python: `holdout_split`, `leave_last_out` and the
//! interactions they take.

use crate::error::{run, to_py};
use crate::ids::ids_of;
use crate::value::{Timestamps, Weights, kwargs, to_py as to_py_value};
use embedrec::eval::Interactions;
use embedrec_host::{Options, Style};
use pyo3::prelude::*;
use pyo3::types::PyDict;

pub(crate) fn interactions(
    py: Python<'_>,
    users: Vec<String>,
    items: Vec<String>,
    weights: Option<Vec<f32>>,
    timestamps: Option<Vec<i64>>,
) -> PyResult<Interactions> {
    embedrec_host::interactions_from(Style::Snake, users, items, weights, timestamps)
        .map_err(|e| to_py(py, e))
}

/// A log from the Python arguments of a split: id sequences, optional weights and times.
fn log_of<'py>(
    py: Python<'py>,
    user_ids: &Bound<'py, PyAny>,
    item_ids: &Bound<'py, PyAny>,
    weights: Option<Weights<'py>>,
    timestamps: Option<Timestamps>,
) -> PyResult<Interactions> {
    let (users, items) = (ids_of(user_ids, "user_ids")?, ids_of(item_ids, "item_ids")?);
    let weights = weights.as_ref().map(|w| w.get().into_owned());
    interactions(py, users, items, weights, timestamps.map(|t| t.0))
}

type Split<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>);

fn split<'py>(py: Python<'py>, (a, b): (Interactions, Interactions)) -> PyResult<Split<'py>> {
    Ok((
        to_py_value(py, &embedrec_host::interactions(Style::Snake, &a))?,
        to_py_value(py, &embedrec_host::interactions(Style::Snake, &b))?,
    ))
}

/// Per-user random holdout split: for users with at least ``min_interactions`` interactions
/// (default 5), ``round(test_fraction * n)`` (default 0.2; at least 1) chosen with ``seed``
/// (default 42) go to test.
///
/// Returns:
///     ``(train, test)``: dicts with ``user_ids``, ``item_ids``, ``weights``, ``timestamps``.
#[pyfunction]
#[pyo3(signature = (user_ids, item_ids, weights=None, timestamps=None, **options))]
pub(crate) fn holdout_split<'py>(
    py: Python<'py>,
    user_ids: &Bound<'py, PyAny>,
    item_ids: &Bound<'py, PyAny>,
    weights: Option<Weights<'py>>,
    timestamps: Option<Timestamps>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Split<'py>> {
    let o = Options::new("", Style::Snake, kwargs(py, options)?).map_err(|e| to_py(py, e))?;
    let p = embedrec_host::holdout_params(o).map_err(|e| to_py(py, e))?;
    let d = log_of(py, user_ids, item_ids, weights, timestamps)?;
    let parts = run(py, || {
        embedrec::eval::holdout_split(&d, p.test_fraction, p.min_interactions, p.seed)
    })?;
    split(py, parts)
}

/// Leave-last-out split: each user's latest interaction (by timestamp) goes to test, for
/// users with at least ``min_interactions`` (default 2).
///
/// Returns:
///     ``(train, test)`` dicts, as ``holdout_split``.
#[pyfunction]
#[pyo3(signature = (user_ids, item_ids, weights=None, timestamps=None, **options))]
pub(crate) fn leave_last_out<'py>(
    py: Python<'py>,
    user_ids: &Bound<'py, PyAny>,
    item_ids: &Bound<'py, PyAny>,
    weights: Option<Weights<'py>>,
    timestamps: Option<Timestamps>,
    options: Option<&Bound<'py, PyDict>>,
) -> PyResult<Split<'py>> {
    let o = Options::new("", Style::Snake, kwargs(py, options)?).map_err(|e| to_py(py, e))?;
    let p = embedrec_host::leave_last_out_params(o).map_err(|e| to_py(py, e))?;
    let d = log_of(py, user_ids, item_ids, weights, timestamps)?;
    let parts = run(py, || {
        embedrec::eval::leave_last_out(&d, p.min_interactions)
    })?;
    split(py, parts)
}

/// Maps a cancellation caused by an exception in the Python callback back to that exception.
pub(crate) fn callback_error(py: Python<'_>, e: embedrec::Error, raised: Option<PyErr>) -> PyErr {
    match raised {
        Some(err) => err,
        None => to_py(py, e),
    }
}
