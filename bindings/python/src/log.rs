//! The `embedrec` logger of Python's standard `logging`: long operations (load, open, save,
//! fit, evaluate, checkpoints, large writes) report what they did and how long it took.
//! The package attaches only a `NullHandler`, so nothing is shown unless the host configures
//! logging. A failure to log never fails the call.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::time::Instant;

/// `logging.DEBUG` and `logging.INFO`.
pub(crate) const DEBUG: i32 = 10;
pub(crate) const INFO: i32 = 20;

static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn logger(py: Python<'_>) -> Option<&Bound<'_, PyAny>> {
    LOGGER
        .get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            let l = py
                .import("logging")?
                .call_method1("getLogger", ("embedrec",))?;
            Ok(l.unbind())
        })
        .ok()
        .map(|l| l.bind(py))
}

/// Logs `msg()` at `level` when the logger passes that level (`msg` is not built otherwise).
pub(crate) fn log(py: Python<'_>, level: i32, msg: impl FnOnce() -> String) {
    let Some(l) = logger(py) else { return };
    let on = l
        .call_method1("isEnabledFor", (level,))
        .and_then(|b| b.extract::<bool>())
        .unwrap_or(false);
    if on {
        let _ = l.call_method1("log", (level, msg()));
    }
}

/// Runs `f`; on success logs `what(result)` with the time it took.
pub(crate) fn timed<T>(
    py: Python<'_>,
    level: i32,
    what: impl FnOnce(&T) -> String,
    f: impl FnOnce() -> PyResult<T>,
) -> PyResult<T> {
    let start = Instant::now();
    let out = f()?;
    log(py, level, || {
        format!("{} in {:.3} s", what(&out), start.elapsed().as_secs_f64())
    });
    Ok(out)
}
