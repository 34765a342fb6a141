//! `embedrec.Filter`.

use crate::error::to_py;
use crate::value::kwargs;
use embedrec::Filter;
use embedrec_host::Style;
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Which items a query may return; every condition must hold.
///
/// Args:
///     tags_any: the item has at least one of these tags.
///     tags_all: the item has all of these tags.
///     tags_none: the item has none of these tags.
///     ranges: ``{attribute: (min, max)}``, inclusive; ``None`` for an open bound.
///     allow_ids: only these ids may be returned.
///     deny_ids: these ids are never returned.
///
/// Example:
///     >>> Filter(tags_any=["rock"], ranges={"year": (1990, None)})
///     Filter(tags_any=['rock'], ranges={'year': (1990.0, None)})
#[pyclass(name = "Filter", module = "embedrec", frozen, from_py_object)]
#[derive(Clone)]
pub(crate) struct PyFilter {
    pub(crate) inner: Filter,
}

#[pymethods]
impl PyFilter {
    #[new]
    #[pyo3(signature = (**options))]
    fn new(py: Python<'_>, options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let v = kwargs(py, options)?;
        let inner = embedrec_host::filter("Filter", Style::Snake, v)
            .map_err(|e| to_py(py, e))?
            .unwrap_or_default();
        Ok(PyFilter { inner })
    }

    fn __repr__(&self) -> String {
        let f = &self.inner;
        let mut parts = Vec::new();
        let list = |v: &[String]| {
            format!(
                "[{}]",
                v.iter()
                    .map(|s| format!("'{s}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let num = |x: Option<f64>| x.map_or("None".to_string(), |v| format!("{v:?}"));
        if !f.tags_any.is_empty() {
            parts.push(format!("tags_any={}", list(&f.tags_any)));
        }
        if !f.tags_all.is_empty() {
            parts.push(format!("tags_all={}", list(&f.tags_all)));
        }
        if !f.tags_none.is_empty() {
            parts.push(format!("tags_none={}", list(&f.tags_none)));
        }
        if !f.ranges.is_empty() {
            let r: Vec<String> = f
                .ranges
                .iter()
                .map(|r| format!("'{}': ({}, {})", r.attribute, num(r.min), num(r.max)))
                .collect();
            parts.push(format!("ranges={{{}}}", r.join(", ")));
        }
        if let Some(a) = &f.allow_ids {
            parts.push(format!("allow_ids={}", list(a)));
        }
        if !f.deny_ids.is_empty() {
            parts.push(format!("deny_ids={}", list(&f.deny_ids)));
        }
        format!("Filter({})", parts.join(", "))
    }
}
