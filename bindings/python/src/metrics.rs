//! Prometheus expositions of several engines, and of the workers of a multi-process server.

use crate::engine::PyEngine;
use crate::{error, value};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// `{name: engine}` read as named engines.
fn named<'py>(
    py: Python<'py>,
    engines: &Bound<'py, PyDict>,
) -> PyResult<Vec<(String, Bound<'py, PyEngine>)>> {
    let mut named = Vec::with_capacity(engines.len());
    for (name, engine) in engines.iter() {
        let name: String = name.extract()?;
        let engine = engine.cast_into::<PyEngine>().map_err(|e| {
            error::invalid(
                py,
                &format!("engines[{name:?}]"),
                "an Engine",
                e.into_inner()
                    .get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
            )
        })?;
        named.push((name, engine));
    }
    Ok(named)
}

fn pairs<'a>(named: &'a [(String, Bound<'_, PyEngine>)]) -> Vec<(&'a str, &'a embedrec::Engine)> {
    named
        .iter()
        .map(|(n, e)| (n.as_str(), &e.get().inner))
        .collect()
}

/// Prometheus text exposition of several engines, ``{name: engine}``: each family's HELP
/// and TYPE once, every sample labelled ``engine="<name>"``. ``pid=True`` adds
/// ``pid="<process id>"``, so that the workers of a multi-process server give distinct
/// series. Latencies are histograms with fixed buckets, which add up across engines and
/// processes.
#[pyfunction]
#[pyo3(signature = (engines, **options))]
pub(crate) fn metrics_text(
    py: Python<'_>,
    engines: &Bound<'_, PyDict>,
    options: Option<&Bound<'_, PyDict>>,
) -> PyResult<String> {
    let o =
        embedrec_host::Options::new("", embedrec_host::Style::Snake, value::kwargs(py, options)?)
            .and_then(embedrec_host::exposition_options)
            .map_err(|e| error::to_py(py, e))?;
    let named = named(py, engines)?;
    let pairs = pairs(&named);
    error::run(py, || embedrec::metrics_text(&pairs, &o))
}

/// Writes this worker's exposition of ``{name: engine}`` (``pid`` label on) to
/// ``directory/embedrec-<pid>.prom``, atomically (the directory is created if missing);
/// returns the file. Every worker of a multi-process server calls it now and then (and
/// before answering a scrape); ``gather_worker_metrics`` then returns all of them.
#[pyfunction]
pub(crate) fn write_worker_metrics(
    py: Python<'_>,
    directory: PathBuf,
    engines: &Bound<'_, PyDict>,
) -> PyResult<PathBuf> {
    let named = named(py, engines)?;
    let pairs = pairs(&named);
    error::run(py, || {
        embedrec::persist::write_worker_metrics(&directory, &pairs)
    })
}

/// Every worker's exposition in ``directory``, merged: each family's HELP and TYPE once,
/// each worker's samples with its ``pid`` label. Files of workers that no longer run are
/// removed (Linux).
#[pyfunction]
pub(crate) fn gather_worker_metrics(py: Python<'_>, directory: PathBuf) -> PyResult<String> {
    error::run(py, || embedrec::persist::gather_worker_metrics(&directory))
}

/// Removes worker ``pid``'s file from ``directory`` (call it when a worker exits).
#[pyfunction]
pub(crate) fn forget_worker_metrics(
    py: Python<'_>,
    directory: PathBuf,
    pid: value::Int,
) -> PyResult<()> {
    let pid = pid.usize(py, "pid")?;
    let pid = u32::try_from(pid)
        .map_err(|_| error::invalid(py, "pid", "a process id (at most 4294967295)", pid))?;
    error::run(py, || {
        embedrec::persist::forget_worker_metrics(&directory, pid)
    })
}
