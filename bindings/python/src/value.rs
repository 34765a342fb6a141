//! Python objects to the shared layer's [`Value`] and its shaped results back to Python.

use embedrec_host::Value;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyMapping, PyString, PyTuple};

/// Any Python object as a [`Value`]: `None`, `bool`, `int` (exact, up to 128 bits; numpy
/// integers too), `float` (numpy floats too), `str`, mappings and sequences (lists, tuples,
/// numpy arrays). Anything else is an error naming `field`.
pub(crate) fn value(py: Python<'_>, field: &str, obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>()
        || obj.hasattr("__index__")? && !obj.is_instance_of::<PyFloat>()
    {
        if let Ok(i) = obj.extract::<i128>() {
            return Ok(Value::Int(i));
        }
        if obj.is_instance_of::<PyInt>() {
            return Err(crate::error::invalid(
                py,
                field,
                "an integer of at most 128 bits",
                "a larger integer",
            ));
        }
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::Str(s.to_cow()?.into_owned()));
    }
    if (obj.is_instance_of::<PyFloat>() || obj.hasattr("__float__")? && !obj.hasattr("__len__")?)
        && let Ok(x) = obj.extract::<f64>()
    {
        return Ok(Value::Num(x));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return map(py, field, d.iter());
    }
    if let Ok(m) = obj.cast::<PyMapping>() {
        let items = m.items()?;
        return map(
            py,
            field,
            items.iter().map(|kv| {
                let kv = kv.cast_into::<PyTuple>().expect("mapping items are pairs");
                (kv.get_item(0).expect("key"), kv.get_item(1).expect("value"))
            }),
        );
    }
    if obj.hasattr("tolist")? {
        // numpy arrays and pandas objects: their elements as Python values.
        return value(py, field, &obj.call_method0("tolist")?);
    }
    if obj.is_instance_of::<PyList>()
        || obj.is_instance_of::<PyTuple>()
        || obj.hasattr("__iter__")?
    {
        let mut out = Vec::new();
        for (i, x) in obj.try_iter()?.enumerate() {
            out.push(value(py, &format!("{field}[{i}]"), &x?)?);
        }
        return Ok(Value::List(out));
    }
    Err(crate::error::invalid(
        py,
        field,
        "None, a bool, a number, a string, a list or a dict",
        obj.get_type().name()?,
    ))
}

fn map<'py>(
    py: Python<'py>,
    field: &str,
    items: impl Iterator<Item = (Bound<'py, PyAny>, Bound<'py, PyAny>)>,
) -> PyResult<Value> {
    let mut out = Vec::new();
    for (k, v) in items {
        let k: String = k.extract().map_err(|_| {
            crate::error::invalid(
                py,
                field,
                "string keys",
                k.repr().map(|r| r.to_string()).unwrap_or_default(),
            )
        })?;
        let f = format!("{field}[{k:?}]");
        out.push((k, value(py, &f, &v)?));
    }
    Ok(Value::Map(out))
}

/// Keyword arguments as a [`Value::Map`] (none: an empty one).
pub(crate) fn kwargs(py: Python<'_>, kw: Option<&Bound<'_, PyDict>>) -> PyResult<Value> {
    match kw {
        None => Ok(Value::Map(Vec::new())),
        Some(d) => map(py, "", d.iter()),
    }
}

/// A shaped result as Python objects: objects become dicts, arrays lists.
pub(crate) fn to_py<'py>(py: Python<'py>, v: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => py.None().into_bound(py),
        J::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        J::Number(n) => {
            if let Some(i) = n.as_u64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        J::String(s) => PyString::new(py, s).into_any(),
        J::Array(a) => {
            let l = PyList::empty(py);
            for x in a {
                l.append(to_py(py, x)?)?;
            }
            l.into_any()
        }
        J::Object(m) => {
            let d = PyDict::new(py);
            for (k, x) in m {
                d.set_item(k, to_py(py, x)?)?;
            }
            d.into_any()
        }
    })
}

/// An integer argument (`k`, `ef`, `threads`) exactly as the caller gave it, checked by the
/// shared layer when used: never wrapped, and an error names the argument.
pub(crate) struct Int(pub(crate) Value);

impl<'a, 'py> FromPyObject<'a, 'py> for Int {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Int(value(obj.py(), "argument", &obj)?))
    }
}

impl Int {
    /// The integer as a `usize`, or an error naming `field`.
    pub(crate) fn usize(&self, py: Python<'_>, field: &str) -> PyResult<usize> {
        embedrec_host::to_usize(field, &self.0).map_err(|e| crate::error::to_py(py, e))
    }
}

impl Int {
    /// `k` when the caller gives none.
    pub(crate) fn default_k() -> Int {
        Int(Value::Int(embedrec_host::DEFAULT_K as i128))
    }
}

/// Interaction weights: a numpy numeric array (a float32 one is read in place, others are
/// converted once) or a sequence of numbers. The core checks the values.
pub(crate) enum Weights<'py> {
    List(Vec<f32>),
    Array(numpy::PyReadonlyArray1<'py, f32>),
}

impl Weights<'_> {
    /// The weights as one slice (copied only from a strided array).
    pub(crate) fn get(&self) -> std::borrow::Cow<'_, [f32]> {
        match self {
            Weights::List(v) => v.as_slice().into(),
            Weights::Array(a) => match a.as_slice() {
                Ok(s) => s.into(),
                Err(_) => a.as_array().to_vec().into(),
            },
        }
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for Weights<'py> {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        use numpy::{PyArray1, PyArrayMethods};
        if let Ok(kind) = obj.getattr("dtype").and_then(|d| d.getattr("kind"))
            && matches!(kind.extract::<String>().as_deref(), Ok("f" | "i" | "u"))
        {
            let np = obj.py().import("numpy")?;
            let a = np.call_method1("asarray", (obj, np.getattr("float32")?))?;
            if let Ok(a) = a.cast_into::<PyArray1<f32>>() {
                return Ok(Weights::Array(a.readonly()));
            }
        }
        obj.extract::<Vec<f32>>().map(Weights::List)
    }
}

/// Timestamps (whole seconds): a sequence of integers, read fast when every one fits an
/// `i64`; otherwise each is checked so that the error names the one at fault.
pub(crate) struct Timestamps(pub(crate) Vec<i64>);

impl<'a, 'py> FromPyObject<'a, 'py> for Timestamps {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(v) = obj.extract::<Vec<i64>>() {
            return Ok(Timestamps(v));
        }
        let py = obj.py();
        if let Some(v) = datetimes(&obj)? {
            return Ok(Timestamps(v));
        }
        match value(py, "timestamps", &obj)? {
            Value::List(xs) => xs
                .iter()
                .enumerate()
                .map(|(i, x)| embedrec_host::to_i64(&format!("timestamps[{i}]"), x))
                .collect::<embedrec::Result<Vec<i64>>>()
                .map(Timestamps)
                .map_err(|e| crate::error::to_py(py, e)),
            other => Err(crate::error::invalid(
                py,
                "timestamps",
                "a sequence of integers (seconds)",
                other.describe(),
            )),
        }
    }
}

/// Timestamps given as dates: a numpy `datetime64` array or a pandas datetime column (whole
/// seconds since the Unix epoch, truncated), or a sequence of `datetime` / pandas
/// `Timestamp` objects (their `timestamp()`). `None` for anything else; a missing date
/// (`NaT`) is an error naming its row.
fn datetimes(obj: &Bound<'_, PyAny>) -> PyResult<Option<Vec<i64>>> {
    let py = obj.py();
    let np = py.import("numpy")?;
    let is_dates = obj
        .getattr("dtype")
        .and_then(|d| d.getattr("kind"))
        .and_then(|k| k.extract::<String>())
        .is_ok_and(|k| k == "M");
    let first_is_date = !is_dates
        && obj.len().is_ok_and(|n| n > 0)
        && obj.get_item(0).is_ok_and(|x| {
            x.hasattr("timestamp").unwrap_or(false) && !x.is_instance_of::<PyString>()
        });
    if !is_dates && !first_is_date {
        return Ok(None);
    }
    let a = if is_dates {
        np.call_method1("asarray", (obj,))?
            .call_method1("astype", ("datetime64[s]",))?
    } else {
        let secs = obj.try_iter()?.enumerate().map(|(i, x)| {
            let x = x?;
            x.call_method0("timestamp")
                .and_then(|t| t.extract::<f64>())
                .map_err(|_| {
                    crate::error::invalid(
                        py,
                        &format!("timestamps[{i}]"),
                        "a date (datetime or pandas Timestamp) like the first one",
                        x.get_type()
                            .name()
                            .map(|n| n.to_string())
                            .unwrap_or_default(),
                    )
                })
                .map(|t| t.floor())
        });
        let secs = secs.collect::<PyResult<Vec<f64>>>()?;
        np.call_method1("asarray", (secs,))?
            .call_method1("astype", ("datetime64[s]",))?
    };
    let nat = np.call_method1("isnat", (&a,))?;
    if let Some(i) = np
        .call_method1("flatnonzero", (nat,))?
        .extract::<Vec<usize>>()?
        .first()
    {
        return Err(crate::error::invalid(
            py,
            &format!("timestamps[{i}]"),
            "a date",
            "NaT (a missing date)",
        ));
    }
    Ok(Some(a.call_method1("astype", ("int64",))?.extract()?))
}
