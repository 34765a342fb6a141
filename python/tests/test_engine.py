"""The same scenarios as the Rust tests, through the Python API."""

import copy
import os
import pickle
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import embedrec
from conftest import make_catalog


def ids(hits):
    return [h[0] for h in hits]


def test_build_len_contains_vector(engine):
    assert len(engine) == 2000
    assert "t1" in engine and "nope" not in engine
    v = engine.item_vector("t3")
    assert v.dtype == np.float32 and v.shape == (16,)
    assert engine.dim == 16 and engine.config["metric"] == "cosine"


def test_search_similar_scores_and_k(engine):
    q = engine.item_vector("t0")
    hits = engine.search(q, k=5)
    assert hits[0][0] == "t0" and abs(hits[0][1] - 1.0) < 1e-5
    assert all(a[1] >= b[1] for a, b in zip(hits, hits[1:]))
    sim = engine.similar("t0", k=10)
    assert len(sim) == 10 and "t0" not in ids(sim)
    small = embedrec.Engine(dim=2, metric="l2")
    small.upsert_items(["a", "b"], [[0, 0], [3, 4]])
    assert small.search([0, 0], k=100) == [("a", -0.0), ("b", -25.0)]


def test_upsert_replaces_remove_forgets():
    e = embedrec.Engine(dim=2, metric="dot")
    e.upsert_items(["a", "b"], np.array([[1, 0], [0, 1]], dtype=np.float32))
    e.upsert_items(["a"], np.array([[0, 2]], dtype=np.float32))
    assert len(e) == 2 and e.item_vector("a").tolist() == [0, 2]
    assert ids(e.search([0, 1], k=2)) == ["a", "b"]
    assert e.remove_items(["a"]) == 1
    assert ids(e.search([0, 1], k=2)) == ["b"]


def test_filters_object_and_dict(engine):
    q = engine.item_vector("t0")
    f = embedrec.Filter(tags_any=["jazz"], ranges={"year": (1970, 1971)})
    hits = engine.search(q, k=20, filter=f)
    assert len(hits) == 20
    for h, _ in hits:
        i = int(h[1:])
        assert i % 5 == 1 and 10 <= i % 60 <= 11
    assert engine.search(q, k=20, filter={"tags_any": ["jazz"], "ranges": {"year": (1970, 1971)}}) == hits
    assert len(engine.search(q, k=5, filter=embedrec.Filter(allow_ids=["t3", "t4", "zz"]))) == 2
    assert engine.search(q, k=5, filter=embedrec.Filter(tags_all=["rock", "jazz"])) == []
    top = engine.search(q, k=1)[0][0]
    assert engine.search(q, k=1, filter=embedrec.Filter(deny_ids=[top]))[0][0] != top
    with pytest.raises(embedrec.UnknownAttributeError, match="tempo"):
        engine.search(q, k=5, filter=embedrec.Filter(ranges={"tempo": (1, None)}))
    with pytest.raises(embedrec.InvalidInputError, match="filter"):
        engine.search(q, k=5, filter=42)
    assert "tags_any=['jazz']" in repr(f)


def test_recommend_and_anonymous(engine):
    items = [f"t{i * 5 + 1}" for i in range(20)]
    engine.add_interactions(["u1"] * 20, items, weights=[1.0] * 20, timestamps=list(range(20)))
    recs = engine.recommend("u1", k=10)
    assert len(recs) == 10
    assert not set(ids(recs)) & set(items)
    assert all(int(r[1:]) % 5 == 1 for r in ids(recs))
    everything = ids(engine.recommend("u1", k=len(engine), exclude_seen=False))
    assert set(items) <= set(everything)
    assert ids(engine.recommend_for_items(items, k=10)) == ids(recs)
    with pytest.raises(embedrec.UnknownUserError, match="ghost"):
        engine.recommend("ghost")
    popular = engine.recommend_for_items([], k=3)
    assert len(popular) == 3


def test_batch_arrays_match_single(engine):
    _, q, _, _ = make_catalog(30, 16, seed=7)
    bids, bscores = engine.search_batch(q, k=5)
    assert bids.shape == (30, 5) and bscores.shape == (30, 5) and bscores.dtype == np.float32
    for i in range(30):
        single = engine.search(q[i], k=5)
        assert list(bids[i]) == ids(single)
        np.testing.assert_allclose(bscores[i], [s for _, s in single], rtol=1e-6)
    users = [f"u{i}" for i in range(10)]
    for i, u in enumerate(users):
        engine.add_interactions([u, u], [f"t{i}", f"t{i + 50}"])
    rids, _ = engine.recommend_batch(users, k=4)
    for i, u in enumerate(users):
        assert list(rids[i]) == ids(engine.recommend(u, k=4))
    # Padding when fewer than k results exist.
    small = embedrec.Engine(dim=2)
    small.upsert_items(["a", "b"], [[1, 0], [0, 1]])
    pids, pscores = small.search_batch(np.array([[1, 0]], dtype=np.float32), k=3)
    assert list(pids[0]) == ["a", "b", None] and np.isnan(pscores[0, 2])
    e_ids, e_scores = small.search_batch(np.zeros((0, 2), dtype=np.float32), k=3)
    assert e_ids.shape == (0, 3)


def test_cache_invalidation_on_every_mutation(engine):
    engine.add_interactions(["u"], ["t1"])
    q = np.ones(16, dtype=np.float32)
    first = engine.search(q, k=5)
    assert engine.search(q, k=5) == first
    s = engine.stats()["cache"]
    assert s["hits"] == 1 and s["misses"] == 1 and 0.49 < s["hit_rate"] < 0.51
    top = first[0][0]
    engine.upsert_items([top], -np.ones((1, 16), dtype=np.float32))
    assert top not in ids(engine.search(q, k=5))
    victim = engine.search(q, k=5)[0][0]
    engine.remove_items([victim])
    assert victim not in ids(engine.search(q, k=5))
    r1 = engine.recommend("u", k=3)
    engine.add_interactions(["u"], [r1[0][0]])
    assert r1[0][0] not in ids(engine.recommend("u", k=3))
    assert engine.stats()["cache"]["invalidations"] >= 3


def test_stats_and_metrics_text(engine):
    for _ in range(5):
        engine.similar("t1", k=3)
    with pytest.raises(embedrec.UnknownItemError):
        engine.similar("missing")
    st = engine.stats()
    assert st["items"] == 2000 and st["ops"]["similar"]["count"] == 6 and st["ops"]["similar"]["errors"] == 1
    assert st["ops"]["similar"]["p50_us"] <= st["ops"]["similar"]["p99_us"]
    text = engine.metrics_text()
    assert "embedrec_items 2000" in text
    assert 'embedrec_op_duration_seconds_count{op="similar"} 6' in text


def test_save_load_pickle_deepcopy(engine, tmp_path):
    engine.add_interactions(["u1", "u1"], ["t1", "t2"], weights=[1, 3])
    path = tmp_path / "e.embedrec"
    engine.save(path)
    loaded = embedrec.Engine.load(str(path))
    assert len(loaded) == len(engine)
    assert loaded.recommend("u1", k=5) == engine.recommend("u1", k=5)
    assert os.listdir(tmp_path) == ["e.embedrec"]
    for clone in (pickle.loads(pickle.dumps(engine)), copy.deepcopy(engine)):
        assert clone.similar("t9", k=5) == engine.similar("t9", k=5)
    assert pickle.dumps(engine)[:100].find(b"EMBEDREC") >= 0


def test_corrupt_files_raise(engine, tmp_path):
    data = engine.to_bytes()
    for bad in (b"", data[:10], data[:-1], data + b"\0", b"garbage" * 10):
        with pytest.raises(embedrec.CorruptFileError):
            embedrec.Engine.from_bytes(bad)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    with pytest.raises(embedrec.CorruptFileError, match="checksum"):
        embedrec.Engine.from_bytes(bytes(flipped))
    future = bytearray(data)
    future[8] = 99
    with pytest.raises(embedrec.UnsupportedVersionError):
        embedrec.Engine.from_bytes(bytes(future))
    p = tmp_path / "trunc.embedrec"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(embedrec.CorruptFileError) as ei:
        embedrec.Engine.load(p)
    assert ei.value.code == "CORRUPT" and "trunc.embedrec" in str(ei.value)
    with pytest.raises(embedrec.EmbedrecIOError) as ei:
        embedrec.Engine.load(tmp_path / "missing.embedrec")
    assert isinstance(ei.value, OSError)
    with pytest.raises(embedrec.EmbedrecIOError, match="directory"):
        embedrec.Engine.load(tmp_path)
    with pytest.raises(embedrec.CorruptFileError):
        pickle.loads(pickle.dumps(engine).replace(b"EMBEDREC", b"EMBEDREX"))


def test_numpy_dtype_shape_stride_edge_cases():
    e = embedrec.Engine(dim=4, metric="dot", index="exact")
    base = np.arange(32, dtype=np.float64).reshape(8, 4) + 1
    e.upsert_items([f"a{i}" for i in range(4)], base[:4])  # float64 converted
    e.upsert_items([f"b{i}" for i in range(4)], np.asfortranarray(base[4:].astype(np.float32)))  # F order
    e.upsert_items(["s0", "s1"], base.astype(np.float32)[::4])  # strided rows
    e.upsert_items(["i0"], np.array([[1, 2, 3, 4]], dtype=np.int64))
    assert len(e) == 11
    assert e.item_vector("s1").tolist() == base[4].tolist()
    assert e.item_vector("b0").tolist() == base[4].tolist()
    with pytest.raises(embedrec.DimensionMismatchError, match="expected 4"):
        e.upsert_items(["x"], np.ones((1, 5), dtype=np.float32))
    with pytest.raises(embedrec.InvalidInputError, match="2-D"):
        e.upsert_items(["x"], np.ones(4, dtype=np.float32))
    with pytest.raises(embedrec.InvalidInputError, match="vectors"):
        e.upsert_items(["x"], [["a", "b", "c", "d"]])
    with pytest.raises(embedrec.InvalidInputError, match=r"vectors\[0\]\[2\]"):
        e.upsert_items(["x"], np.array([[1, 2, np.nan, 4]], dtype=np.float32))
    with pytest.raises(embedrec.InvalidInputError, match="1 entries"):
        e.upsert_items(["x", "y"], np.ones((1, 4), dtype=np.float32))
    with pytest.raises(embedrec.InvalidInputError):
        e.search(np.ones((2, 4)), k=1)
    with pytest.raises(embedrec.InvalidInputError, match="k"):
        e.search(np.ones(4), k=0)
    with pytest.raises(ValueError):  # InvalidInputError is a ValueError
        e.search([1, 2, 3, np.inf], k=1)
    assert len(e) == 11


def test_errors_are_classes_with_codes():
    assert issubclass(embedrec.EmbedrecError, Exception)
    for cls in (embedrec.UnknownItemError, embedrec.UnknownUserError):
        assert issubclass(cls, KeyError) and issubclass(cls, embedrec.EmbedrecError)
    assert issubclass(embedrec.EmbedrecIOError, OSError)
    with pytest.raises(embedrec.InvalidInputError, match="config.m"):
        embedrec.Engine(dim=4, m=300)
    with pytest.raises(embedrec.InvalidInputError, match="metric"):
        embedrec.Engine(dim=4, metric="manhattan")
    e = embedrec.Engine(dim=2)
    with pytest.raises(embedrec.InvalidInputError, match="zero vector"):
        e.upsert_items(["z"], [[0, 0]])
    with pytest.raises(embedrec.UnknownItemError) as ei:
        e.recommend_for_items(["nope"])
    assert ei.value.code == "UNKNOWN_ITEM" and str(ei.value) == 'unknown item id "nope" in items[0]'
    # Ids are str or int: anything else is a TypeError naming the position, and a lone str
    # is not taken for a sequence of one-letter ids.
    with pytest.raises(TypeError, match=r"ids\[1\]: expected str or int, got float"):
        e.upsert_items(["a", 7.0], [[1, 0], [0, 1]])
    with pytest.raises(TypeError, match="single str"):
        e.upsert_items("ab", [[1, 0], [0, 1]])
    e.upsert_items(("é", "日本"), np.eye(2, dtype=np.float32))  # any sequence, any UTF-8
    assert {h[0] for h in e.search([1, 1], k=2)} == {"é", "日本"}
    assert len(e) == 2


def test_panic_becomes_internal_error_and_engine_survives(engine):
    with pytest.raises(embedrec.InternalError, match="deliberate panic"):
        embedrec._native._debug_panic()
    try:
        embedrec._native._debug_panic()
    except Exception:  # a PanicException (BaseException) would escape this
        pass
    assert len(engine.similar("t1", k=3)) == 3


def test_gil_released_during_batch():
    e = embedrec.Engine(dim=32, threads=1, cache_capacity=0)
    _, v, _, _ = make_catalog(20000, 32)
    e.upsert_items([f"t{i}" for i in range(len(v))], v)
    queries = v[:3000]
    ticks = []
    stop = threading.Event()

    def counter():
        while not stop.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=counter)
    t.start()
    time.sleep(0.02)
    before = len(ticks)
    t0 = time.perf_counter()
    # Batches until 0.1 s have passed (one is too short on a fast machine). A batch that
    # held the GIL would let the counter advance about once per batch, between them.
    rounds, elapsed = 0, 0.0
    while elapsed < 0.1 and rounds < 100:
        e.search_batch(queries, k=10)
        rounds += 1
        elapsed = time.perf_counter() - t0
    during = len(ticks) - before
    stop.set()
    t.join()
    assert elapsed >= 0.1, f"100 batches took only {elapsed:.3f}s"
    assert during >= rounds + 10, (
        f"counter thread advanced only {during} times in {elapsed:.3f}s ({rounds} batches)"
    )


def test_thread_safety_many_threads(engine):
    errors = []

    def worker(n):
        try:
            rng = np.random.default_rng(n)
            for i in range(100):
                if n == 0 and i % 10 == 0:
                    engine.upsert_items([f"new{i}"], rng.normal(size=(1, 16)).astype(np.float32))
                elif n == 1 and i % 10 == 0:
                    engine.add_interactions(["tu"], [f"t{i}"])
                else:
                    assert len(engine.search(rng.normal(size=16), k=5)) == 5
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(engine) == 2010


@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_fork_after_batch_runs_batches():
    import multiprocessing as mp

    code = r"""
import os, numpy as np, embedrec
e = embedrec.Engine(dim=8, threads=2)
v = np.random.default_rng(0).normal(size=(3000, 8)).astype(np.float32)
e.upsert_items([f"t{i}" for i in range(3000)], v)
parent = e.search_batch(v[:64], k=5)[0]
pid = os.fork()
if pid == 0:
    child = e.search_batch(v[:64], k=5)[0]
    e.upsert_items(["x"], np.ones((1, 8), dtype=np.float32))
    os._exit(0 if (child == parent).all() else 3)
_, status = os.waitpid(pid, 0)
raise SystemExit(os.waitstatus_to_exitcode(status))
"""
    r = subprocess.run([sys.executable, "-c", code], timeout=60)
    assert r.returncode == 0


def test_readme_python_snippet_runs():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks, "README has no python snippet"
    for b in blocks:
        exec(compile(b, "README.md", "exec"), {})


def test_movielens_when_present(movielens):
    root = movielens
    import csv

    with open(root / "movies.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    genres = sorted({g for r in rows for g in r["genres"].split("|")})
    v = np.zeros((len(rows), len(genres)), dtype=np.float32)
    for i, r in enumerate(rows):
        for g in r["genres"].split("|"):
            v[i, genres.index(g)] = 1
    e = embedrec.Engine(dim=len(genres))
    e.upsert_items([r["movieId"] for r in rows], v, tags=[r["genres"].split("|") for r in rows])
    assert len(e) == 9742
    sim = e.similar("1", k=5, filter={"tags_all": ["Animation"]})
    assert len(sim) == 5


def test_set_ef_search_tunes_invalidates_and_is_saved(tmp_path):
    ids_, vecs, _, _ = make_catalog(3000, 8)
    e = embedrec.Engine(8, metric="l2")
    e.upsert_items(ids_, vecs)
    q = np.full(8, 0.5, dtype=np.float32)
    wide = e.search(q, k=10)
    assert e.config["ef_search"] == 128
    with pytest.raises(embedrec.InvalidInputError, match="ef_search"):
        e.set_ef_search(0)
    e.set_ef_search(10)
    assert e.config["ef_search"] == 10
    misses = e.stats()["cache"]["misses"]
    narrow = e.search(q, k=10)
    assert e.stats()["cache"]["misses"] == misses + 1
    assert len(narrow) == 10 and narrow[0][1] <= wide[0][1] + 1e-6
    e.save(tmp_path / "ef.embedrec")
    assert embedrec.Engine.load(tmp_path / "ef.embedrec").config["ef_search"] == 10


def test_set_threads_resizes_the_pool_and_is_saved(tmp_path):
    ids_, vecs, _, _ = make_catalog(2000, 8)
    e = embedrec.Engine(8, metric="l2", threads=2)
    e.upsert_items(ids_, vecs)
    before = e.search_batch(vecs[:50], k=5)
    with pytest.raises(embedrec.InvalidInputError, match="threads.*1025"):
        e.set_threads(1025)
    assert e.config["threads"] == 2
    e.set_threads(1)
    assert e.config["threads"] == 1 and e.stats()["threads"] == 1
    e.clear_cache()
    after = e.search_batch(vecs[:50], k=5)
    assert [list(r) for r in after[0]] == [list(r) for r in before[0]]
    e.save(tmp_path / "t.embedrec")
    assert embedrec.Engine.load(tmp_path / "t.embedrec").config["threads"] == 1


def test_simd_level_names_the_kernels():
    assert embedrec.simd_level() in {"avx512", "avx2+fma", "neon", "scalar"}


def test_native_int8_finds_an_item_upserted_outside_the_fitted_range():
    # The codes are fitted on the first batch; the later outlier's codes are clamped, so its
    # estimate ranks it low, yet its exact score is the best (10 - 0.3 * 7 = 7.9).
    rng = np.random.default_rng(21)
    e = embedrec.Engine(8, metric="dot", index="native_int8", exact_below=0)
    e.upsert_items([f"i{i}" for i in range(300)], rng.uniform(-1, 1, size=(300, 8)).astype(np.float32))
    e.upsert_items(["outlier"], np.array([[10.0] + [-1.0] * 7], dtype=np.float32))
    e.set_ef_search(600)
    q = np.array([1.0] + [0.3] * 7, dtype=np.float32)
    hits = e.search(q, k=10)
    assert hits[0][0] == "outlier" and abs(hits[0][1] - 7.9) < 1e-4


@pytest.mark.parametrize("storage", ["f32", "f16"])
def test_native_int8_index_returns_exact_scores_and_round_trips(tmp_path, storage):
    # The codes re-score candidates on the stored rows, f32 or f16: scores are exact for the
    # stored vectors (those item_vector returns), which f16 rounds to about 3 digits.
    ids_, vecs, _, _ = make_catalog(4000, 16)
    e = embedrec.Engine(16, metric="l2", index="native_int8", exact_below=0, vector_storage=storage)
    e.upsert_items(ids_, vecs)
    assert e.stats()["index"] == "native_int8" and e.config["vector_storage"] == storage
    hits = e.search(vecs[7], k=10)
    assert hits[0][0] == "t7" and abs(hits[0][1]) < (1e-6 if storage == "f32" else 1e-4)
    other = e.search(vecs[9], k=3)
    exact = -float(((e.item_vector(other[1][0]) - vecs[9]) ** 2).sum())
    assert abs(other[1][1] - exact) < 1e-4
    e.save(tmp_path / "i8.embedrec")
    loaded = embedrec.Engine.load(tmp_path / "i8.embedrec")
    assert loaded.config["index"] == "native_int8" and loaded.config["vector_storage"] == storage
    assert loaded.search(vecs[9], k=3) == other
    # Served read-only from the mapped file (the codes and links are read from the file's
    # graph section; the stored rows stay mapped and re-score the candidates): the same answers,
    # and at a wide search every true top-10 is found (recall 1.0 against the exact index).
    served = embedrec.Engine.open(tmp_path / "i8.embedrec", read_only=True)
    assert served.search(vecs[9], k=3) == other
    exact = embedrec.Engine(16, metric="l2", index="exact", vector_storage=storage)
    exact.upsert_items(ids_, vecs)
    served.set_ef_search(200)
    queries = vecs[:50] + 0.05
    for q in queries:
        assert [h[0] for h in served.search(q, k=10)] == [h[0] for h in exact.search(q, k=10)]


def test_native_1bit_index_reaches_full_recall_and_serves_read_only(tmp_path):
    # Embedding-like data: a 16-dimensional cluster mixture mapped into 384 dimensions.
    rng = np.random.default_rng(4)
    n, dim = 3000, 384
    latent = rng.normal(size=(40, 16))[rng.integers(0, 40, n + 30)] + 0.5 * rng.normal(size=(n + 30, 16))
    vecs = (latent @ rng.normal(size=(16, dim)) * 0.25 + 0.05 * rng.normal(size=(n + 30, dim))).astype(np.float32)
    ids_ = [f"t{i}" for i in range(n)]
    e = embedrec.Engine(dim, metric="dot", index="native_1bit", exact_below=0, ef_search=200)
    e.upsert_items(ids_, vecs[:n])
    assert e.stats()["index"] == "native_1bit"
    exact = embedrec.Engine(dim, metric="dot", index="exact")
    exact.upsert_items(ids_, vecs[:n])
    found = 0
    for q in vecs[n:]:
        got, truth = e.search(q, k=10), exact.search(q, k=10)
        found += len({h[0] for h in got} & {h[0] for h in truth})
        if got[0][0] == truth[0][0]:
            assert abs(got[0][1] - truth[0][1]) <= 1e-4 * max(1.0, abs(truth[0][1]))
    assert found / (10 * 30) >= 0.97
    e.save(tmp_path / "bits.embedrec")
    served = embedrec.Engine.open(tmp_path / "bits.embedrec", read_only=True)
    assert served.config["index"] == "native_1bit"
    for q in vecs[n:]:
        assert served.search(q, k=10) == e.search(q, k=10)
    with pytest.raises(embedrec.InvalidInputError, match=r'native_1bit'):
        embedrec.Engine(dim, index="native_2bit")


def test_int8_vector_storage_scores_recall_memory_and_round_trip(tmp_path):
    with pytest.raises(embedrec.InvalidInputError, match=r'vector_storage.*"int8"'):
        embedrec.Engine(32, vector_storage="f8")
    ids_, vecs, _, _ = make_catalog(3000, 32)
    queries = vecs[:30] + 0.3
    f32 = embedrec.Engine(32, metric="l2", index="exact", cache_capacity=0)
    i8 = embedrec.Engine(32, metric="l2", vector_storage="int8", exact_below=0, cache_capacity=0)
    for e in (f32, i8):
        e.upsert_items(ids_, vecs)
    assert i8.config["vector_storage"] == "int8" and f32.config["vector_storage"] == "f32"
    # Stored vectors are within half a step (max |v| / 127 / 2) of the input.
    stored = i8.item_vector("t5")
    step = np.abs(vecs[5]).max() / 127
    assert np.all(np.abs(stored - vecs[5]) <= step * 0.5001)
    found = 0
    for q in queries:
        hits = i8.search(q, k=10)
        truth = ids(f32.search(q, k=10))
        found += len(set(ids(hits)) & set(truth))
        # Scores are exact for the stored vectors.
        for hid, score in hits[:3]:
            want = -float(((i8.item_vector(hid).astype(np.float64) - q) ** 2).sum())
            assert abs(score - want) <= 1e-4 * max(1.0, abs(want))
    assert found / (10 * len(queries)) >= 0.9
    assert i8.stats()["vector_memory_bytes"] * 3 < f32.stats()["vector_memory_bytes"]
    i8.save(tmp_path / "codes.embedrec")
    loaded = embedrec.Engine.load(tmp_path / "codes.embedrec")
    assert loaded.config["vector_storage"] == "int8"
    assert np.array_equal(loaded.item_vector("t5"), stored)
    assert loaded.search(queries[0], k=10) == i8.search(queries[0], k=10)


def test_f16_vector_storage_keeps_recall_halves_memory_and_refuses_out_of_range(tmp_path):
    ids_, vecs, _, _ = make_catalog(3000, 32)
    queries = vecs[:30] + 0.3
    f32 = embedrec.Engine(32, metric="cosine", index="exact", cache_capacity=0)
    f16 = embedrec.Engine(32, metric="cosine", vector_storage="f16", exact_below=0, cache_capacity=0)
    for e in (f32, f16):
        e.upsert_items(ids_, vecs)
    assert f16.config["vector_storage"] == "f16"
    # Stored values are the f16 roundings of the input (relative error at most 2^-11).
    stored = f16.item_vector("t5")
    assert np.array_equal(stored, vecs[5].astype(np.float16).astype(np.float32))
    found = 0
    for q in queries:
        hits = f16.search(q, k=10)
        found += len(set(ids(hits)) & set(ids(f32.search(q, k=10))))
        for hid, score in hits[:3]:
            v = f16.item_vector(hid).astype(np.float64)
            want = float(v @ q / (np.linalg.norm(v) * np.linalg.norm(q)))
            assert abs(score - want) <= 1e-4
    assert found / (10 * len(queries)) >= 0.98
    assert f16.stats()["vector_memory_bytes"] < 0.55 * f32.stats()["vector_memory_bytes"]
    # Values f16 cannot hold are refused, naming the component; nothing is stored.
    bad = np.full((1, 32), 0.5, dtype=np.float32)
    bad[0, 3] = 1e6
    with pytest.raises(embedrec.InvalidInputError, match=r"vectors\[0\]\[3\].*65504") as err:
        f16.upsert_items(["big"], bad)
    assert err.value.code == "INVALID_INPUT"
    with pytest.raises(embedrec.InvalidInputError, match=r"rounds to zero"):
        f16.upsert_items(["tiny"], np.full((1, 32), 1e-9, dtype=np.float32))
    assert "big" not in f16 and "tiny" not in f16
    f16.save(tmp_path / "half.embedrec")
    loaded = embedrec.Engine.load(tmp_path / "half.embedrec")
    served = embedrec.Engine.open(tmp_path / "half.embedrec", read_only=True)
    for other in (loaded, served):
        assert other.config["vector_storage"] == "f16"
        assert np.array_equal(other.item_vector("t5"), stored)
        for q in queries[:5]:
            assert other.search(q, k=10) == f16.search(q, k=10)
