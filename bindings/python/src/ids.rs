//! Ids from Python and back: a `str`, or an `int` (numpy integers too), stored in the
//! core's integer form so that an integer comes back as an `int` (see `embedrec_host::id`).

use crate::error::to_py;
use embedrec::IdColumn;
use numpy::{PyArray1, PyArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyString};

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// One id: a `str` or an integer (`bool` is refused).
pub(crate) fn id_of(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<String> {
    let py = obj.py();
    if let Ok(s) = obj.cast::<PyString>() {
        return embedrec_host::str_id(field, s.to_cow()?.into_owned()).map_err(|e| to_py(py, e));
    }
    if !obj.is_instance_of::<PyBool>()
        && (obj.is_instance_of::<PyInt>() || obj.hasattr("__index__")?)
    {
        return match obj.extract::<i64>() {
            Ok(i) => Ok(embedrec::int_id(i)),
            Err(_) => Err(to_py(
                py,
                embedrec::Error::invalid(
                    field,
                    "an integer id within the 64-bit signed range",
                    obj.str()?.to_cow()?,
                ),
            )),
        };
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "{field}: expected str or int, got {}",
        type_name(obj)
    )))
}

/// A sequence of ids (`str` or `int`, mixed or not; a numpy integer array is read at once).
/// A lone `str` is not taken for a sequence of one-letter ids.
pub(crate) fn ids_of(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Vec<String>> {
    if let Some(a) = int_array(obj, field)? {
        let a = a.readonly();
        return Ok(a.as_array().iter().map(|&i| embedrec::int_id(i)).collect());
    }
    let mut out = Vec::with_capacity(obj.len().unwrap_or(0));
    for (i, x) in obj.try_iter()?.enumerate() {
        out.push(item_id(&x?, field, i)?);
    }
    Ok(out)
}

/// A long column of ids (an interaction log's users or items), accepted as [`ids_of`]
/// accepts them and dictionary-encoded: each distinct id is converted and stored once.
pub(crate) fn column_of(obj: &Bound<'_, PyAny>, field: &str) -> PyResult<IdColumn> {
    if let Some(a) = int_array(obj, field)? {
        let a = a.readonly();
        let rows = a.as_array();
        return IdColumn::try_from_keys(rows.iter().map(|&i| Ok::<i64, PyErr>(i)), |&i| {
            embedrec::int_id(i)
        });
    }
    let rows = obj.try_iter()?.enumerate();
    IdColumn::try_from_keys(rows.map(|(i, x)| item_id(&x?, field, i)), String::clone)
}

/// A numpy integer array as int64 (one conversion, none when it already is), `None` for
/// anything else; refuses a lone `str`.
fn int_array<'py>(
    obj: &Bound<'py, PyAny>,
    field: &str,
) -> PyResult<Option<Bound<'py, PyArray1<i64>>>> {
    if obj.is_instance_of::<PyString>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{field}: expected a sequence of ids, got a single str"
        )));
    }
    if let Ok(kind) = obj.getattr("dtype").and_then(|d| d.getattr("kind"))
        && matches!(kind.extract::<String>().as_deref(), Ok("i" | "u"))
    {
        let np = obj.py().import("numpy")?;
        let a = np.call_method1("asarray", (obj, np.getattr("int64")?))?;
        return Ok(a.cast_into::<PyArray1<i64>>().ok());
    }
    Ok(None)
}

/// Element `i` of a sequence of ids; the row's name is formatted only for an error.
fn item_id(x: &Bound<'_, PyAny>, field: &str, i: usize) -> PyResult<String> {
    id_of(x, field).or_else(|_| id_of(x, &format!("{field}[{i}]")))
}

/// A stored id as Python gets it back: an `int` for an integer id, else a `str`.
pub(crate) fn py_id<'py>(py: Python<'py>, stored: &str) -> Bound<'py, PyAny> {
    match embedrec_host::host_id(stored) {
        embedrec_host::HostId::Int(i) => i.into_pyobject(py).expect("infallible").into_any(),
        embedrec_host::HostId::Str(s) => PyString::new(py, s).into_any(),
    }
}

/// Stored ids as a Python list.
pub(crate) fn py_ids<'py, S: AsRef<str>>(py: Python<'py>, ids: &[S]) -> Vec<Bound<'py, PyAny>> {
    ids.iter().map(|s| py_id(py, s.as_ref())).collect()
}
