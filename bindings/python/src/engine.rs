//! `embedrec.Engine`.

use crate::error::{invalid, run, to_py};
use crate::filter::PyFilter;
use crate::ids::{column_of, id_of, ids_of, py_id, py_ids};
use crate::log;
use crate::value::{Int, Timestamps, Weights, kwargs, to_py as to_py_value, value};
use embedrec::ndarray::{Array2, ArrayView2};
use embedrec::{Answer, Engine, Filter, Hit, ItemAttrs, RecommendOptions};
use embedrec_host::{Attributes, FitCall, Options, Style};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use std::collections::HashMap;

pub(crate) type PyHits<'py> = Vec<(Bound<'py, PyAny>, f32)>;
type PyRows<'py> = (Vec<Bound<'py, PyAny>>, Bound<'py, PyArray2<f32>>);

fn rows(py: Python<'_>, r: embedrec::Rows) -> PyResult<PyRows<'_>> {
    Ok((py_ids(py, &r.ids), PyArray2::from_owned_array(py, r.values)))
}

/// Host ids copied into one buffer: one allocation per batch rather than one per id, so a
/// large upsert leaves no scattered small blocks behind in the heap.
struct IdBatch {
    text: String,
    ends: Vec<usize>,
}

impl IdBatch {
    fn extract(ids: &Bound<'_, PyAny>, field: &str) -> PyResult<Self> {
        let ids = ids_of(ids, field)?;
        let mut batch = IdBatch {
            text: String::with_capacity(ids.iter().map(String::len).sum()),
            ends: Vec::with_capacity(ids.len()),
        };
        for id in ids {
            batch.text.push_str(&id);
            batch.ends.push(batch.text.len());
        }
        Ok(batch)
    }

    fn strs(&self) -> Vec<&str> {
        let mut start = 0;
        self.ends
            .iter()
            .map(|&end| {
                let s = &self.text[start..end];
                start = end;
                s
            })
            .collect()
    }
}

pub(crate) fn hits(py: Python<'_>, h: Vec<Hit>) -> PyHits<'_> {
    h.into_iter().map(|h| (py_id(py, &h.id), h.score)).collect()
}

/// "loaded 1,000 items (ALS) from path" for the log.
fn opened(how: &str, e: &Engine, path: &std::path::Path) -> String {
    let model = e
        .model_name()
        .map(|m| format!(" ({m})"))
        .unwrap_or_default();
    format!("{how} {} items{model} from {}", e.len(), path.display())
}

/// A query's answer as Python: `[(id, score), ...]`, or
/// `[(id, score, {"tags": [...], "attributes": {...}}), ...]` with metadata.
pub(crate) fn answer_py(py: Python<'_>, a: Answer) -> PyResult<Bound<'_, PyList>> {
    match a {
        Answer::Described(h) => {
            let rows = h.into_iter().map(|(h, a)| {
                metadata(py, a).and_then(|m| (py_id(py, &h.id), h.score, m).into_pyobject(py))
            });
            PyList::new(py, rows.collect::<PyResult<Vec<_>>>()?)
        }
        Answer::Hits(h) => PyList::new(py, hits(py, h)),
    }
}

/// An item's metadata as `{"tags": [...], "attributes": {name: value}}`.
pub(crate) fn metadata(py: Python<'_>, a: ItemAttrs) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("tags", a.tags)?;
    d.set_item("attributes", a.numbers.into_py_dict(py)?)?;
    Ok(d)
}

/// Reads any array-like as a 2-D float32 array: float32 numpy arrays are read without a copy
/// (strided ones too); anything else goes through `numpy.asarray(x, dtype=float32)`.
fn f32_2d<'py>(
    py: Python<'py>,
    obj: &Bound<'py, PyAny>,
    field: &str,
    one_d_ok: bool,
) -> PyResult<PyReadonlyArray2<'py, f32>> {
    if let Ok(a) = obj.cast::<PyArray2<f32>>() {
        return Ok(a.readonly());
    }
    let np = py.import("numpy")?;
    let arr = np
        .call_method(
            "asarray",
            (obj,),
            Some(&[("dtype", np.getattr("float32")?)].into_py_dict(py)?),
        )
        .map_err(|e| invalid(py, field, "an array of numbers convertible to float32", e))?;
    let ndim: usize = arr.getattr("ndim")?.extract()?;
    let arr = if ndim == 1 && one_d_ok {
        arr.call_method1("reshape", (1, -1))?
    } else {
        arr
    };
    arr.cast_into::<PyArray2<f32>>()
        .map(|a| a.readonly())
        .map_err(|_| {
            invalid(
                py,
                field,
                if one_d_ok {
                    "a 1-D or 2-D array"
                } else {
                    "a 2-D array of shape (n, dim)"
                },
                format!("{ndim}-D"),
            )
        })
}

use pyo3::types::IntoPyDict;

pub(crate) fn f32_1d(py: Python<'_>, obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Vec<f32>> {
    let a = f32_2d(py, obj, field, true)?;
    if a.shape()[0] != 1 {
        return Err(invalid(
            py,
            field,
            "a 1-D vector",
            format!("shape {:?}", a.shape()),
        ));
    }
    Ok(a.as_array().row(0).to_vec())
}

pub(crate) fn filter_of(
    filter: Option<&Bound<'_, PyAny>>,
    py: Python<'_>,
) -> PyResult<Option<Filter>> {
    match filter {
        None => Ok(None),
        Some(f) if f.is_none() => Ok(None),
        Some(f) => {
            if let Ok(pf) = f.cast::<PyFilter>() {
                return Ok(Some(pf.get().inner.clone()));
            }
            if f.cast::<PyDict>().is_ok() {
                let v = value(py, "filter", f)?;
                return embedrec_host::filter("filter", Style::Snake, v).map_err(|e| to_py(py, e));
            }
            Err(invalid(
                py,
                "filter",
                "an embedrec.Filter, a dict of Filter arguments, or None",
                f.get_type().name()?,
            ))
        }
    }
}

/// Pads batch results into `(ids, scores)` arrays of shape (n, k): ids as an object array
/// (`None` where fewer than k results exist), scores as float32 (`nan` there).
pub(crate) fn batch_arrays<'py>(
    py: Python<'py>,
    rows: Vec<Vec<Hit>>,
    k: usize,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyArray2<f32>>)> {
    let n = rows.len();
    let mut scores = Array2::<f32>::from_elem((n, k), f32::NAN);
    // One flat list reshaped by numpy (about twice as fast as a nested list).
    let ids = PyList::empty(py);
    for (i, row) in rows.iter().enumerate() {
        for (j, h) in row.iter().enumerate() {
            scores[[i, j]] = h.score;
            ids.append(py_id(py, &h.id))?;
        }
        for _ in row.len()..k {
            ids.append(py.None())?;
        }
    }
    let np = py.import("numpy")?;
    let kwargs = [("dtype", "object")].into_py_dict(py)?;
    let ids_arr = if n == 0 || k == 0 {
        np.call_method("empty", ((n, k),), Some(&kwargs))?
    } else {
        np.call_method("array", (ids,), Some(&kwargs))?
            .call_method1("reshape", ((n, k),))?
    };
    Ok((ids_arr, PyArray2::from_owned_array(py, scores)))
}

/// Batch results as `(ids, scores)` arrays of shape (n, k), or with `as_frame` a pandas
/// DataFrame in long form: one row per hit with columns `key` (the user id, or the query's
/// row), `rank` (0 = best), `item_id` and `score`.
pub(crate) fn batch_result<'py>(
    py: Python<'py>,
    rows: Vec<Vec<Hit>>,
    k: usize,
    as_frame: Option<(&str, Vec<Bound<'py, PyAny>>)>,
) -> PyResult<Bound<'py, PyAny>> {
    let Some((key, keys)) = as_frame else {
        return batch_arrays(py, rows, k)?
            .into_pyobject(py)
            .map(Bound::into_any);
    };
    let pandas = py.import("pandas").map_err(|e| {
        pyo3::exceptions::PyImportError::new_err(format!("as_frame=True needs pandas: {e}"))
    })?;
    let total: usize = rows.iter().map(Vec::len).sum();
    let (mut who, mut rank, mut items, mut scores) = (
        Vec::with_capacity(total),
        Vec::with_capacity(total),
        Vec::with_capacity(total),
        Vec::with_capacity(total),
    );
    for (row, k) in rows.iter().zip(&keys) {
        for (r, h) in row.iter().enumerate() {
            who.push(k.clone());
            rank.push(r as u32);
            items.push(py_id(py, &h.id));
            scores.push(h.score);
        }
    }
    let columns = PyDict::new(py);
    columns.set_item(key, who)?;
    columns.set_item("rank", numpy::PyArray1::from_vec(py, rank))?;
    columns.set_item("item_id", items)?;
    columns.set_item("score", numpy::PyArray1::from_vec(py, scores))?;
    pandas.call_method1("DataFrame", (columns,))
}

fn attrs_of(
    py: Python<'_>,
    n: usize,
    tags: Option<Vec<Vec<String>>>,
    attributes: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Vec<ItemAttrs>>> {
    let attributes = attributes_of(py, attributes)?;
    embedrec_host::item_attrs(n, tags, attributes).map_err(|e| to_py(py, e))
}

/// Numeric attributes in any form Python gives them: `{name: values}`, a pandas DataFrame,
/// or one dict per item.
fn attributes_of(
    py: Python<'_>,
    attributes: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Attributes>> {
    // A pandas DataFrame: its columns, by name.
    let frame = match attributes.filter(|a| a.hasattr("columns").unwrap_or(false)) {
        Some(df) => {
            let cols = PyDict::new(py);
            for name in df.getattr("columns")?.try_iter()? {
                let name = name?;
                cols.set_item(name.str()?, df.get_item(&name)?.call_method0("to_numpy")?)?;
            }
            Some(cols.into_any())
        }
        None => None,
    };
    let attributes = frame.as_ref().or(attributes);
    let attributes = match attributes.filter(|a| !a.is_none()) {
        None => None,
        Some(attrs) => Some(if let Ok(cols) = attrs.cast::<PyDict>() {
            // Columnar: {"year": [..n values..], ...}
            let mut out = Vec::with_capacity(cols.len());
            for (name, col) in cols.iter() {
                let name: String = name.extract()?;
                let col = f32_or_f64_vec(py, &col, &format!("attributes[{name:?}]"))?;
                out.push((name, col));
            }
            Attributes::Columns(out)
        } else {
            // Row-wise: [{"year": 1999, ...}, ...]
            let rows: Vec<HashMap<String, f64>> = attrs.extract().map_err(|_| {
                invalid(
                    py,
                    "attributes",
                    "a dict of columns, a pandas DataFrame or a list of dicts of numbers",
                    attrs
                        .get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                )
            })?;
            Attributes::Rows(rows.into_iter().map(|r| r.into_iter().collect()).collect())
        }),
    };
    Ok(attributes)
}

fn f32_or_f64_vec(py: Python<'_>, obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Vec<f64>> {
    let np = py.import("numpy")?;
    let arr = np
        .call_method(
            "asarray",
            (obj,),
            Some(&[("dtype", np.getattr("float64")?)].into_py_dict(py)?),
        )
        .map_err(|e| invalid(py, field, "numbers", e))?;
    let arr = arr
        .cast_into::<PyArray1<f64>>()
        .map_err(|_| invalid(py, field, "a 1-D sequence of numbers", "another shape"))?;
    Ok(arr.readonly().as_array().to_vec())
}

/// The embedrec engine: a catalog of items with vectors, tags and numeric attributes, a
/// nearest-neighbour index, user interactions, a result cache and metrics. Thread-safe:
/// share one engine between threads; every call that does real work releases the GIL.
///
/// Args:
///     dim: number of components of every vector.
///     metric: ``"cosine"`` (default), ``"dot"`` or ``"l2"``. Scores are always higher-is-better
///         (cosine similarity, inner product, negated squared L2 distance).
///     index: ``"native"`` (default: embedrec's HNSW), ``"native_int8"`` /
///         ``"native_1bit"`` (the same graph walked on int8 / one-bit codes, candidates
///         re-scored on the f32 vectors), ``"exact"``, or ``"hnsw"`` (the hnsw_rs crate, in
///         builds with that feature).
///     m, ef_construction, ef_search: HNSW parameters (defaults 16, 200, 128).
///     cache_capacity, cache_max_bytes, cache_ttl: result cache bounds (entries, bytes,
///         seconds or None); ``cache_capacity=0`` disables the cache.
///     threads: worker threads of the engine's own pool (0 = all cores).
///     recency_half_life: seconds; older interactions weigh less in profiles.
///     exact_filter_fraction, exact_below: when the exact path is used instead of the graph.
///     vector_storage: ``"f32"`` (default), ``"f16"`` (half-precision values, half the
///         bytes; components within ±65504) or ``"int8"`` (int8 codes with a scale each, a
///         quarter of the bytes); every score uses the stored vector.
///
/// Example:
///     >>> import numpy as np, embedrec
///     >>> e = embedrec.Engine(dim=2)
///     >>> e.upsert_items(["a", "b"], np.array([[1, 0], [0.9, 0.1]], dtype=np.float32))
///     >>> e.similar("a", k=1)
///     [('b', 0.9938837289810181)]
#[pyclass(name = "Engine", module = "embedrec", frozen)]
pub(crate) struct PyEngine {
    pub(crate) inner: Engine,
}

impl PyEngine {
    pub(crate) fn opts(
        filter: Option<Filter>,
        exclude_seen: bool,
        diversity: f64,
    ) -> RecommendOptions {
        embedrec_host::recommend_options(filter, Some(exclude_seen), Some(diversity))
    }
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (dim, **options))]
    fn new(
        py: Python<'_>,
        dim: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let dim = value(py, "dim", dim)?;
        let options =
            Options::new("", Style::Snake, kwargs(py, options)?).map_err(|e| to_py(py, e))?;
        let c = embedrec_host::engine_config(&dim, options).map_err(|e| to_py(py, e))?;
        let inner = run(py, || Engine::new(c))?;
        Ok(PyEngine { inner })
    }

    /// Vector dimension.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// The engine's configuration as a dict.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py_value(
            py,
            &embedrec_host::config(Style::Snake, &self.inner.config()),
        )
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        Ok(self.inner.contains(&id_of(id, "id")?))
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!(
            "Engine(dim={}, metric='{}', index='{}', items={})",
            c.dim,
            c.metric.name(),
            c.index.name(),
            self.inner.len()
        )
    }

    /// Inserts items or replaces existing ones (vector, tags and attributes).
    ///
    /// Args:
    ///     ids: item ids (strings), unique within the call.
    ///     vectors: array of shape (len(ids), dim); float32 arrays are read without a copy,
    ///         other numeric arrays are converted. ``None``: tags and attributes only —
    ///         existing items keep their vectors, new items have none (they are served by
    ///         models and popularity, not by vector search).
    ///     tags: one list of tags per item.
    ///     attributes: numeric attributes, either ``{name: values}`` (one value per item,
    ///         ``nan`` = missing) or one ``{name: value}`` dict per item.
    ///
    /// Raises:
    ///     InvalidInputError, DimensionMismatchError: nothing is changed.
    #[pyo3(signature = (ids, vectors=None, tags=None, attributes=None))]
    fn upsert_items(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: Option<&Bound<'_, PyAny>>,
        tags: Option<Vec<Vec<String>>>,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let start = std::time::Instant::now();
        let n = {
            let batch = IdBatch::extract(ids, "ids")?;
            let ids = batch.strs();
            let attrs = attrs_of(py, ids.len(), tags, attributes)?;
            match vectors {
                Some(vectors) => {
                    let v = f32_2d(py, vectors, "vectors", false)?;
                    let view: ArrayView2<'_, f32> = v.as_array();
                    run(py, || self.inner.upsert_items(&ids, view, attrs.as_deref()))?;
                }
                None => run(py, || self.inner.upsert_attributes(&ids, attrs.as_deref()))?,
            }
            ids.len()
        };
        // The converted arguments are dropped now: their pages can go back too.
        embedrec_host::release_after_batch(n);
        log::log(py, log::DEBUG, || {
            format!(
                "upserted {n} items in {:.3} s",
                start.elapsed().as_secs_f64()
            )
        });
        Ok(())
    }

    /// Changes items' tags and numeric attributes without re-sending their vectors, keeping
    /// what the call does not name.
    ///
    /// Args:
    ///     ids: existing item ids, unique within the call.
    ///     tags: one list of tags per item, replacing the item's tags.
    ///     attributes: values to set, in the forms ``upsert_items`` takes (``{name: values}``,
    ///         a DataFrame, or one dict per item); ``nan`` leaves an attribute as it is.
    ///     remove: attribute names dropped from every item of the call.
    ///
    /// Raises:
    ///     UnknownItemError, InvalidInputError: nothing is changed.
    #[pyo3(signature = (ids, tags=None, attributes=None, remove=None))]
    fn update_attributes(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        tags: Option<Vec<Vec<String>>>,
        attributes: Option<&Bound<'_, PyAny>>,
        remove: Option<Vec<String>>,
    ) -> PyResult<()> {
        let batch = IdBatch::extract(ids, "ids")?;
        let ids = batch.strs();
        let numbers = attributes_of(py, attributes)?;
        let update =
            embedrec_host::attr_update(ids.len(), tags, numbers, remove.unwrap_or_default())
                .map_err(|e| to_py(py, e))?;
        run(py, || self.inner.update_attributes(&ids, &update))
    }

    /// The tags and numeric attributes of items: one ``{"tags": [...], "attributes":
    /// {name: value}}`` per id. Raises UnknownItemError for an unknown id.
    fn item_attributes<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let ids = ids_of(ids, "ids")?;
        let a = run(py, || self.inner.item_attributes(&ids))?;
        a.into_iter().map(|a| metadata(py, a)).collect()
    }

    /// Removes items; returns how many. Raises UnknownItemError (removing nothing) if an id is unknown.
    fn remove_items(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ids = ids_of(ids, "ids")?;
        run(py, || self.inner.remove_items(&ids))
    }

    /// The stored vector of an item as a float32 array. Raises UnknownItemError.
    fn item_vector<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let id = id_of(id, "id")?;
        let v = run(py, || self.inner.item_vector(&id))?;
        Ok(PyArray1::from_vec(py, v))
    }

    /// Every item's content vector: ``(ids, array of shape (len(ids), dim))``.
    fn item_vectors<'py>(&self, py: Python<'py>) -> PyResult<PyRows<'py>> {
        rows(py, run(py, || Ok(self.inner.item_vectors()))?)
    }

    /// The installed model's item factors: ``(ids, float32 array (len(ids), factors))``,
    /// for every item with factors. Raises InvalidInputError when the model has none
    /// (only ``"als"`` has factors).
    fn item_factors<'py>(&self, py: Python<'py>) -> PyResult<PyRows<'py>> {
        rows(py, run(py, || self.inner.item_factors())?)
    }

    /// The installed model's user factors: ``(ids, float32 array (len(ids), factors))``.
    fn user_factors<'py>(&self, py: Python<'py>) -> PyResult<PyRows<'py>> {
        rows(py, run(py, || self.inner.user_factors())?)
    }

    /// Installs factors trained elsewhere (implicit, LightFM, …) as an ``"als"`` model:
    /// scores are inner products of user and item factors, served through the same
    /// factor index as a trained model.
    ///
    /// Args:
    ///     item_ids: catalog items, one per row of ``item_factors``.
    ///     item_factors: array of shape (len(item_ids), factors).
    ///     user_ids, user_factors: optional users (registered if new) and their factors;
    ///         other users are folded in from their histories.
    ///     **params: the ALS keywords used for fold-in (``regularization``, ``alpha``,
    ///         ``confidence``, ``cg_steps``; ``factors`` defaults to the width).
    ///
    /// Raises:
    ///     InvalidInputError, UnknownItemError, DimensionMismatchError: nothing is changed.
    #[pyo3(signature = (item_ids, item_factors, user_ids=None, user_factors=None, **params))]
    fn install_factors<'py>(
        &self,
        py: Python<'py>,
        item_ids: &Bound<'py, PyAny>,
        item_factors: &Bound<'py, PyAny>,
        user_ids: Option<&Bound<'py, PyAny>>,
        user_factors: Option<&Bound<'py, PyAny>>,
        params: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<()> {
        let items = IdBatch::extract(item_ids, "item_ids")?;
        let items = items.strs();
        let y = f32_2d(py, item_factors, "item_factors", false)?;
        let params =
            Options::new("", Style::Snake, kwargs(py, params)?).map_err(|e| to_py(py, e))?;
        let params =
            embedrec_host::factor_params(y.shape()[1], params).map_err(|e| to_py(py, e))?;
        let users = match (user_ids, user_factors) {
            (None, None) => None,
            (Some(ids), Some(x)) => Some((
                IdBatch::extract(ids, "user_ids")?,
                f32_2d(py, x, "user_factors", false)?,
            )),
            (ids, _) => {
                let missing = if ids.is_none() {
                    "user_ids"
                } else {
                    "user_factors"
                };
                return Err(invalid(
                    py,
                    missing,
                    "given together with the other",
                    "None",
                ));
            }
        };
        let users = users.as_ref().map(|(ids, x)| (ids.strs(), x.as_array()));
        let view = y.as_array();
        run(py, || {
            self.inner.install_factors(
                &items,
                view,
                users.as_ref().map(|(ids, x)| (ids.as_slice(), *x)),
                &params,
            )
        })
    }

    /// Ids of all items.
    fn item_ids<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        Ok(py_ids(py, &run(py, || Ok(self.inner.item_ids()))?))
    }

    /// The k items most similar to a vector, best first, as ``[(id, score), ...]``.
    ///
    /// Args:
    ///     vector: 1-D array of length dim.
    ///     k: number of results (fewer if fewer items pass the filter).
    ///     filter: an ``embedrec.Filter`` or a dict of its arguments.
    #[pyo3(signature = (vector, k=Int::default_k(), filter=None, with_metadata=false))]
    fn search<'py>(
        &self,
        py: Python<'py>,
        vector: &Bound<'py, PyAny>,
        k: Int,
        filter: Option<&Bound<'py, PyAny>>,
        with_metadata: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let k = k.usize(py, "k")?;
        let q = f32_1d(py, vector, "vector")?;
        let f = filter_of(filter, py)?;
        let a = run(py, || {
            self.inner
                .answer(with_metadata, |e| e.search(&q, k, f.as_ref()))
        })?;
        answer_py(py, a)
    }

    /// The k items most similar to item ``id`` (never the item itself).
    #[pyo3(signature = (id, k=Int::default_k(), filter=None, with_metadata=false))]
    fn similar<'py>(
        &self,
        py: Python<'py>,
        id: &Bound<'py, PyAny>,
        k: Int,
        filter: Option<&Bound<'py, PyAny>>,
        with_metadata: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let id = id_of(id, "id")?;
        let k = k.usize(py, "k")?;
        let f = filter_of(filter, py)?;
        let a = run(py, || {
            self.inner
                .answer(with_metadata, |e| e.similar(&id, k, f.as_ref()))
        })?;
        answer_py(py, a)
    }

    /// Records interactions (plays, likes...). Weights default to 1 and must be > 0;
    /// timestamps are seconds (any epoch) and default to 0. Unknown items join the catalog
    /// without content vectors; users are created on first sight. numpy columns are read
    /// at once (each distinct id converted once).
    #[pyo3(signature = (user_ids, item_ids, weights=None, timestamps=None))]
    fn add_interactions(
        &self,
        py: Python<'_>,
        user_ids: &Bound<'_, PyAny>,
        item_ids: &Bound<'_, PyAny>,
        weights: Option<Weights<'_>>,
        timestamps: Option<Timestamps>,
    ) -> PyResult<()> {
        let user_ids = column_of(user_ids, "user_ids")?;
        let item_ids = column_of(item_ids, "item_ids")?;
        let weights = weights.as_ref().map(Weights::get);
        let timestamps = timestamps.map(|t| t.0);
        run(py, || {
            self.inner.add_interaction_columns(
                &user_ids,
                &item_ids,
                weights.as_deref(),
                timestamps.as_deref(),
            )
        })
    }

    /// Records the interactions of a ``scipy.sparse`` user × item matrix (implicit's input):
    /// each stored entry is one interaction whose weight is the value. ``user_ids[r]`` and
    /// ``item_ids[c]`` name row ``r`` and column ``c`` (default: the integers themselves).
    /// Entries must be > 0, as weights are.
    #[pyo3(signature = (matrix, user_ids=None, item_ids=None))]
    fn add_interaction_matrix(
        &self,
        py: Python<'_>,
        matrix: &Bound<'_, PyAny>,
        user_ids: Option<&Bound<'_, PyAny>>,
        item_ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if !matrix.hasattr("tocoo")? {
            let got = matrix.get_type().name()?;
            return Err(invalid(py, "matrix", "a scipy.sparse matrix or array", got));
        }
        let coo = matrix.call_method0("tocoo")?;
        let shape: (usize, usize) = coo.getattr("shape")?.extract()?;
        let np = py.import("numpy")?;
        // Row and column numbers, or the names the host gave them.
        let names = |names: Option<&Bound<'_, PyAny>>,
                     index: Bound<'_, PyAny>,
                     len: usize,
                     field: &str|
         -> PyResult<embedrec::IdColumn> {
            let Some(names) = names.filter(|n| !n.is_none()) else {
                return column_of(&index, field);
            };
            let n = names.len()?;
            if n != len {
                let expected = format!("{len} ids (the matrix's shape)");
                return Err(invalid(py, field, &expected, n));
            }
            let names = if names.hasattr("dtype")? {
                np.call_method1("asarray", (names,))?
            } else {
                let kw = [("dtype", "object")].into_py_dict(py)?;
                np.call_method("asarray", (names,), Some(&kw))?
            };
            column_of(&names.get_item(index)?, field)
        };
        let users = names(user_ids, coo.getattr("row")?, shape.0, "user_ids")?;
        let items = names(item_ids, coo.getattr("col")?, shape.1, "item_ids")?;
        let data = coo.getattr("data")?;
        let weights = f32_or_f64_vec(py, &data, "matrix")?;
        let weights: Vec<f32> = weights.into_iter().map(|w| w as f32).collect();
        run(py, || {
            self.inner
                .add_interaction_columns(&users, &items, Some(&weights), None)
        })
    }

    /// Recommendations for a stored user, best first; seen items excluded by default.
    /// ``diversity`` in 0..1 trades relevance for variety (maximal marginal relevance).
    /// Raises UnknownUserError for a user without interactions.
    #[pyo3(signature = (user_id, k=Int::default_k(), filter=None, exclude_seen=true, diversity=0.0, with_metadata=false))]
    #[allow(clippy::too_many_arguments)] // the keyword arguments of the Python signature
    fn recommend<'py>(
        &self,
        py: Python<'py>,
        user_id: &Bound<'py, PyAny>,
        k: Int,
        filter: Option<&Bound<'py, PyAny>>,
        exclude_seen: bool,
        diversity: f64,
        with_metadata: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let user_id = id_of(user_id, "user_id")?;
        let k = k.usize(py, "k")?;
        let o = Self::opts(filter_of(filter, py)?, exclude_seen, diversity);
        let a = run(py, || {
            self.inner
                .answer(with_metadata, |e| e.recommend(&user_id, k, &o))
        })?;
        answer_py(py, a)
    }

    /// Why ``item_id`` is recommended to ``user_id``: the ``k`` history items that contribute
    /// most to the model's score, as ``[(history_item, contribution), ...]`` ("because you
    /// played ..."). ALS, item_knn and ease explain; other models raise InvalidInputError.
    #[pyo3(signature = (user_id, item_id, k=Int::default_k()))]
    fn explain<'py>(
        &self,
        py: Python<'py>,
        user_id: &Bound<'py, PyAny>,
        item_id: &Bound<'py, PyAny>,
        k: Int,
    ) -> PyResult<PyHits<'py>> {
        let (user_id, item_id) = (id_of(user_id, "user_id")?, id_of(item_id, "item_id")?);
        let k = k.usize(py, "k")?;
        run(py, || self.inner.explain(&user_id, &item_id, k)).map(|h| hits(py, h))
    }

    /// Recommendations for an anonymous session from the items it interacted with.
    #[pyo3(signature = (items, weights=None, k=Int::default_k(), filter=None, exclude_seen=true, diversity=0.0, with_metadata=false))]
    #[allow(clippy::too_many_arguments)] // the keyword arguments of the Python signature
    fn recommend_for_items<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
        weights: Option<Weights<'py>>,
        k: Int,
        filter: Option<&Bound<'py, PyAny>>,
        exclude_seen: bool,
        diversity: f64,
        with_metadata: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let items = ids_of(items, "items")?;
        let k = k.usize(py, "k")?;
        let o = Self::opts(filter_of(filter, py)?, exclude_seen, diversity);
        let weights = weights.as_ref().map(Weights::get);
        let a = run(py, || {
            self.inner.answer(with_metadata, |e| {
                e.recommend_for_items(&items, weights.as_deref(), k, &o)
            })
        })?;
        answer_py(py, a)
    }

    /// ``search`` for every row of ``queries`` (n, dim), in parallel. Returns ``(ids, scores)``:
    /// an object array and a float32 array of shape (n, k), padded with None / nan.
    #[pyo3(signature = (queries, k=Int::default_k(), filter=None, as_frame=false))]
    fn search_batch<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        k: Int,
        filter: Option<&Bound<'py, PyAny>>,
        as_frame: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = k.usize(py, "k")?;
        let q = f32_2d(py, queries, "queries", false)?;
        let f = filter_of(filter, py)?;
        let view = q.as_array();
        let rows = run(py, || self.inner.search_batch(view, k, f.as_ref()))?;
        let frame = as_frame.then(|| {
            let keys = (0..rows.len()).map(|i| i.into_pyobject(py).expect("infallible"));
            ("query", keys.map(Bound::into_any).collect())
        });
        batch_result(py, rows, k, frame)
    }

    /// ``recommend`` for every user, in parallel. Returns ``(ids, scores)`` arrays of shape (n, k).
    #[pyo3(signature = (user_ids, k=Int::default_k(), filter=None, exclude_seen=true, diversity=0.0, as_frame=false))]
    #[allow(clippy::too_many_arguments)] // the keyword arguments of the Python signature
    fn recommend_batch<'py>(
        &self,
        py: Python<'py>,
        user_ids: &Bound<'py, PyAny>,
        k: Int,
        filter: Option<&Bound<'py, PyAny>>,
        exclude_seen: bool,
        diversity: f64,
        as_frame: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let users = ids_of(user_ids, "user_ids")?;
        let k = k.usize(py, "k")?;
        let o = Self::opts(filter_of(filter, py)?, exclude_seen, diversity);
        let rows = run(py, || self.inner.recommend_batch(&users, k, &o))?;
        let frame = as_frame.then(|| ("user_id", py_ids(py, &users)));
        batch_result(py, rows, k, frame)
    }

    /// Saves the whole engine to one file, atomically.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        let what = |_: &()| format!("saved {} items to {}", self.inner.len(), path.display());
        log::timed(py, log::INFO, what, || run(py, || self.inner.save(&path)))
    }

    /// Opens the engine stored at ``path`` in durable mode, creating it when the file does
    /// not exist (then ``dim`` and any engine option are required/accepted as in
    /// ``Engine(...)``). Every acknowledged write (upserts, removals, interactions,
    /// ``clear_model``) is in the journal ``<path>-wal`` before the call returns; ``fit``
    /// and ``install_factors`` are written by a checkpoint. ``sync``: ``"full"`` (default:
    /// fsync per write), ``"grouped"`` (fsync at least every ``sync_interval_ms``, default
    /// 100) or ``"off"`` (the OS writes back; a process crash still loses nothing).
    /// ``checkpoint_bytes`` (default 64 MiB): journal size that triggers a checkpoint.
    /// One process at a time opens an engine for writing; ``close()`` (or leaving a
    /// ``with`` block) releases it.
    ///
    /// ``read_only=True`` opens the file memory-mapped instead: vectors, graph links, ids
    /// and norms are served from the file's pages, shared by every process that opens it
    /// (replicas, workers); no journal, no lock; every write raises ``ReadOnlyError``.
    /// Opening checks the header, table, bounds and small sections; ``verify()`` checks
    /// every checksum. Such an engine pickles by reference (path and identity).
    #[staticmethod]
    #[pyo3(signature = (path, **options))]
    fn open(
        py: Python<'_>,
        path: std::path::PathBuf,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let o = Options::new("", Style::Snake, kwargs(py, options)?).map_err(|e| to_py(py, e))?;
        let (create, open) = embedrec_host::open_options(o).map_err(|e| to_py(py, e))?;
        let what = |e: &Engine| opened("opened", e, &path);
        let inner = log::timed(py, log::INFO, what, || {
            run(py, || Engine::open(&path, create, open))
        })?;
        Ok(PyEngine { inner })
    }

    /// Durable mode: writes a new snapshot and empties the journal (readers keep running).
    fn checkpoint(&self, py: Python<'_>) -> PyResult<()> {
        let what = |_: &()| "checkpoint written".to_string();
        log::timed(py, log::INFO, what, || run(py, || self.inner.checkpoint()))
    }

    /// Durable mode: syncs and closes the journal and releases the writer's lock; later
    /// writes raise, reads keep working. A no-op for an engine in memory.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        run(py, || self.inner.close())
    }

    /// Whether the engine was opened with ``Engine.open`` (writes go to a journal).
    #[getter]
    fn durable(&self) -> bool {
        self.inner.is_durable()
    }

    /// Whether the engine was opened with ``read_only=True``.
    #[getter]
    fn read_only(&self) -> bool {
        self.inner.is_read_only()
    }

    /// For a read-only engine, ``(path, identity)``: the file and 32 hex digits of its
    /// length and checksums; ``None`` otherwise.
    #[getter]
    fn snapshot(&self) -> Option<(std::path::PathBuf, String)> {
        self.inner.snapshot().map(|(p, id)| (p.to_path_buf(), id))
    }

    /// For an engine opened read-only: whether the file at its path is no longer the
    /// snapshot it serves (a new snapshot was saved over it, or it was removed). Reads the
    /// file's 32-byte header, cheap enough per request: replicas call it and, when ``True``,
    /// open the path again and swap engines. ``False`` for other engines.
    fn snapshot_replaced(&self, py: Python<'_>) -> PyResult<bool> {
        run(py, || self.inner.snapshot_replaced())
    }

    /// Checks every checksum of the file a read-only engine serves from (raises
    /// ``CorruptFileError`` naming the damaged section); other engines verified theirs
    /// when they were read.
    fn verify(&self, py: Python<'_>) -> PyResult<()> {
        run(py, || self.inner.verify())
    }

    /// Opens ``path`` read-only, checking that it is the snapshot of identity ``id`` (what
    /// unpickling an engine pickled by reference does).
    #[staticmethod]
    fn open_snapshot(py: Python<'_>, path: std::path::PathBuf, id: String) -> PyResult<Self> {
        Ok(PyEngine {
            inner: run(py, || Engine::open_snapshot(&path, &id))?,
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Leaving a ``with`` block closes the engine (durable mode).
    fn __exit__(
        &self,
        py: Python<'_>,
        _t: Option<&Bound<'_, PyAny>>,
        _v: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// Loads an engine saved with ``save``. Raises CorruptFileError for damaged files.
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        let what = |e: &Engine| opened("loaded", e, &path);
        let inner = log::timed(py, log::INFO, what, || run(py, || Engine::load(&path)))?;
        Ok(PyEngine { inner })
    }

    /// The engine in its file format, as bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let b = run(py, || self.inner.to_bytes())?;
        Ok(PyBytes::new(py, &b))
    }

    /// An engine from ``to_bytes`` output (verified like a file). The bytes are read in
    /// place, not copied first.
    ///
    /// ``read_only=True`` serves from ``data`` itself, as a read-only ``open`` serves from
    /// a mapped file: nothing is decoded or copied (the engine keeps ``data`` alive), the
    /// header, table and small sections are checked, ``verify()`` checks every checksum,
    /// writes raise ``ReadOnlyError``.
    #[staticmethod]
    #[pyo3(signature = (data, **options))]
    fn from_bytes(
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let o = Options::new("", Style::Snake, kwargs(py, options)?).map_err(|e| to_py(py, e))?;
        let read_only = embedrec_host::from_bytes_options(o).map_err(|e| to_py(py, e))?;
        let Ok(bytes) = data.cast::<PyBytes>() else {
            let got = data.get_type().name()?;
            return Err(invalid(py, "data", "bytes (the output of to_bytes)", got));
        };
        let inner = if read_only {
            let held = HeldBytes::new(bytes);
            run(py, move || Engine::from_bytes_read_only(held))?
        } else {
            let data = bytes.as_bytes();
            run(py, || Engine::from_bytes(data))?
        };
        Ok(PyEngine { inner })
    }

    /// Pickling: a read-only engine by reference (its path and identity: nothing but a few
    /// bytes travels, and the receiving process maps the same file, once per process:
    /// ``embedrec.open_shared`` keeps it), any other by value (its file format).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let py = slf.py();
        let ty = py.get_type::<PyEngine>();
        if let Some((path, id)) = slf.get().inner.snapshot() {
            // Through the process's registry: unpickled again here, the open engine is reused.
            let open = py.import("embedrec._registry")?.getattr("open_snapshot")?;
            let args = (path.to_path_buf(), id).into_pyobject(py)?.into_any();
            return Ok((open, args));
        }
        let args = (slf.get().to_bytes(py)?,).into_pyobject(py)?.into_any();
        if slf.get().inner.is_read_only() {
            // A read-only engine serving from bytes comes back the same way.
            let kw = [("read_only", true)].into_py_dict(py)?;
            let f = py
                .import("functools")?
                .getattr("partial")?
                .call((ty.getattr("from_bytes")?,), Some(&kw))?;
            return Ok((f, args));
        }
        Ok((ty.getattr("from_bytes")?, args))
    }

    /// Changes the HNSW search breadth for later queries (higher: better recall, slower).
    /// Cached results are invalidated; the value is saved with the engine.
    fn set_ef_search(&self, py: Python<'_>, ef: Int) -> PyResult<()> {
        let ef = ef.usize(py, "ef")?;
        run(py, || self.inner.set_ef_search(ef))
    }

    /// Changes the number of worker threads of the engine's pool (0 = one per core), e.g.
    /// after loading a file saved on another machine. Saved with the engine.
    fn set_threads(&self, py: Python<'_>, threads: Int) -> PyResult<()> {
        let threads = threads.usize(py, "threads")?;
        run(py, || self.inner.set_threads(threads))
    }

    /// Drops all cached results.
    fn clear_cache(&self) {
        self.inner.clear_cache()
    }

    /// Sizes, cache counters and per-operation latency percentiles (microseconds), as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = run(py, || Ok(self.inner.stats()))?;
        to_py_value(py, &embedrec_host::stats(Style::Snake, &s))
    }

    /// Prometheus text exposition of ``stats()``.
    fn metrics_text(&self, py: Python<'_>) -> PyResult<String> {
        run(py, || Ok(self.inner.metrics_text()))
    }

    /// Trains a collaborative model on the stored interactions and installs it; it then serves
    /// ``recommend``, ``recommend_for_items``, ``similar`` and the batch calls. The GIL is
    /// released while training.
    ///
    /// Args:
    ///     model: ``"als"`` (implicit ALS; keywords ``factors=0`` (chosen from the data,
    ///         16–128), ``iterations=15, regularization=0.01, alpha=1.0,
    ///         confidence="log"|"linear", cg_steps=3, seed=42``),
    ///         ``"item_knn"`` (``neighbours=50, weighting="bm25"|"cosine", k1=1.2, b=0.75``),
    ///         ``"ease"`` (``regularization=200``; dense, up to 16,384 items with interactions,
    ///         about 12 n² bytes while training) or ``"popularity"``.
    ///     tune: ``True`` or a dict (``budget`` seconds, default 120; ``models``; ``k``,
    ///         default 10; ``max_users``, default 2000; ``seed``): choose the parameters —
    ///         and with ``model="auto"`` the model — by NDCG@k on a validation split of the
    ///         stored interactions, then train the best on all of them. The result gains
    ///         ``tuning``: ``chosen``, ``trials`` (each with ``ndcg``, ``recall``,
    ///         ``seconds``), ``validation_users``, ``k``.
    ///     progress: called after every iteration with a dict (``iteration``, ``total``,
    ///         ``elapsed``, ``loss``); returning ``False`` cancels (CancelledError), and an
    ///         exception it raises propagates. The previous model stays on cancellation.
    ///     show_progress: draw a tqdm progress bar (on stderr) when tqdm is installed.
    ///
    /// Returns:
    ///     A dict: ``model``, ``users``, ``items``, ``interactions``, ``seconds`` (of which
    ///     ``index_seconds`` indexing the factors), ``loss``.
    #[pyo3(signature = (model="als", *, tune=None, progress=None, show_progress=true, **params))]
    fn fit<'py>(
        &self,
        py: Python<'py>,
        model: &str,
        tune: Option<&Bound<'py, PyAny>>,
        progress: Option<Py<PyAny>>,
        show_progress: bool,
        params: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut params = kwargs(py, params)?;
        if let (Some(t), embedrec_host::Value::Map(m)) = (tune, &mut params) {
            m.push(("tune".into(), value(py, "tune", t)?));
        }
        let params = Options::new("", Style::Snake, params).map_err(|e| to_py(py, e))?;
        let call = embedrec_host::fit_call(model, params).map_err(|e| to_py(py, e))?;
        let bar: Option<Py<PyAny>> = if show_progress {
            match py.import("tqdm") {
                Ok(t) => Some(
                    t.getattr("tqdm")?
                        .call(
                            (),
                            Some(&[("desc", format!("embedrec fit {model}"))].into_py_dict(py)?),
                        )?
                        .unbind(),
                ),
                Err(_) => None,
            }
        } else {
            None
        };
        let raised: std::sync::Mutex<Option<PyErr>> = std::sync::Mutex::new(None);
        let started = std::time::Instant::now();
        let mut cb = |p: &embedrec::Progress| -> bool {
            Python::attach(|py| {
                log::log(py, log::DEBUG, || {
                    let loss = p.loss.map(|l| format!(", loss {l:.4}")).unwrap_or_default();
                    format!("fit {model}: step {} of {}{loss}", p.iteration, p.total)
                });
                if let Some(b) = &bar {
                    let b = b.bind(py);
                    let _ = b.setattr("total", p.total);
                    let _ = b.call_method1("update", (1,));
                    if let Some(l) = p.loss {
                        let _ = b.call_method1("set_postfix_str", (format!("loss={l:.4}"),));
                    }
                }
                match &progress {
                    None => true,
                    Some(f) => {
                        match to_py_value(py, &embedrec_host::progress(Style::Snake, p))
                            .and_then(|d| f.call1(py, (d,)))
                        {
                            Ok(r) => !r.bind(py).is(pyo3::types::PyBool::new(py, false)),
                            Err(e) => {
                                *raised.lock().unwrap() = Some(e);
                                false
                            }
                        }
                    }
                }
            })
        };
        let result = crate::error::run_raw(py, || match &call {
            FitCall::Train(spec) => self
                .inner
                .fit(spec, Some(&mut cb))
                .map(|r| embedrec_host::fit_report(Style::Snake, &r)),
            FitCall::Tune(o) => self
                .inner
                .fit_tuned(o, Some(&mut cb))
                .map(|r| embedrec_host::tune_report(Style::Snake, &r, o.k)),
        });
        if let Some(b) = &bar {
            let _ = b.bind(py).call_method0("close");
        }
        let r = result
            .map_err(|e| crate::train::callback_error(py, e, raised.lock().unwrap().take()))?;
        log::log(py, log::INFO, || {
            format!("fit {model} in {:.3} s", started.elapsed().as_secs_f64())
        });
        to_py_value(py, &r)
    }

    /// Name of the installed model (``"als"``, ``"item_knn"``, ``"popularity"``) or None.
    #[getter]
    fn model(&self) -> Option<&'static str> {
        self.inner.model_name()
    }

    /// Removes the trained model (queries go back to content-vector profiles).
    fn clear_model(&self, py: Python<'_>) -> PyResult<()> {
        run(py, || self.inner.clear_model())
    }

    /// Ranking metrics at k on held-out interactions (e.g. the ``test`` part of
    /// ``holdout_split``): precision, recall, ndcg, map, hit_rate, coverage, users.
    #[pyo3(signature = (user_ids, item_ids, k=Int::default_k()))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        user_ids: &Bound<'py, PyAny>,
        item_ids: &Bound<'py, PyAny>,
        k: Int,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (user_ids, item_ids) = (ids_of(user_ids, "user_ids")?, ids_of(item_ids, "item_ids")?);
        let k = k.usize(py, "k")?;
        let d = crate::train::interactions(py, user_ids, item_ids, None, None)?;
        let what =
            |m: &embedrec::eval::RankingMetrics| format!("evaluated {} users at k={k}", m.users);
        let m = log::timed(py, log::INFO, what, || {
            run(py, || self.inner.evaluate(&d, k))
        })?;
        to_py_value(py, &embedrec_host::ranking_metrics(Style::Snake, &m))
    }
}

/// A Python ``bytes`` object an engine serves from (``from_bytes(read_only=True)``): kept
/// alive by the reference; its contents never change (bytes are immutable).
struct HeldBytes {
    _obj: Py<PyBytes>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the bytes object is immutable and kept alive by `_obj` (a `Py` may be dropped on
// any thread); its buffer is only read.
unsafe impl Send for HeldBytes {}
unsafe impl Sync for HeldBytes {}

impl HeldBytes {
    fn new(b: &Bound<'_, PyBytes>) -> Self {
        let s = b.as_bytes();
        HeldBytes {
            _obj: b.clone().unbind(),
            ptr: s.as_ptr(),
            len: s.len(),
        }
    }
}

impl AsRef<[u8]> for HeldBytes {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the buffer of the live, immutable bytes object taken in `new`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}
