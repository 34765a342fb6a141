//! Python binding of embedrec: a thin PyO3 layer. Every method converts its arguments, calls
//! the core once through [`error::run`] (GIL released, panics caught), converts the result.

mod engine;
mod error;
mod filter;
mod ids;
mod log;
mod sharded;
mod train;
mod value;

use pyo3::prelude::*;

/// Native part of the `embedrec` package.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::PyEngine>()?;
    m.add_class::<filter::PyFilter>()?;
    m.add_class::<sharded::PyShardedEngine>()?;
    m.add_function(wrap_pyfunction!(train::holdout_split, m)?)?;
    m.add_function(wrap_pyfunction!(train::leave_last_out, m)?)?;
    m.add("FORMAT_VERSION", embedrec::persist::FORMAT_VERSION)?;
    m.add_function(wrap_pyfunction!(simd_level, m)?)?;
    m.add_function(wrap_pyfunction!(metrics_text, m)?)?;
    m.add_function(wrap_pyfunction!(_debug_panic, m)?)?;
    Ok(())
}

/// Test hook, not part of the API: a panic inside the core boundary (must raise
/// InternalError).
#[pyfunction]
fn _debug_panic(py: Python<'_>) -> PyResult<()> {
    error::run(py, || -> embedrec::Result<()> {
        panic!("deliberate panic for tests")
    })
}

/// Distance kernels chosen for this CPU at run time: "avx512", "avx2+fma", "neon" or "scalar".
#[pyfunction]
fn simd_level() -> &'static str {
    embedrec::simd_level()
}

/// Prometheus text exposition of several engines, ``{name: engine}``: each family's HELP
/// and TYPE once, every sample labelled ``engine="<name>"``. ``pid=True`` adds
/// ``pid="<process id>"``, so that the workers of a multi-process server give distinct
/// series. Latencies are histograms with fixed buckets, which add up across engines and
/// processes.
#[pyfunction]
#[pyo3(signature = (engines, **options))]
fn metrics_text(
    py: Python<'_>,
    engines: &Bound<'_, pyo3::types::PyDict>,
    options: Option<&Bound<'_, pyo3::types::PyDict>>,
) -> PyResult<String> {
    let o =
        embedrec_host::Options::new("", embedrec_host::Style::Snake, value::kwargs(py, options)?)
            .and_then(embedrec_host::exposition_options)
            .map_err(|e| error::to_py(py, e))?;
    let mut named = Vec::with_capacity(engines.len());
    for (name, engine) in engines.iter() {
        let name: String = name.extract()?;
        let engine = engine.cast_into::<engine::PyEngine>().map_err(|e| {
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
    let pairs: Vec<(&str, &embedrec::Engine)> = named
        .iter()
        .map(|(n, e)| (n.as_str(), &e.get().inner))
        .collect();
    error::run(py, || embedrec::metrics_text(&pairs, &o))
}
