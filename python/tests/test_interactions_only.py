"""Interaction-only catalogs and integer ids through Python: the same scenarios as
tests/interactions_only.rs, plus ids given as int and numpy integers."""

import numpy as np
import pytest

import embedrec


def log(rng_seed=3, as_int=False):
    rng = np.random.default_rng(rng_seed)
    users, items = [], []
    for u in range(90):
        for _ in range(12):
            i = int(rng.integers(0, 100)) * 3 + u % 3
            users.append(u if as_int else f"u{u}")
            items.append(i if as_int else f"i{i}")
    return users, items


def test_an_interaction_log_with_integer_ids_is_enough_to_start(tmp_path):
    e = embedrec.Engine(dim=0, threads=2)
    users, items = log(as_int=True)
    e.add_interactions(np.array(users, dtype=np.int64), np.array(items, dtype=np.int32))
    assert 250 < len(e) <= 300 and 5 in e and "5" not in e
    pop = e.recommend(0, k=5)
    assert len(pop) == 5 and all(type(i) is int for i, _ in pop)
    e.fit("als", factors=8, iterations=8, show_progress=False)
    recs = e.recommend(np.int64(1), k=10)
    assert sum(i % 3 == 1 for i, _ in recs) >= 8 and all(type(i) is int for i, _ in recs)
    assert sum(i % 3 == 2 for i, _ in e.similar(5, k=5)) >= 4
    ids, scores = e.recommend_batch([1, 2], k=3)
    assert [type(x) for x in ids[0]] == [int] * 3
    item_ids, y = e.item_factors()
    assert all(type(i) is int for i in item_ids) and y.shape[1] == 8
    with pytest.raises(embedrec.InvalidInputError, match="dim 0"):
        e.search([], k=3)
    # Items gain tags later; filters (with integer allow lists too) apply to the model.
    even = list(range(0, 300, 2))
    e.upsert_items(even, tags=[["even"]] * len(even))
    assert all(i % 2 == 0 for i, _ in e.recommend(1, k=5, filter={"tags_any": ["even"]}))
    allowed = e.recommend(1, k=5, filter={"allow_ids": [3, 6, 9]})
    assert {i for i, _ in allowed} <= {3, 6, 9}
    # A file keeps the integer ids.
    e.save(tmp_path / "e.embedrec")
    back = embedrec.Engine.load(tmp_path / "e.embedrec")
    assert back.recommend(1, k=5) == e.recommend(1, k=5)
    train, test = embedrec.holdout_split(users, items)
    assert type(train["user_ids"][0]) is int and type(test["item_ids"][0]) is int


def test_strings_and_integers_are_different_ids_and_bad_ids_are_named():
    e = embedrec.Engine(dim=2)
    e.upsert_items([7, "7"], [[1, 0], [0, 1]])
    assert len(e) == 2 and e.item_vector(7).tolist() == [1, 0] and e.item_vector("7").tolist() == [0, 1]
    hits = e.search([1, 0.1], k=2)
    assert [type(i) for i, _ in hits] == [int, str]
    with pytest.raises(embedrec.UnknownItemError, match=r"unknown item id 8 in id"):
        e.similar(8)
    with pytest.raises(TypeError, match=r"ids\[1\]"):
        e.upsert_items([1, 2.5], [[1, 0], [0, 1]])
    with pytest.raises(TypeError, match="item_ids"):
        e.add_interactions(["u"], [True])
    with pytest.raises(embedrec.InvalidInputError, match="64-bit"):
        e.add_interactions(["u"], [2**70])
    with pytest.raises(embedrec.InvalidInputError, match="U\\+0000"):
        e.add_interactions(["u"], ["\0x"])


def test_items_without_vectors_stay_out_of_vector_search():
    e = embedrec.Engine(dim=4, threads=2)
    rng = np.random.default_rng(1)
    e.upsert_items([f"t{i}" for i in range(50)], rng.normal(size=(50, 4)).astype(np.float32))
    e.add_interactions(["a", "a", "b"], ["t1", "x1", "x2"])
    assert len(e) == 52
    q = e.item_vector("t1")
    assert [i for i, _ in e.search(q, k=52)] == [i for i, _ in e.search(q, k=50)]
    assert all(i.startswith("t") for i, _ in e.search(q, k=52))
    assert len(e.recommend("b", k=3)) == 3
    with pytest.raises(embedrec.InvalidInputError, match="content vector"):
        e.item_vector("x1")
    e.upsert_items(["t1"], tags=[["fav"]])
    assert np.array_equal(e.item_vector("t1"), q)
    ids, vectors = e.item_vectors()
    assert len(ids) == 50 and vectors.shape == (50, 4)


def test_a_log_in_one_call_or_in_pieces_makes_the_same_engine():
    # numpy columns (int64 ids, float32 weights read in place, a strided view too) in one
    # call, or plain lists in uneven pieces: the same counts, popularity and model.
    users, items = log(as_int=True)
    n = len(users)
    w = (1 + np.arange(2 * n) % 4).astype(np.float32)[::2]
    whole, pieces = embedrec.Engine(dim=0, threads=2), embedrec.Engine(dim=0, threads=2)
    for e in (whole, pieces):
        e.upsert_items(list(range(300)))
    whole.add_interactions(np.array(users), np.array(items, dtype=np.uint16), weights=w)
    at, step = 0, 1
    while at < n:
        end = min(n, at + step)
        pieces.add_interactions(users[at:end], items[at:end], weights=[float(x) for x in w[at:end]])
        at, step = end, step * 3
    a, b = whole.stats(), pieces.stats()
    assert (a["items"], a["users"], a["interactions"]) == (b["items"], b["users"], b["interactions"]) == (300, 90, n)
    assert whole.recommend_for_items([], k=20) == pieces.recommend_for_items([], k=20)
    for e in (whole, pieces):
        e.fit("als", factors=8, iterations=4, show_progress=False)
    for u in (0, 7, 45):
        assert whole.recommend(u, k=10) == pieces.recommend(u, k=10)
    # A bad id is named by the first row that holds it; nothing is stored.
    with pytest.raises(embedrec.InvalidInputError, match=r"user_ids\[2\]"):
        whole.add_interactions(["a", "b", "", "c", ""], [1] * 5)
    with pytest.raises(TypeError, match=r"item_ids\[1\]"):
        whole.add_interactions(["a", "b"], [1, 2.5])
    assert whole.stats()["interactions"] == n
