"""Queries in model space and factors in and out, through Python: the same scenarios as
tests/model_space.rs."""

import numpy as np
import pytest

import embedrec
from conftest import make_catalog

N = 4000


def trained(exact_below=100):
    e = embedrec.Engine(dim=16, threads=2, exact_below=exact_below)
    ids, v, tags, attrs = make_catalog(N, 16, seed=3)
    e.upsert_items(ids, v, tags=tags, attributes=attrs)
    rng = np.random.default_rng(5)
    users, items = [], []
    for u in range(500):
        for j in range(25):
            i = rng.integers(0, N) if j % 3 == 0 else rng.integers(0, N // 5) * 5 + u % 5
            users.append(f"u{u}")
            items.append(f"t{i}")
    e.add_interactions(users, items)
    e.fit("als", factors=16, iterations=6, show_progress=False)
    return e


def close(a, b):
    assert len(a) == len(b)
    for (_, x), (_, y) in zip(a, b):
        assert abs(x - y) <= 1e-5 * max(abs(y), 1.0), (a, b)


def test_model_space_walk_matches_exact_with_filters_and_seen_items():
    graph, exact = trained(), trained(exact_below=10**9)
    graph.set_ef_search(1000)
    for u in ("u0", "u1", "u42"):
        close(graph.recommend(u, k=10), exact.recommend(u, k=10))
        close(graph.recommend(u, k=10, exclude_seen=False), exact.recommend(u, k=10, exclude_seen=False))
    close(graph.similar("t7", k=10), exact.similar("t7", k=10))
    jazz = {"tags_any": ["jazz"]}
    r = graph.recommend("u3", k=15, filter=jazz)
    assert len(r) == 15 and all(int(i[1:]) % 5 == 1 for i, _ in r)
    close(r, exact.recommend("u3", k=15, filter=jazz))
    seen = graph.recommend("u3", k=30)
    assert [i for i, _ in seen] != [i for i, _ in graph.recommend("u3", k=30, exclude_seen=False)]


def test_factors_round_trip_into_another_engine():
    e = trained()
    item_ids, y = e.item_factors()
    user_ids, x = e.user_factors()
    assert y.dtype == np.float32 and y.shape == (len(item_ids), 16) and x.shape == (500, 16)
    vids, vectors = e.item_vectors()
    assert vectors.shape == (N, 16) and vids[0] == "t0"
    # Scores are inner products of the exported factors.
    u = user_ids.index("u9")
    best = [item_ids[j] for j in np.argsort(-(y @ x[u]))[:50]]
    recs = e.recommend("u9", k=10, exclude_seen=False)
    assert set(i for i, _ in recs) <= set(best)
    other = embedrec.Engine(dim=16, threads=2)
    ids, v, tags, attrs = make_catalog(N, 16, seed=3)
    other.upsert_items(ids, v, tags=tags, attributes=attrs)
    other.install_factors(item_ids, y, user_ids, x, regularization=0.01)
    assert other.model == "als"
    for engine in (e, other):
        engine.set_ef_search(1000)
    close(other.recommend("u9", k=10, exclude_seen=False), recs)
    close(other.similar("t4", k=10), e.similar("t4", k=10))
    got_ids, got = other.item_factors()
    assert got_ids == item_ids and np.array_equal(got, y)
    # Bad input names the argument; nothing changes.
    with pytest.raises(embedrec.UnknownItemError, match="nope"):
        other.install_factors(["t0", "nope"], y[:2])
    with pytest.raises(embedrec.InvalidInputError, match=r"item_factors\[1\]\[2\]"):
        bad = y[:2].copy()
        bad[1, 2] = np.nan
        other.install_factors(["t0", "t1"], bad)
    with pytest.raises(embedrec.InvalidInputError, match="user_factors"):
        other.install_factors(item_ids, y, user_ids)
    with pytest.raises(embedrec.InvalidInputError, match="factorz"):
        other.install_factors(item_ids, y, factorz=3)
    assert np.array_equal(other.item_factors()[1], y)
    other.clear_model()
    with pytest.raises(embedrec.InvalidInputError, match="model"):
        other.item_factors()
