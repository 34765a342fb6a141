"""Item metadata (the Node suite has the same scenarios in metadata.test.js): hits with their
items' tags and attributes on request, attribute updates that keep what they do not name,
batch results as a DataFrame, and the "embedrec" logger."""

import logging

import numpy as np
import pytest

import embedrec


def catalog() -> embedrec.Engine:
    e = embedrec.Engine(2, metric="cosine")
    e.upsert_items(
        ["a", "b", "c"],
        np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype=np.float32),
        tags=[["rock", "live"], ["rock"], ["jazz"]],
        attributes=[{"year": 1999, "plays": 10}, {"year": 2005}, {"year": 1960}],
    )
    return e


def test_hits_carry_tags_and_attributes_on_request():
    e = catalog()
    plain = e.search([1, 0], 2)
    assert all(len(h) == 2 for h in plain)
    (a_id, a_score, a_meta), (b_id, _, b_meta) = e.search([1, 0], 2, with_metadata=True)
    assert (a_id, a_meta) == ("a", {"tags": ["rock", "live"], "attributes": {"year": 1999.0, "plays": 10.0}})
    assert (b_id, b_meta) == ("b", {"tags": ["rock"], "attributes": {"year": 2005.0}})
    assert a_score == plain[0][1]
    assert e.similar("a", 1, {"tags_any": ["jazz"]}, with_metadata=True)[0][2]["tags"] == ["jazz"]
    e.add_interactions(["u", "u"], ["a", "b"])
    rec = e.recommend("u", 1, with_metadata=True)
    assert rec == [("c", rec[0][1], {"tags": ["jazz"], "attributes": {"year": 1960.0}})]
    assert e.recommend_for_items(["c"], k=1, with_metadata=True)[0][2]["attributes"] == {"year": 2005.0}
    # The same on a shard set.
    shards = embedrec.ShardedEngine.split(e, 2)
    assert shards.search([1, 0], 2, with_metadata=True) == e.search([1, 0], 2, with_metadata=True)
    assert shards.recommend("u", 1, with_metadata=True) == rec
    assert e.item_attributes(["c", "a"]) == [
        {"tags": ["jazz"], "attributes": {"year": 1960.0}},
        {"tags": ["rock", "live"], "attributes": {"year": 1999.0, "plays": 10.0}},
    ]
    with pytest.raises(embedrec.UnknownItemError, match=r"ids\[1\]"):
        e.item_attributes(["a", "zz"])


def test_update_attributes_keeps_what_it_does_not_name():
    e = catalog()
    recent = {"ranges": {"year": (2000, None)}}
    assert [h[0] for h in e.search([1, 0], 3, recent)] == ["b"]
    e.update_attributes(["a", "c"], attributes={"year": [2010, np.nan]}, remove=["plays"])
    assert e.item_attributes(["a", "c"]) == [
        {"tags": ["rock", "live"], "attributes": {"year": 2010.0}},
        {"tags": ["jazz"], "attributes": {"year": 1960.0}},
    ]
    # Filters see the new value at once; vectors are untouched.
    assert [h[0] for h in e.search([1, 0], 3, recent)] == ["a", "b"]
    assert e.item_vector("a").tolist() == [1.0, 0.0]
    e.update_attributes(["b"], tags=[["blues"]], attributes=[{"bpm": 120}])
    assert e.item_attributes(["b"]) == [{"tags": ["blues"], "attributes": {"year": 2005.0, "bpm": 120.0}}]
    # Bad input changes nothing and names the argument.
    before = e.item_attributes(["a", "b", "c"])
    with pytest.raises(embedrec.UnknownItemError, match=r"ids\[1\]"):
        e.update_attributes(["a", "zz"], remove=["year"])
    with pytest.raises(embedrec.InvalidInputError, match="tags"):
        e.update_attributes(["a"], tags=[])
    with pytest.raises(embedrec.InvalidInputError, match="year"):
        e.update_attributes(["a"], attributes=[{"year": float("inf")}])
    with pytest.raises(embedrec.InvalidInputError, match=r"remove\[0\]"):
        e.update_attributes(["a"], remove=[""])
    assert e.item_attributes(["a", "b", "c"]) == before


def test_batch_results_as_a_dataframe():
    pd = pytest.importorskip("pandas")
    e = catalog()
    e.add_interactions(["u", "u", "v"], ["a", "b", "c"])
    # "u" has seen two of the three items: one hit, where the arrays pad to k.
    frame = e.recommend_batch(["u", "v"], k=2, as_frame=True)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["user_id", "rank", "item_id", "score"]
    ids, scores = e.recommend_batch(["u", "v"], k=2)
    assert len(frame) == 3
    for row, user in enumerate(["u", "v"]):
        got = frame[frame.user_id == user].sort_values("rank")
        expected = [i for i in ids[row] if i is not None]
        assert got.item_id.tolist() == expected
        assert np.allclose(got.score.to_numpy(), scores[row][: len(expected)])
        assert got["rank"].tolist() == list(range(len(expected)))
    q = np.array([[1, 0], [0, 1]], dtype=np.float32)
    s = e.search_batch(q, k=3, as_frame=True)
    assert s.groupby("query").size().tolist() == [3, 3]
    assert s[s["query"] == 1].item_id.iloc[0] == "c"
    shards = embedrec.ShardedEngine.split(e, 2)
    assert shards.recommend_batch(["u", "v"], k=2, as_frame=True).equals(frame)


def test_long_operations_log_to_the_embedrec_logger(tmp_path, caplog):
    logger = logging.getLogger("embedrec")
    assert any(isinstance(h, logging.NullHandler) for h in logger.handlers)
    e = catalog()
    e.add_interactions(["u", "u", "v"], ["a", "b", "c"])
    with caplog.at_level(logging.DEBUG, logger="embedrec"):
        e.fit("als", factors=2, iterations=2, show_progress=False)
        e.save(tmp_path / "e.embedrec")
        embedrec.Engine.load(tmp_path / "e.embedrec")
    messages = [r.getMessage() for r in caplog.records if r.name == "embedrec"]
    assert any(m.startswith("fit als: step 1 of 2") for m in messages), messages
    assert any(m.startswith("fit als in ") for m in messages), messages
    assert any(m.startswith("saved 3 items to ") for m in messages), messages
    assert any(m.startswith("loaded 3 items (als) from ") for m in messages), messages
    # Below the logger's level nothing is recorded.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="embedrec"):
        e.save(tmp_path / "f.embedrec")
    assert not [r for r in caplog.records if r.name == "embedrec"]
