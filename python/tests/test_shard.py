"""Item-sharded engines through Python: the same scenarios as tests/shard.rs — a split answers
as the whole engine (content, ALS, popularity; filters and seen items), shard files open
through their manifest and refuse a mixed set, bad input names the argument — plus pickling
by reference and the per-process registry."""

import pickle

import numpy as np
import pytest

import embedrec
from embedrec import ShardedEngine

N = 1200


def whole(model=None, half_life=None):
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(5, 8))
    g = np.arange(N) % 5
    v = (centres[g] + 0.6 * rng.normal(size=(N, 8))).astype(np.float32)
    options = {"recency_half_life": half_life} if half_life else {}
    e = embedrec.Engine(8, index="exact", threads=2, **options)
    e.upsert_items(
        [f"t{i}" for i in range(N)],
        v,
        tags=[[["rock", "jazz", "pop", "techno", "folk"][i % 5]] for i in range(N)],
        attributes={"year": 1960.0 + np.arange(N) % 60},
    )
    users = np.repeat(np.arange(200), 15)
    items = np.where(rng.random(users.size) < 0.25, rng.integers(0, N + 30, users.size), rng.integers(0, N // 5, users.size) * 5 + users % 5)
    e.add_interactions(
        users.tolist(),
        [f"t{i}" for i in items],
        weights=(1 + rng.integers(0, 4, users.size)).astype(np.float32),
        timestamps=rng.integers(1000, 100_000, users.size).tolist(),
    )
    # Items known from interactions only.
    e.add_interactions(list(range(30)), [f"t{N + i}" for i in range(30)], timestamps=[50_000] * 30)
    if model:
        e.fit(model, show_progress=False, **({"factors": 12, "iterations": 5} if model == "als" else {}))
    return e


def same(a, b):
    """The same hits: scores position by position; ids too, except among equal scores (and a
    tie at the last place may bring in another item of that score)."""
    assert len(a) == len(b), (a, b)
    close = lambda x, y: abs(x - y) <= 1e-4 * max(1.0, abs(x))  # noqa: E731
    for (ia, sa), (ib, sb) in zip(a, b):
        assert close(sa, sb), (a, b)
        assert ia == ib or any(i == ib and close(t, sa) for i, t in a) or close(a[-1][1], sb), (a, b)


def check(e, s):
    rng = np.random.default_rng(9)
    for f in [None, {"tags_any": ["jazz", "folk"]}, {"ranges": {"year": [1990, None]}, "tags_none": ["rock"]}]:
        for q in rng.normal(size=(5, 8)).astype(np.float32):
            same(e.search(q, k=10, filter=f), s.search(q, k=10, filter=f))
        for i in ["t3", "t777", "t1210"]:
            same(e.similar(i, k=10, filter=f), s.similar(i, k=10, filter=f))
        for u in range(0, 200, 17):
            same(e.recommend(u, k=10, filter=f), s.recommend(u, k=10, filter=f))
        users = list(range(0, 200, 3))
        ids_e, sc_e = e.recommend_batch(users, k=8, filter=f)
        ids_s, sc_s = s.recommend_batch(users, k=8, filter=f)
        np.testing.assert_allclose(sc_e, sc_s, rtol=1e-4, atol=1e-4)
        session = ["t1", "t506", "t1001", "t1205"]
        same(
            e.recommend_for_items(session, weights=[1, 3, 2, 1], k=10, filter=f),
            s.recommend_for_items(session, weights=[1, 3, 2, 1], k=10, filter=f),
        )
    same(e.recommend(5, k=20, exclude_seen=False), s.recommend(5, k=20, exclude_seen=False))


@pytest.mark.parametrize("model,half_life", [(None, None), (None, 20_000.0), ("als", None), ("popularity", None)])
def test_a_split_answers_as_the_whole(model, half_life):
    e = whole(model, half_life)
    for n in [1, 3]:
        s = ShardedEngine.split(e, n)
        assert s.shards == n and len(s) == len(e)
        check(e, s)


def test_shard_files_open_through_their_manifest_pickle_by_reference_and_refuse_a_mixed_set(tmp_path):
    e = whole("als")
    manifest = ShardedEngine.split_to(e, 3, tmp_path / "set")
    assert manifest.name == "embedrec-shards.txt"
    s = ShardedEngine.open(tmp_path / "set", threads=2)
    assert s.manifest == manifest
    same(e.recommend(1, k=10), s.recommend(1, k=10))
    back = pickle.loads(pickle.dumps(s))
    assert len(pickle.dumps(s)) < 300
    assert back is pickle.loads(pickle.dumps(s))  # the registry keeps one per process
    same(e.recommend(2, k=10), back.recommend(2, k=10))
    with pytest.raises(embedrec.InvalidInputError, match="ShardedEngine"):
        pickle.dumps(ShardedEngine.split(e, 2))
    # A shard of another split.
    e.add_interactions(["x"], ["t1"])
    ShardedEngine.split_to(e, 3, tmp_path / "other")
    (tmp_path / "set" / "shard-1-of-3.embedrec").write_bytes((tmp_path / "other" / "shard-1-of-3.embedrec").read_bytes())
    with pytest.raises(embedrec.InvalidInputError, match="replaced"):
        ShardedEngine.open(manifest)
    manifest.write_text("embedrec shards 1\ncount 0\n")
    with pytest.raises(embedrec.CorruptFileError) as info:
        ShardedEngine.open(manifest)
    assert info.value.code == "CORRUPT"


def test_the_registry_opens_a_file_once_per_process_and_a_replaced_file_anew(tmp_path):
    e = whole()
    path = tmp_path / "e.embedrec"
    e.save(path)
    a = embedrec.open_shared(path, threads=1)
    assert a.read_only and a is embedrec.open_shared(str(path))
    assert a.stats()["threads"] == 1
    # Engines pickled by reference come back as the registry's.
    assert pickle.loads(pickle.dumps(a)) is a
    e.add_interactions(["late"], ["t1"])
    e.save(path)  # a new snapshot renamed over the old file
    b = embedrec.open_shared(path)
    assert b is not a and b.recommend("late", k=3)


def test_bad_input_names_the_argument():
    e = whole()
    s = ShardedEngine.split(e, 2)
    for call, field in [
        (lambda: ShardedEngine.split(e, 0), "shards"),
        (lambda: ShardedEngine.split(e, -1), "shards"),
        (lambda: s.search(np.zeros(8, np.float32), k=0), "k"),
        (lambda: s.search(np.zeros(3, np.float32), k=3), "query"),
        (lambda: s.recommend_for_items(["t1", "nope"], k=3), "items[1]"),
        (lambda: s.recommend_for_items(["t1"], weights=[1, 2], k=3), "weights"),
        (lambda: s.set_threads(10**6), "threads"),
        (lambda: ShardedEngine.open("/nonexistent/x", threads="two"), "threads"),
        (lambda: ShardedEngine.open("/nonexistent/x", thread=2), "thread"),
    ]:
        with pytest.raises(embedrec.EmbedrecError, match=field.replace("[", r"\[")):
            call()
    with pytest.raises(embedrec.UnknownUserError):
        s.recommend("nobody", k=3)
    with pytest.raises(embedrec.UnknownItemError):
        s.similar("nope", k=3)
    e.fit("item_knn", show_progress=False)
    with pytest.raises(embedrec.InvalidInputError, match="item_knn"):
        ShardedEngine.split(e, 2)
