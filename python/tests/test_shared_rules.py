"""Rules both bindings share (the Node suite has the same scenarios in shared_rules.test.js):
unknown option keys are errors, every per-item list needs one entry per item, integers are
taken exactly as given, and the split, id and training calls exist with the same behaviour."""

import numpy as np
import pytest

import embedrec


@pytest.fixture
def small():
    e = embedrec.Engine(dim=2, cache_capacity=0)
    e.upsert_items(["a", "b", "c"], np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype=np.float32))
    return e


def test_unknown_keys_are_rejected(small):
    with pytest.raises(embedrec.InvalidInputError, match="ef_serch"):
        embedrec.Engine(dim=2, ef_serch=10)
    with pytest.raises(embedrec.InvalidInputError, match="tag_any"):
        embedrec.Filter(tag_any=["rock"])
    with pytest.raises(embedrec.InvalidInputError, match="tag_any"):
        small.search([1, 0], k=2, filter={"tag_any": ["rock"]})
    with pytest.raises(embedrec.InvalidInputError, match="attr"):
        small.search([1, 0], k=2, filter={"ranges": [{"attr": "year"}]})
    small.add_interactions(["u"], ["a"])
    with pytest.raises(embedrec.InvalidInputError, match="factor"):
        small.fit("als", factor=8, show_progress=False)
    with pytest.raises(embedrec.InvalidInputError, match="neighbours"):
        small.fit("popularity", neighbours=3, show_progress=False)


def test_per_item_lists_need_one_entry_per_item(small):
    v = np.eye(2, dtype=np.float32)
    with pytest.raises(embedrec.InvalidInputError, match="tags"):
        small.upsert_items(["x", "y"], v, tags=[["rock"]])
    with pytest.raises(embedrec.InvalidInputError, match="attributes"):
        small.upsert_items(["x", "y"], v, attributes=[{"year": 1}])
    with pytest.raises(embedrec.InvalidInputError, match="year"):
        small.upsert_items(["x", "y"], v, attributes={"year": [1.0]})
    with pytest.raises(embedrec.InvalidInputError, match="item_ids"):
        small.add_interactions(["u", "v"], ["a"])
    assert "x" not in small and len(small) == 3


def test_integers_are_taken_exactly(small):
    for k in (-1, 2**32 + 3, 2**64, 2**200, 1.5, "3"):
        with pytest.raises(embedrec.InvalidInputError, match="k"):
            small.search([1, 0], k=k)
    with pytest.raises(embedrec.InvalidInputError, match="ef"):
        small.set_ef_search(2**32 + 7)
    with pytest.raises(embedrec.InvalidInputError, match="threads"):
        small.set_threads(-1)
    with pytest.raises(embedrec.InvalidInputError, match="cache_capacity"):
        embedrec.Engine(dim=2, cache_capacity=-1)
    with pytest.raises(embedrec.InvalidInputError, match="dim"):
        embedrec.Engine(dim=1.5)
    with pytest.raises(embedrec.InvalidInputError, match="4294967303"):
        embedrec.Engine(dim=2, ef_search=2**32 + 7)
    assert small.config["ef_search"] == embedrec.Engine(dim=2).config["ef_search"]
    assert len(small.search([1, 0], k=np.int64(2))) == 2


def test_splits_ids_and_fit_progress_and_cancellation():
    users = [f"u{i % 6}" for i in range(60)]
    items = [f"t{(i * 7) % 20}" for i in range(60)]
    train, test = embedrec.holdout_split(users, items, min_interactions=5, seed=3)
    assert len(train["user_ids"]) + len(test["user_ids"]) == 60
    tr, te = embedrec.leave_last_out(users, items, timestamps=list(range(60)))
    assert len(te["user_ids"]) == 6 and len(tr["user_ids"]) == 54
    with pytest.raises(embedrec.InvalidInputError, match="seed"):
        embedrec.holdout_split(users, items, seed=-1)
    e = embedrec.Engine(dim=2)
    ids = [f"t{i}" for i in range(20)]
    e.upsert_items(ids, np.random.default_rng(1).normal(size=(20, 2)).astype(np.float32))
    assert sorted(e.item_ids()) == sorted(ids)
    e.add_interactions(users, items)
    seen = []
    e.fit("als", factors=4, iterations=3, progress=seen.append, show_progress=False)
    assert [p["iteration"] for p in seen] == [1, 2, 3] and seen[-1]["total"] == 3
    with pytest.raises(embedrec.CancelledError):
        e.fit("als", iterations=5, progress=lambda p: p["iteration"] < 2, show_progress=False)
    assert e.model == "als"
