//! `embedrec.Engine`.

use crate::error::{invalid, run};
use crate::filter::PyFilter;
use embedrec::ndarray::{Array2, ArrayView2};
use embedrec::{
    Engine, EngineConfig, Filter, Hit, IndexKind, ItemAttrs, Metric, RecommendOptions,
    VectorStorage,
};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use std::collections::HashMap;

type PyHits = Vec<(String, f32)>;

/// Host ids copied into one buffer: one allocation per batch rather than one per id, so a
/// large upsert leaves no scattered small blocks behind in the heap.
struct IdBatch {
    text: String,
    ends: Vec<usize>,
}

impl IdBatch {
    fn extract(ids: &Bound<'_, PyAny>) -> PyResult<Self> {
        if ids.is_instance_of::<PyString>() {
            return Err(pyo3::exceptions::PyTypeError::new_err(
                "ids: expected a sequence of str, got a single str",
            ));
        }
        let n = ids.len().unwrap_or(0);
        let mut batch = IdBatch {
            text: String::with_capacity(n * 8),
            ends: Vec::with_capacity(n),
        };
        for (i, id) in ids.try_iter()?.enumerate() {
            let id = id?;
            let s = id.cast::<PyString>().map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(format!(
                    "ids[{i}]: expected str, got {}",
                    id.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default()
                ))
            })?;
            batch.text.push_str(&s.to_cow()?);
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

fn hits(h: Vec<Hit>) -> PyHits {
    h.into_iter().map(|h| (h.id.to_string(), h.score)).collect()
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

fn f32_1d(py: Python<'_>, obj: &Bound<'_, PyAny>, field: &str) -> PyResult<Vec<f32>> {
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

fn filter_of(filter: Option<&Bound<'_, PyAny>>, py: Python<'_>) -> PyResult<Option<Filter>> {
    match filter {
        None => Ok(None),
        Some(f) if f.is_none() => Ok(None),
        Some(f) => {
            if let Ok(pf) = f.cast::<PyFilter>() {
                return Ok(Some(pf.get().inner.clone()));
            }
            if let Ok(d) = f.cast::<PyDict>() {
                let cls = py.import("embedrec")?.getattr("Filter")?;
                let pf = cls.call((), Some(d))?;
                return Ok(Some(pf.cast::<PyFilter>()?.get().inner.clone()));
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
fn batch_arrays<'py>(
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
            ids.append(&*h.id)?;
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

fn attrs_of(
    py: Python<'_>,
    n: usize,
    tags: Option<Vec<Vec<String>>>,
    attributes: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<Vec<ItemAttrs>>> {
    if tags.is_none() && attributes.is_none_or(|a| a.is_none()) {
        return Ok(None);
    }
    let mut out = vec![ItemAttrs::default(); n];
    if let Some(t) = tags {
        if t.len() != n {
            return Err(invalid(
                py,
                "tags",
                &format!("{n} tag lists (one per id)"),
                format!("{} lists", t.len()),
            ));
        }
        for (a, t) in out.iter_mut().zip(t) {
            a.tags = t;
        }
    }
    if let Some(attrs) = attributes.filter(|a| !a.is_none()) {
        if let Ok(cols) = attrs.cast::<PyDict>() {
            // Columnar: {"year": [..n values..], ...}
            for a in out.iter_mut() {
                a.numbers.reserve_exact(cols.len());
            }
            for (name, col) in cols.iter() {
                let name: String = name.extract()?;
                let col = f32_or_f64_vec(py, &col, &format!("attributes[{name:?}]"))?;
                if col.len() != n {
                    return Err(invalid(
                        py,
                        &format!("attributes[{name:?}]"),
                        &format!("{n} values (one per id)"),
                        col.len(),
                    ));
                }
                for (a, v) in out.iter_mut().zip(col) {
                    if !v.is_nan() {
                        a.numbers.push((name.clone(), v));
                    }
                }
            }
        } else {
            // Row-wise: [{"year": 1999, ...}, ...]
            let rows: Vec<HashMap<String, f64>> = attrs.extract().map_err(|_| {
                invalid(
                    py,
                    "attributes",
                    "a dict of columns or a list of dicts of numbers",
                    attrs
                        .get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                )
            })?;
            if rows.len() != n {
                return Err(invalid(
                    py,
                    "attributes",
                    &format!("{n} dicts (one per id)"),
                    rows.len(),
                ));
            }
            for (a, r) in out.iter_mut().zip(rows) {
                let mut r: Vec<_> = r.into_iter().collect();
                r.sort_by(|x, y| x.0.cmp(&y.0));
                a.numbers.extend(r);
            }
        }
    }
    Ok(Some(out))
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
///     index: ``"native"`` (default: embedrec's HNSW), ``"native_int8"`` (the same graph
///         walked on int8 codes), ``"exact"``, or ``"hnsw"`` (the hnsw_rs crate, in builds
///         with that feature).
///     m, ef_construction, ef_search: HNSW parameters (defaults 16, 200, 128).
///     cache_capacity, cache_max_bytes, cache_ttl: result cache bounds (entries, bytes,
///         seconds or None); ``cache_capacity=0`` disables the cache.
///     threads: worker threads of the engine's own pool (0 = all cores).
///     recency_half_life: seconds; older interactions weigh less in profiles.
///     exact_filter_fraction, exact_below: when the exact path is used instead of the graph.
///     vector_storage: ``"f32"`` (default) or ``"int8"``: vectors kept as int8 codes with
///         a scale each (a quarter of the bytes); every score uses the stored vector.
///
/// Example:
///     >>> import numpy as np, embedrec
///     >>> e = embedrec.Engine(dim=2)
///     >>> e.upsert_items(["a", "b"], np.array([[1, 0], [0.9, 0.1]], dtype=np.float32))
///     >>> e.similar("a", k=1)
///     [('b', 0.9938837289810181)]
#[pyclass(name = "Engine", module = "embedrec", frozen)]
pub(crate) struct PyEngine {
    inner: Engine,
}

impl PyEngine {
    fn opts(filter: Option<Filter>, exclude_seen: bool) -> RecommendOptions {
        RecommendOptions {
            filter,
            exclude_seen,
        }
    }
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (dim, *, metric="cosine", index="native", m=16, ef_construction=200, ef_search=128,
        cache_capacity=10_000, cache_max_bytes=67_108_864, cache_ttl=None, threads=0, recency_half_life=None,
        exact_filter_fraction=0.10, exact_below=2_000, vector_storage="f32"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        dim: usize,
        metric: &str,
        index: &str,
        m: usize,
        ef_construction: usize,
        ef_search: usize,
        cache_capacity: usize,
        cache_max_bytes: usize,
        cache_ttl: Option<f64>,
        threads: usize,
        recency_half_life: Option<f64>,
        exact_filter_fraction: f64,
        exact_below: usize,
        vector_storage: &str,
    ) -> PyResult<Self> {
        let metric = Metric::parse(metric).map_err(|e| crate::error::to_py(py, e))?;
        let index = IndexKind::parse(index).map_err(|e| crate::error::to_py(py, e))?;
        let storage =
            VectorStorage::parse(vector_storage).map_err(|e| crate::error::to_py(py, e))?;
        let mut c = EngineConfig::new(dim)
            .with_metric(metric)
            .with_index(index)
            .with_hnsw(m, ef_construction, ef_search)
            .with_cache(cache_capacity, cache_max_bytes, cache_ttl)
            .with_threads(threads)
            .with_recency_half_life(recency_half_life)
            .with_vector_storage(storage);
        c.exact_filter_fraction = exact_filter_fraction;
        c.exact_below = exact_below;
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
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.config();
        let d = PyDict::new(py);
        d.set_item("dim", c.dim)?;
        d.set_item("metric", c.metric.name())?;
        d.set_item("index", c.index.name())?;
        d.set_item("m", c.m)?;
        d.set_item("ef_construction", c.ef_construction)?;
        d.set_item("ef_search", c.ef_search)?;
        d.set_item("cache_capacity", c.cache_capacity)?;
        d.set_item("cache_max_bytes", c.cache_max_bytes)?;
        d.set_item("cache_ttl", c.cache_ttl_secs)?;
        d.set_item("threads", c.threads)?;
        d.set_item("recency_half_life", c.recency_half_life_secs)?;
        d.set_item("exact_filter_fraction", c.exact_filter_fraction)?;
        d.set_item("exact_below", c.exact_below)?;
        d.set_item("vector_storage", c.vector_storage.name())?;
        Ok(d)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __contains__(&self, id: &str) -> bool {
        self.inner.contains(id)
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
    ///         other numeric arrays are converted.
    ///     tags: one list of tags per item.
    ///     attributes: numeric attributes, either ``{name: values}`` (one value per item,
    ///         ``nan`` = missing) or one ``{name: value}`` dict per item.
    ///
    /// Raises:
    ///     InvalidInputError, DimensionMismatchError: nothing is changed.
    #[pyo3(signature = (ids, vectors, tags=None, attributes=None))]
    fn upsert_items(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
        tags: Option<Vec<Vec<String>>>,
        attributes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let n = {
            let batch = IdBatch::extract(ids)?;
            let ids = batch.strs();
            let v = f32_2d(py, vectors, "vectors", false)?;
            let attrs = attrs_of(py, ids.len(), tags, attributes)?;
            let view: ArrayView2<'_, f32> = v.as_array();
            run(py, || self.inner.upsert_items(&ids, view, attrs.as_deref()))?;
            ids.len()
        };
        // The converted arguments are dropped now: their pages can go back too.
        Engine::release_memory_after_batch(n);
        Ok(())
    }

    /// Removes items; returns how many. Raises UnknownItemError (removing nothing) if an id is unknown.
    fn remove_items(&self, py: Python<'_>, ids: Vec<String>) -> PyResult<usize> {
        run(py, || self.inner.remove_items(&ids))
    }

    /// The stored vector of an item as a float32 array. Raises UnknownItemError.
    fn item_vector<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyArray1<f32>>> {
        let v = run(py, || self.inner.item_vector(id))?;
        Ok(PyArray1::from_vec(py, v))
    }

    /// Ids of all items.
    fn item_ids(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        Ok(run(py, || Ok(self.inner.item_ids()))?
            .into_iter()
            .map(|s| s.to_string())
            .collect())
    }

    /// The k items most similar to a vector, best first, as ``[(id, score), ...]``.
    ///
    /// Args:
    ///     vector: 1-D array of length dim.
    ///     k: number of results (fewer if fewer items pass the filter).
    ///     filter: an ``embedrec.Filter`` or a dict of its arguments.
    #[pyo3(signature = (vector, k=10, filter=None))]
    fn search(
        &self,
        py: Python<'_>,
        vector: &Bound<'_, PyAny>,
        k: usize,
        filter: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyHits> {
        let q = f32_1d(py, vector, "vector")?;
        let f = filter_of(filter, py)?;
        run(py, || self.inner.search(&q, k, f.as_ref())).map(hits)
    }

    /// The k items most similar to item ``id`` (never the item itself).
    #[pyo3(signature = (id, k=10, filter=None))]
    fn similar(
        &self,
        py: Python<'_>,
        id: &str,
        k: usize,
        filter: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyHits> {
        let f = filter_of(filter, py)?;
        run(py, || self.inner.similar(id, k, f.as_ref())).map(hits)
    }

    /// Records interactions (plays, likes...). Weights default to 1 and must be > 0;
    /// timestamps are seconds (any epoch) and default to 0. Items must exist.
    #[pyo3(signature = (user_ids, item_ids, weights=None, timestamps=None))]
    fn add_interactions(
        &self,
        py: Python<'_>,
        user_ids: Vec<String>,
        item_ids: Vec<String>,
        weights: Option<Vec<f32>>,
        timestamps: Option<Vec<i64>>,
    ) -> PyResult<()> {
        run(py, || {
            self.inner.add_interactions(
                &user_ids,
                &item_ids,
                weights.as_deref(),
                timestamps.as_deref(),
            )
        })
    }

    /// Recommendations for a stored user, best first; seen items excluded by default.
    /// Raises UnknownUserError for a user without interactions.
    #[pyo3(signature = (user_id, k=10, filter=None, exclude_seen=true))]
    fn recommend(
        &self,
        py: Python<'_>,
        user_id: &str,
        k: usize,
        filter: Option<&Bound<'_, PyAny>>,
        exclude_seen: bool,
    ) -> PyResult<PyHits> {
        let o = Self::opts(filter_of(filter, py)?, exclude_seen);
        run(py, || self.inner.recommend(user_id, k, &o)).map(hits)
    }

    /// Recommendations for an anonymous session from the items it interacted with.
    #[pyo3(signature = (items, weights=None, k=10, filter=None, exclude_seen=true))]
    fn recommend_for_items(
        &self,
        py: Python<'_>,
        items: Vec<String>,
        weights: Option<Vec<f32>>,
        k: usize,
        filter: Option<&Bound<'_, PyAny>>,
        exclude_seen: bool,
    ) -> PyResult<PyHits> {
        let o = Self::opts(filter_of(filter, py)?, exclude_seen);
        run(py, || {
            self.inner
                .recommend_for_items(&items, weights.as_deref(), k, &o)
        })
        .map(hits)
    }

    /// ``search`` for every row of ``queries`` (n, dim), in parallel. Returns ``(ids, scores)``:
    /// an object array and a float32 array of shape (n, k), padded with None / nan.
    #[pyo3(signature = (queries, k=10, filter=None))]
    fn search_batch<'py>(
        &self,
        py: Python<'py>,
        queries: &Bound<'py, PyAny>,
        k: usize,
        filter: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyArray2<f32>>)> {
        let q = f32_2d(py, queries, "queries", false)?;
        let f = filter_of(filter, py)?;
        let view = q.as_array();
        let rows = run(py, || self.inner.search_batch(view, k, f.as_ref()))?;
        batch_arrays(py, rows, k)
    }

    /// ``recommend`` for every user, in parallel. Returns ``(ids, scores)`` arrays of shape (n, k).
    #[pyo3(signature = (user_ids, k=10, filter=None, exclude_seen=true))]
    fn recommend_batch<'py>(
        &self,
        py: Python<'py>,
        user_ids: Vec<String>,
        k: usize,
        filter: Option<&Bound<'py, PyAny>>,
        exclude_seen: bool,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyArray2<f32>>)> {
        let o = Self::opts(filter_of(filter, py)?, exclude_seen);
        let rows = run(py, || self.inner.recommend_batch(&user_ids, k, &o))?;
        batch_arrays(py, rows, k)
    }

    /// Saves the whole engine to one file, atomically.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        run(py, || self.inner.save(&path))
    }

    /// Loads an engine saved with ``save``. Raises CorruptFileError for damaged files.
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Self> {
        Ok(PyEngine {
            inner: run(py, || Engine::load(&path))?,
        })
    }

    /// The engine in its file format, as bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let b = run(py, || self.inner.to_bytes())?;
        Ok(PyBytes::new(py, &b))
    }

    /// An engine from ``to_bytes`` output (verified like a file).
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: Vec<u8>) -> PyResult<Self> {
        Ok(PyEngine {
            inner: run(py, || Engine::from_bytes(&data))?,
        })
    }

    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (Bound<'py, PyBytes>,))> {
        let py = slf.py();
        let ctor = py.get_type::<PyEngine>().getattr("from_bytes")?;
        Ok((ctor, (slf.get().to_bytes(py)?,)))
    }

    /// Changes the HNSW search breadth for later queries (higher: better recall, slower).
    /// Cached results are invalidated; the value is saved with the engine.
    fn set_ef_search(&self, py: Python<'_>, ef: usize) -> PyResult<()> {
        run(py, || self.inner.set_ef_search(ef))
    }

    /// Changes the number of worker threads of the engine's pool (0 = one per core), e.g.
    /// after loading a file saved on another machine. Saved with the engine.
    fn set_threads(&self, py: Python<'_>, threads: usize) -> PyResult<()> {
        run(py, || self.inner.set_threads(threads))
    }

    /// Drops all cached results.
    fn clear_cache(&self) {
        self.inner.clear_cache()
    }

    /// Sizes, cache counters and per-operation latency percentiles (microseconds), as a dict.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = run(py, || Ok(self.inner.stats()))?;
        let d = PyDict::new(py);
        d.set_item("items", s.items)?;
        d.set_item("users", s.users)?;
        d.set_item("interactions", s.interactions)?;
        d.set_item("index", s.index)?;
        d.set_item("index_memory_bytes", s.index_memory_bytes)?;
        d.set_item("vector_memory_bytes", s.vector_memory_bytes)?;
        d.set_item("epoch", s.epoch)?;
        d.set_item("threads", s.threads)?;
        d.set_item("model", s.model)?;
        let c = PyDict::new(py);
        c.set_item("hits", s.cache.hits)?;
        c.set_item("misses", s.cache.misses)?;
        c.set_item("evictions", s.cache.evictions)?;
        c.set_item("expirations", s.cache.expirations)?;
        c.set_item("invalidations", s.cache.invalidations)?;
        c.set_item("entries", s.cache.entries)?;
        c.set_item("bytes", s.cache.bytes)?;
        c.set_item("capacity", s.cache.capacity)?;
        c.set_item("max_bytes", s.cache.max_bytes)?;
        c.set_item("hit_rate", s.cache.hit_rate)?;
        d.set_item("cache", c)?;
        let ops = PyDict::new(py);
        for o in s.ops {
            let od = PyDict::new(py);
            od.set_item("count", o.count)?;
            od.set_item("errors", o.errors)?;
            od.set_item("mean_us", o.mean_us)?;
            od.set_item("p50_us", o.p50_us)?;
            od.set_item("p95_us", o.p95_us)?;
            od.set_item("p99_us", o.p99_us)?;
            ops.set_item(o.name, od)?;
        }
        d.set_item("ops", ops)?;
        Ok(d)
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
    ///     model: ``"als"`` (implicit ALS; keywords ``factors=64, iterations=15,
    ///         regularization=0.01, alpha=1.0, confidence="linear"|"log", cg_steps=3, seed=42``),
    ///         ``"item_knn"`` (``neighbours=100, weighting="bm25"|"cosine", k1=1.2, b=0.75``),
    ///         ``"ease"`` (``regularization=200``; dense, up to 16,384 items with interactions,
    ///         about 12 n² bytes while training) or ``"popularity"``.
    ///     progress: called after every iteration with a dict (``iteration``, ``total``,
    ///         ``elapsed``, ``loss``); returning ``False`` cancels (CancelledError), and an
    ///         exception it raises propagates. The previous model stays on cancellation.
    ///     show_progress: draw a tqdm progress bar (on stderr) when tqdm is installed.
    ///
    /// Returns:
    ///     A dict: ``model``, ``users``, ``items``, ``interactions``, ``seconds``, ``loss``.
    #[pyo3(signature = (model="als", *, progress=None, show_progress=true, **params))]
    fn fit<'py>(
        &self,
        py: Python<'py>,
        model: &str,
        progress: Option<Py<PyAny>>,
        show_progress: bool,
        params: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let spec = crate::train::spec(py, model, params)?;
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
        let mut cb = |p: &embedrec::Progress| -> bool {
            Python::attach(|py| {
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
                        match crate::train::progress_dict(py, p).and_then(|d| f.call1(py, (d,))) {
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
        let result = py.detach(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.inner.fit(&spec, Some(&mut cb))
            }))
            .unwrap_or_else(|p| Err(embedrec::Error::from_panic(p)))
        });
        if let Some(b) = &bar {
            let _ = b.bind(py).call_method0("close");
        }
        let r = result
            .map_err(|e| crate::train::callback_error(py, e, raised.lock().unwrap().take()))?;
        let d = PyDict::new(py);
        d.set_item("model", r.model)?;
        d.set_item("users", r.users)?;
        d.set_item("items", r.items)?;
        d.set_item("interactions", r.interactions)?;
        d.set_item("seconds", r.seconds)?;
        d.set_item("loss", r.loss)?;
        Ok(d)
    }

    /// Name of the installed model (``"als"``, ``"item_knn"``, ``"popularity"``) or None.
    #[getter]
    fn model(&self) -> Option<&'static str> {
        self.inner.model_name()
    }

    /// Removes the trained model (queries go back to content-vector profiles).
    fn clear_model(&self) {
        self.inner.clear_model()
    }

    /// Ranking metrics at k on held-out interactions (e.g. the ``test`` part of
    /// ``holdout_split``): precision, recall, ndcg, map, hit_rate, coverage, users.
    #[pyo3(signature = (user_ids, item_ids, k=10))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        user_ids: Vec<String>,
        item_ids: Vec<String>,
        k: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let d = crate::train::interactions(py, user_ids, item_ids, None, None)?;
        let m = run(py, || self.inner.evaluate(&d, k))?;
        crate::train::metrics_dict(py, m)
    }

    /// Test hook: panics inside the core boundary (must raise InternalError).
    fn _debug_panic(&self, py: Python<'_>) -> PyResult<()> {
        run(py, || -> embedrec::Result<()> {
            panic!("deliberate panic for tests")
        })
    }
}
