//! The one boundary helper of the Python binding: releases the GIL, catches panics, maps
//! `embedrec::Error` to the exception classes defined in `embedrec/errors.py`.

use embedrec::Error;
use pyo3::prelude::*;

/// Python class name (in `embedrec.errors`) for each core error kind.
fn class_name(e: &Error) -> &'static str {
    match e {
        Error::InvalidInput { .. } => "InvalidInputError",
        Error::DimensionMismatch { .. } => "DimensionMismatchError",
        Error::UnknownItem { .. } => "UnknownItemError",
        Error::UnknownUser { .. } => "UnknownUserError",
        Error::UnknownAttribute { .. } => "UnknownAttributeError",
        Error::CapacityExceeded { .. } => "CapacityExceededError",
        Error::Corrupt { .. } => "CorruptFileError",
        Error::UnsupportedVersion { .. } => "UnsupportedVersionError",
        Error::Io { .. } => "EmbedrecIOError",
        Error::ReadOnly { .. } => "ReadOnlyError",
        Error::Cancelled { .. } => "CancelledError",
        Error::Internal(_) => "InternalError",
        // Error is #[non_exhaustive]: kinds added later still surface as EmbedrecError.
        #[allow(unreachable_patterns)]
        _ => "EmbedrecError",
    }
}

/// Converts a core error into the matching Python exception.
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    let msg = e.to_string();
    let make = || -> PyResult<PyErr> {
        let module = py.import("embedrec.errors")?;
        let cls = module.getattr(class_name(&e))?;
        let inst = cls.call1((msg.clone(),))?;
        inst.setattr("code", e.code())?;
        Ok(PyErr::from_value(inst))
    };
    make().unwrap_or_else(|import_err| import_err)
}

/// Runs core work with the GIL released, catching panics (they become `InternalError`, an
/// `EmbedrecError`, never pyo3's `PanicException`).
pub(crate) fn run<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> embedrec::Result<T> + Send,
) -> PyResult<T> {
    run_raw(py, f).map_err(|e| to_py(py, e))
}

/// [`run`], returning the core's error (for a caller that maps it itself).
pub(crate) fn run_raw<T: Send>(
    py: Python<'_>,
    f: impl FnOnce() -> embedrec::Result<T> + Send,
) -> embedrec::Result<T> {
    py.detach(|| embedrec_host::guard(f))
}

/// An argument conversion error, raised as `InvalidInputError`.
pub(crate) fn invalid(
    py: Python<'_>,
    field: &str,
    expected: &str,
    got: impl std::fmt::Display,
) -> PyErr {
    to_py(
        py,
        Error::InvalidInput {
            field: field.to_string(),
            expected: expected.to_string(),
            got: got.to_string(),
        },
    )
}
