"""Batch scoring through Spark (local mode), Ray and Dask: one documented call scores every
user of a saved engine (or of its shard set) and the results equal ``recommend_batch``.
Skipped when pyspark, ray or dask is not installed (CI installs them)."""

import os
import sys

import numpy as np
import pytest

import embedrec

USERS = 300


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    rng = np.random.default_rng(5)
    d = tmp_path_factory.mktemp("engine")
    e = embedrec.Engine(8, threads=2)
    e.upsert_items([f"t{i}" for i in range(2000)], rng.normal(size=(2000, 8)).astype(np.float32),
                   tags=[["a" if i % 3 else "b"] for i in range(2000)])
    users = np.repeat(np.arange(USERS), 12)
    e.add_interactions(users, [f"t{i}" for i in rng.integers(0, 2000, users.size)])
    e.fit("als", factors=8, iterations=4, show_progress=False)
    path = d / "e.embedrec"
    e.save(path)
    shards = embedrec.ShardedEngine.split_to(e, 3, d / "shards")
    return e, path, shards


def expected(e, users, k, **kw):
    ids, scores = e.recommend_batch(users, k=k, **kw)
    return {u: ([i for i in row if i is not None], [float(s) for s in sc if not np.isnan(s)])
            for u, row, sc in zip(users, ids, scores)}


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    s = (SparkSession.builder.master("local[2]").appName("embedrec-test")
         .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
         .config("spark.sql.execution.arrow.maxRecordsPerBatch", "64").getOrCreate())
    yield s
    s.stop()


def rows(df, key, out="items"):
    return {r[key]: (list(r[out]), list(r["scores"])) for r in df.collect()}


def test_spark_scores_every_user_as_recommend_batch(saved, spark):
    from embedrec import spark as es

    e, path, shards = saved
    users = list(range(USERS)) + [10**6]  # one unknown user: empty lists
    df = spark.createDataFrame([(u,) for u in users], "user_id long")
    want = expected(e, users[:-1], 10)
    for source in [path, shards, shards.parent]:
        got = rows(es.recommend(df, source, k=10), "user_id")
        assert got[10**6] == ([], [])
        for u in users[:-1]:
            assert got[u][0] == want[u][0], (source, u)
            np.testing.assert_allclose(got[u][1], want[u][1], rtol=1e-5)
    # Shipped with the job (SparkFiles) rather than read from a shared path.
    f = {"tags_any": ["b"]}
    want = expected(e, users[:-1], 5, filter=f)
    for source in [path, shards]:
        got = rows(es.recommend(df, source, k=5, filter=f, ship=True), "user_id")
        assert all(got[u][0] == want[u][0] for u in users[:-1]), source
    with pytest.raises(Exception, match="UnknownUser|unknown user"):
        es.recommend(df, path, on_unknown="raise").collect()


def test_spark_similar_items_and_sessions(saved, spark):
    from embedrec import spark as es

    e, path, _ = saved
    items = spark.createDataFrame([(f"t{i}",) for i in range(0, 2000, 50)], "item_id string")
    got = rows(es.similar(items, path, k=5), "item_id")
    for i in range(0, 2000, 50):
        assert got[f"t{i}"][0] == [h[0] for h in e.similar(f"t{i}", k=5)]
    sessions = spark.createDataFrame([(1, ["t1", "t7"]), (2, ["t9"]), (3, ["nope"])], "sid long, items array<string>")
    got = rows(es.recommend_sessions(sessions, path, key_col="sid", k=4), "sid", "recommended")
    assert got[1][0] == [h[0] for h in e.recommend_for_items(["t1", "t7"], k=4)]
    assert got[3] == ([], [])


@pytest.fixture(scope="module")
def ray_started():
    ray = pytest.importorskip("ray")
    pytest.importorskip("pandas")
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    yield ray
    ray.shutdown()


def test_ray_scores_every_user_as_recommend_batch(saved, ray_started):
    import ray.data

    from embedrec import ray as er

    e, path, shards = saved
    users = list(range(USERS))
    want = expected(e, users, 10)
    for source in [path, shards]:
        ds = ray.data.from_items([{"user_id": u} for u in users], override_num_blocks=4)
        got = {r["user_id"]: (list(r["items"]), list(r["scores"])) for r in er.recommend(ds, source, k=10).take_all()}
        for u in users:
            assert got[u][0] == want[u][0], (source, u)
            np.testing.assert_allclose(got[u][1], want[u][1], rtol=1e-5)
    pool = er.actor_pool(path, size=2)
    chunks = [users[:150], users[150:]]
    out = list(pool.map(lambda a, c: a.recommend_batch.remote(c, 10), chunks))
    assert [i for items, _ in out for i in items] == [want[u][0] for u in users]


def _recommend_with(handle, users):
    """Runs in a worker: the engine behind a broadcast or object-store handle."""
    engine = handle.value if hasattr(handle, "value") else handle
    return [(u, [i for i, _ in engine.recommend(u, k=5)]) for u in users]


def test_engines_travel_by_reference_in_broadcasts_and_the_object_store(saved, spark, ray_started):
    import pickle

    e, path, _ = saved
    ro = embedrec.open_shared(path)
    assert len(pickle.dumps(ro)) < 1000  # the path and identity, never the bytes
    want = {u: [i for i, _ in e.recommend(u, k=5)] for u in range(40)}
    from pyspark import cloudpickle as spark_pickle

    spark_pickle.register_pickle_by_value(sys.modules[__name__])
    bc = spark.sparkContext.broadcast(ro)
    got = spark.sparkContext.parallelize(range(40), 2).mapPartitions(lambda us: _recommend_with(bc, list(us))).collect()
    assert dict(got) == want
    ray = ray_started
    from ray import cloudpickle as ray_pickle

    ray_pickle.register_pickle_by_value(sys.modules[__name__])
    ref = ray.put(ro)
    task = ray.remote(num_cpus=1)(lambda engine, us: _recommend_with(engine, us))
    assert dict(ray.get(task.remote(ref, list(range(40))))) == want


def test_dask_scores_every_user_as_recommend_batch(saved):
    dd = pytest.importorskip("dask.dataframe")
    import dask

    from embedrec import dask as edask

    e, path, shards = saved
    users = list(range(USERS)) + [10**6]
    want = expected(e, users[:-1], 10)
    ddf = dd.from_dict({"user_id": users}, npartitions=4)
    for source, scheduler in [(path, "threads"), (shards, "processes")]:
        with dask.config.set(scheduler=scheduler):
            got = edask.recommend(ddf, source, k=10).compute()
        rows = {u: (list(i), list(s)) for u, i, s in zip(got["user_id"], got["items"], got["scores"])}
        assert rows[10**6] == ([], [])
        for u in users[:-1]:
            assert rows[u][0] == want[u][0], (source, u)
            np.testing.assert_allclose(rows[u][1], want[u][1], rtol=1e-5)
    items = dd.from_dict({"item_id": ["t1", "t50"]}, npartitions=1)
    got = edask.similar(items, path, k=3).compute()
    assert list(got["items"].iloc[0]) == [h[0] for h in e.similar("t1", k=3)]
