"""Inputs Python users have: pandas columns and DataFrames, numpy arrays of ids, datetime64
and datetime timestamps, and a scipy.sparse user × item matrix (implicit's input)."""

import datetime

import numpy as np
import pytest

import embedrec


def engine():
    e = embedrec.Engine(2)
    e.upsert_items(["a", "b", "c"], np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32))
    return e


def test_pandas_columns_and_dataframes():
    pd = pytest.importorskip("pandas")
    e = engine()
    e.upsert_items(pd.Series(["d"]), np.array([[2, 1]], np.float32), tags=pd.Series([["x"]]), attributes=pd.DataFrame({"year": [2001]}))
    assert e.search([2, 1], k=1, filter={"ranges": {"year": (2000, 2002)}, "tags_any": ["x"]})[0][0] == "d"
    log = pd.DataFrame({"user": ["u1", "u1", "u2"], "item": ["a", "b", "a"], "w": [1.0, 2.0, 3.0]})
    e.add_interactions(log["user"], log["item"], weights=log["w"], timestamps=pd.to_datetime(pd.Series(["2024-01-01 00:00:00", "2024-01-02 00:00:00", "1970-01-01 00:00:07"])))
    assert e.stats()["interactions"] == 3
    with pytest.raises(embedrec.InvalidInputError, match=r"attributes"):
        e.upsert_items(["z"], np.ones((1, 2), np.float32), attributes=pd.DataFrame({"year": ["old"]}))


def test_dates_become_seconds_and_missing_dates_are_errors():
    e = embedrec.Engine(2, recency_half_life=3600)
    e.upsert_items(["a", "b"], np.array([[1, 0], [0, 1]], dtype=np.float32))
    day = np.array(["2024-01-01T00:00:00", "2024-01-01T10:00:00"], dtype="datetime64[s]")
    e.add_interactions(["u", "u"], ["a", "b"], timestamps=day)
    # Ten hours apart with a one-hour half-life: the newer item dominates the profile.
    assert e.recommend("u", k=2, exclude_seen=False)[0][0] == "b"
    e.add_interactions(["v", "v"], ["a", "b"], timestamps=[datetime.datetime(2024, 1, 1, 10, tzinfo=datetime.timezone.utc), datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)])
    assert e.recommend("v", k=2, exclude_seen=False)[0][0] == "a"
    with pytest.raises(embedrec.InvalidInputError, match=r"timestamps\[1\]: expected a date, got NaT"):
        e.add_interactions(["w", "w"], ["a", "b"], timestamps=np.array(["2024-01-01", "NaT"], dtype="datetime64[s]"))
    with pytest.raises(embedrec.InvalidInputError, match=r"timestamps\[1\]"):
        e.add_interactions(["w", "w"], ["a", "b"], timestamps=[datetime.datetime(2024, 1, 1), "noon"])
    assert e.stats()["users"] == 2  # the refused calls changed nothing


def test_a_scipy_sparse_matrix_with_id_maps():
    sparse = pytest.importorskip("scipy.sparse")
    m = sparse.csr_matrix(np.array([[1.0, 0, 2.0], [0, 3.0, 0]], dtype=np.float32))
    e = engine()
    e.add_interaction_matrix(m, user_ids=["ann", "bob"], item_ids=np.array(["a", "b", "c"]))
    other = engine()
    other.add_interactions(["ann", "ann", "bob"], ["a", "c", "b"], weights=[1.0, 2.0, 3.0])
    assert e.recommend("ann", k=3, exclude_seen=False) == other.recommend("ann", k=3, exclude_seen=False)
    assert e.stats()["interactions"] == 3
    # Without maps, rows and columns are the ids (integers).
    ints = embedrec.Engine(0)
    ints.add_interaction_matrix(sparse.coo_array(m))
    assert sorted(ints.item_ids()) == [0, 1, 2] and ints.stats()["users"] == 2
    with pytest.raises(embedrec.InvalidInputError, match=r"user_ids: expected 2 ids"):
        e.add_interaction_matrix(m, user_ids=["only one"])
    with pytest.raises(embedrec.InvalidInputError, match=r"matrix: expected a scipy.sparse matrix"):
        e.add_interaction_matrix(np.ones((2, 2)))
    with pytest.raises(embedrec.InvalidInputError, match=r"weight"):
        e.add_interaction_matrix(sparse.csr_matrix(np.array([[-1.0]])))
