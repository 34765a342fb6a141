//! Python binding of embedrec: a thin PyO3 layer. Every method converts its arguments, calls
//! the core once through [`error::run`] (GIL released, panics caught), converts the result.

mod engine;
mod error;
mod filter;
mod ids;
mod log;
mod metrics;
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
    m.add_function(wrap_pyfunction!(metrics::metrics_text, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::write_worker_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::gather_worker_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(metrics::forget_worker_metrics, m)?)?;
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
