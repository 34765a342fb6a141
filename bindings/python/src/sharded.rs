//! `embedrec.ShardedEngine`.

use crate::engine::{PyEngine, answer_py, batch_result, f32_1d, filter_of};
use crate::error::{invalid, run, to_py};
use crate::ids::{id_of, ids_of, py_ids};
use crate::value::{Int, Weights, kwargs};
use embedrec::ShardedEngine;
use embedrec_host::{Options, Style};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// An engine's items split by a hash of their ids over several shard engines, queried as
/// one: every shard answers its part in parallel and the best ``k`` of all are returned,
/// with the scores the whole engine gives (the same model in every shard). For catalogs
/// past one machine's memory, or to spread one catalog over processes.
///
/// ``ShardedEngine.split(engine, shards)`` makes a set in memory;
/// ``ShardedEngine.split_to(engine, shards, directory)`` writes shard files and a manifest,
/// which ``ShardedEngine.open(path)`` opens read-only (memory-mapped). The engine's model
/// must be ALS, popularity or none. Such a set pickles by reference (its manifest path).
///
///     >>> import numpy as np
///     >>> e = Engine(2)
///     >>> e.upsert_items(["a", "b", "c"], np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype=np.float32))
///     >>> s = ShardedEngine.split(e, 2)
///     >>> [id for id, _ in s.similar("a", k=2)]
///     ['b', 'c']
#[pyclass(name = "ShardedEngine", module = "embedrec", frozen)]
pub(crate) struct PyShardedEngine {
    inner: ShardedEngine,
}

#[pymethods]
impl PyShardedEngine {
    /// Splits ``engine`` into ``shards`` item shards in memory.
    #[staticmethod]
    fn split(py: Python<'_>, engine: &Bound<'_, PyEngine>, shards: Int) -> PyResult<Self> {
        let n = shards.usize(py, "shards")?;
        let e = &engine.get().inner;
        let inner = run(py, || ShardedEngine::split(e, n))?;
        Ok(PyShardedEngine { inner })
    }

    /// Writes ``engine`` as ``shards`` shard files and a manifest into ``directory``;
    /// returns the manifest's path (what ``open`` takes).
    #[staticmethod]
    fn split_to(
        py: Python<'_>,
        engine: &Bound<'_, PyEngine>,
        shards: Int,
        directory: std::path::PathBuf,
    ) -> PyResult<std::path::PathBuf> {
        let n = shards.usize(py, "shards")?;
        let e = &engine.get().inner;
        run(py, || ShardedEngine::split_to(e, n, &directory))
    }

    /// Opens the set a manifest names (its path or its directory), every shard read-only
    /// and memory-mapped. ``threads``: the set's pool (default 0: one per core).
    #[staticmethod]
    #[pyo3(signature = (path, **options))]
    fn open(
        py: Python<'_>,
        path: std::path::PathBuf,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let o = Options::new("", Style::Snake, kwargs(py, options)?).map_err(|e| to_py(py, e))?;
        let threads = embedrec_host::sharded_open_options(o).map_err(|e| to_py(py, e))?;
        let inner = run(py, || ShardedEngine::open(&path, threads))?;
        Ok(PyShardedEngine { inner })
    }

    /// The number of shards.
    #[getter]
    fn shards(&self) -> usize {
        self.inner.shards()
    }

    /// The manifest of a set opened from files, else ``None``.
    #[getter]
    fn manifest(&self) -> Option<std::path::PathBuf> {
        self.inner.manifest().map(|p| p.to_path_buf())
    }

    /// Live items over every shard.
    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Ids of every shard's items.
    fn item_ids<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyAny>> {
        crate::ids::py_ids(py, &self.inner.item_ids())
    }

    /// Threads of the set's pool (0 = one per core).
    fn set_threads(&self, py: Python<'_>, threads: Int) -> PyResult<()> {
        let threads = threads.usize(py, "threads")?;
        run(py, || self.inner.set_threads(threads))
    }

    /// The k items most similar to ``vector`` over every shard.
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

    /// Recommendations for a stored user, as ``Engine.recommend`` (diversity is not
    /// available on a sharded engine).
    #[pyo3(signature = (user_id, k=Int::default_k(), filter=None, exclude_seen=true, with_metadata=false))]
    fn recommend<'py>(
        &self,
        py: Python<'py>,
        user_id: &Bound<'py, PyAny>,
        k: Int,
        filter: Option<&Bound<'py, PyAny>>,
        exclude_seen: bool,
        with_metadata: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let user_id = id_of(user_id, "user_id")?;
        let k = k.usize(py, "k")?;
        let o = PyEngine::opts(filter_of(filter, py)?, exclude_seen, 0.0);
        let a = run(py, || {
            self.inner
                .answer(with_metadata, |e| e.recommend(&user_id, k, &o))
        })?;
        answer_py(py, a)
    }

    /// Recommendations for a session's items, as ``Engine.recommend_for_items``.
    #[pyo3(signature = (items, weights=None, k=Int::default_k(), filter=None, exclude_seen=true, with_metadata=false))]
    #[allow(clippy::too_many_arguments)] // the keyword arguments of the Python signature
    fn recommend_for_items<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
        weights: Option<Weights<'py>>,
        k: Int,
        filter: Option<&Bound<'py, PyAny>>,
        exclude_seen: bool,
        with_metadata: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let items = ids_of(items, "items")?;
        let k = k.usize(py, "k")?;
        let o = PyEngine::opts(filter_of(filter, py)?, exclude_seen, 0.0);
        let weights = weights.as_ref().map(Weights::get);
        let a = run(py, || {
            self.inner.answer(with_metadata, |e| {
                e.recommend_for_items(&items, weights.as_deref(), k, &o)
            })
        })?;
        answer_py(py, a)
    }

    /// ``recommend`` for every user, in parallel. Returns ``(ids, scores)`` arrays of
    /// shape (n, k), padded with None / nan.
    #[pyo3(signature = (user_ids, k=Int::default_k(), filter=None, exclude_seen=true, as_frame=false))]
    fn recommend_batch<'py>(
        &self,
        py: Python<'py>,
        user_ids: &Bound<'py, PyAny>,
        k: Int,
        filter: Option<&Bound<'py, PyAny>>,
        exclude_seen: bool,
        as_frame: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let users = ids_of(user_ids, "user_ids")?;
        let k = k.usize(py, "k")?;
        let o = PyEngine::opts(filter_of(filter, py)?, exclude_seen, 0.0);
        let rows = run(py, || self.inner.recommend_batch(&users, k, &o))?;
        let frame = as_frame.then(|| ("user_id", py_ids(py, &users)));
        batch_result(py, rows, k, frame)
    }

    /// Pickling by reference: a set opened from files comes back by opening its manifest
    /// (nothing but the path travels). A set made in memory does not pickle.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let py = slf.py();
        let Some(path) = slf.get().inner.manifest() else {
            return Err(invalid(
                py,
                "ShardedEngine",
                "a set opened from files (ShardedEngine.open) to pickle",
                "a set made in memory",
            ));
        };
        let open = py.import("embedrec._registry")?.getattr("open_sharded")?;
        let args = (path.to_path_buf(),).into_pyobject(py)?.into_any();
        Ok((open, args))
    }
}
