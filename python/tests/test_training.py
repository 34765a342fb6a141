"""Training and evaluation through Python: the same scenarios as tests/training.rs."""


import numpy as np
import pytest

import embedrec
from conftest import make_catalog


def world(seed=1):
    e = embedrec.Engine(dim=16, index="exact", threads=2)
    ids, v, tags, attrs = make_catalog(600, 16, seed=seed)
    e.upsert_items(ids, v, tags=tags, attributes=attrs)
    rng = np.random.default_rng(seed)
    users, items, weights = [], [], []
    for u in range(200):
        g = u % 5
        for _ in range(15):
            users.append(f"u{u}")
            items.append(f"t{rng.integers(0, 120) * 5 + g}")
            weights.append(float(rng.integers(1, 5)))
    return e, users, items, weights


def genre(i):
    return int(i[1:]) % 5


def test_fit_als_serves_recommend_similar_and_sessions():
    e, users, items, weights = world()
    e.add_interactions(users, items, weights=weights)
    seen = []
    report = e.fit("als", factors=16, iterations=10, regularization=0.1, progress=lambda p: seen.append(p))
    assert report["model"] == "als" and report["users"] == 200 and e.model == "als"
    assert [p["iteration"] for p in seen] == list(range(1, 11)) and seen[-1]["loss"] < seen[0]["loss"]
    recs = e.recommend("u2", k=10)
    assert all(genre(i) == 2 for i, _ in recs)
    assert sum(genre(i) == 3 for i, _ in e.similar("t3", k=5)) >= 4
    assert all(genre(i) == 1 for i, _ in e.recommend_for_items(["t1", "t6", "t11"], k=5))
    ids, _ = e.recommend_batch(["u0", "u1"], k=5)
    assert list(ids[1]) == [i for i, _ in e.recommend("u1", k=5)]
    assert e.stats()["model"] == "als"


def test_knn_popularity_and_bad_arguments():
    e, users, items, weights = world(2)
    e.add_interactions(users, items, weights=weights)
    for w in ("cosine", "bm25"):
        e.fit("item_knn", neighbours=50, weighting=w)
        assert sum(genre(i) == 0 for i, _ in e.recommend("u0", k=10)) >= 9
    e.fit("ease", regularization=100.0)
    assert e.model == "ease" and sum(genre(i) == 0 for i, _ in e.recommend("u0", k=10)) >= 9
    e.fit("popularity")
    assert e.model == "popularity"
    with pytest.raises(embedrec.InvalidInputError, match="factorz"):
        e.fit("als", factorz=3)
    with pytest.raises(embedrec.InvalidInputError, match="model"):
        e.fit("svd")
    with pytest.raises(embedrec.InvalidInputError, match="als.factors"):
        e.fit("als", factors=2000)
    e.clear_model()
    assert e.model is None


def test_cancel_and_callback_exceptions_keep_previous_model():
    e, users, items, weights = world(3)
    e.add_interactions(users, items, weights=weights)
    e.fit("popularity")
    with pytest.raises(embedrec.CancelledError):
        e.fit("als", iterations=20, progress=lambda p: p["iteration"] < 2)
    assert e.model == "popularity"

    def boom(p):
        raise RuntimeError("stop now")

    with pytest.raises(RuntimeError, match="stop now"):
        e.fit("als", progress=boom)
    assert e.model == "popularity"


def test_incremental_updates_and_persistence(tmp_path):
    e, users, items, weights = world(4)
    e.add_interactions(users, items, weights=weights)
    e.fit("als", factors=16, iterations=10, regularization=0.1)
    e.add_interactions(["newbie"] * 3, ["t4", "t9", "t14"])
    assert all(genre(i) == 4 for i, _ in e.recommend("newbie", k=5))
    e.save(tmp_path / "m.embedrec")
    loaded = embedrec.Engine.load(tmp_path / "m.embedrec")
    assert loaded.model == "als"
    assert loaded.recommend("u3", k=10) == e.recommend("u3", k=10)


def test_splits_and_evaluate_beat_popularity():
    e, users, items, weights = world(5)
    train, test = embedrec.holdout_split(users, items, weights, test_fraction=0.2, min_interactions=5, seed=42)
    assert len(train["user_ids"]) + len(test["user_ids"]) == len(users)
    assert len(test["user_ids"]) == 200 * 3
    again, _ = embedrec.holdout_split(users, items, weights, seed=42)
    assert again == train
    e.add_interactions(train["user_ids"], train["item_ids"], weights=train["weights"])
    e.fit("popularity")
    pop = e.evaluate(test["user_ids"], test["item_ids"], k=10)
    e.fit("als", factors=16, iterations=10, regularization=0.1)
    als = e.evaluate(test["user_ids"], test["item_ids"], k=10)
    # Test items are random within the genre, so ~0.04 is near the best possible NDCG here.
    assert als["users"] == 200 and als["ndcg"] > 3 * pop["ndcg"] and als["ndcg"] > 0.03
    tr, te = embedrec.leave_last_out(["a", "a", "b"], ["x", "y", "z"], timestamps=[5, 1, 0])
    assert te["item_ids"] == ["x"] and tr["item_ids"] == ["y", "z"]
    with pytest.raises(embedrec.InvalidInputError):
        embedrec.holdout_split(["a"], ["x"], test_fraction=1.5)


def test_movielens_quick_quality_floor(movielens):
    root = movielens
    import csv

    with open(root / "ratings.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    users = [r["userId"] for r in rows]
    items = [r["movieId"] for r in rows]
    weights = [float(r["rating"]) for r in rows]
    train, test = embedrec.holdout_split(users, items, weights, seed=42)
    catalog = sorted(set(items))
    e = embedrec.Engine(dim=2, index="exact")
    e.upsert_items(catalog, np.column_stack([np.ones(len(catalog)), np.arange(len(catalog)) % 7]))
    e.add_interactions(train["user_ids"], train["item_ids"], weights=train["weights"])
    e.fit("als", factors=32, iterations=8)
    m = e.evaluate(test["user_ids"], test["item_ids"], k=10)
    assert m["ndcg"] > 0.27, m


def test_tqdm_progress_bar_when_installed(capsys):
    pytest.importorskip("tqdm")
    e, users, items, weights = world(6)
    e.add_interactions(users, items, weights=weights)
    e.fit("als", factors=8, iterations=3)
    err = capsys.readouterr().err
    assert "embedrec fit als" in err and "3/3" in err, err
    e.fit("als", factors=8, iterations=3, show_progress=False)
    assert capsys.readouterr().err == ""


def test_tuned_fit_chooses_model_and_reports_validation_figures():
    e, users, items, weights = world(9)
    e.add_interactions(users, items, weights=weights)
    seen = []
    r = e.fit("auto", tune={"budget": 60, "models": ["als", "item_knn", "popularity"]},
              progress=seen.append, show_progress=False)
    t = r["tuning"]
    assert t["validation_users"] > 0 and t["k"] == 10 and len(t["trials"]) >= 3
    best = max(tr["ndcg"] for tr in t["trials"])
    assert any(tr["ndcg"] == best and tr["model"] == t["chosen"]["model"] for tr in t["trials"])
    assert e.model == t["chosen"]["model"] == r["model"]
    assert [p["model"] for p in seen].count("tune") == len(t["trials"])
    assert e.fit("als", tune=True, show_progress=False)["tuning"]["chosen"]["model"] == "als"
    with pytest.raises(embedrec.CancelledError):
        e.fit("auto", tune=True, progress=lambda p: False, show_progress=False)
    with pytest.raises(embedrec.InvalidInputError, match="tune"):
        e.fit("als", tune=True, factors=8)
    with pytest.raises(embedrec.InvalidInputError, match="budget"):
        e.fit("auto", tune={"budget": -1})
    with pytest.raises(embedrec.InvalidInputError, match="auto"):
        e.fit("auto")


def test_explanations_and_diversity():
    e, users, items, weights = world(10)
    e.add_interactions(users, items, weights=weights)
    e.fit("item_knn", show_progress=False)
    top, score = e.recommend("u4", k=1)[0]
    why = e.explain("u4", top, k=100)
    assert abs(sum(c for _, c in why) - score) <= 1e-3 * max(abs(score), 1e-3)
    assert genre(why[0][0]) == genre(top) and len(e.explain("u4", top, k=2)) <= 2
    e.fit("als", factors=16, iterations=8, show_progress=False)
    assert e.explain("u4", top, k=3)
    plain = e.recommend("u0", k=10)
    mixed = e.recommend("u0", k=10, diversity=0.9)
    assert len(mixed) == 10 and mixed[0][0] == plain[0][0]
    assert len({genre(i) for i, _ in mixed}) >= len({genre(i) for i, _ in plain})
    ids, _ = e.recommend_batch(["u0"], k=10, diversity=0.9)
    assert list(ids[0]) == [i for i, _ in mixed]
    with pytest.raises(embedrec.InvalidInputError, match="diversity"):
        e.recommend("u0", k=5, diversity=2.0)
    e.fit("popularity", show_progress=False)
    with pytest.raises(embedrec.InvalidInputError, match="model"):
        e.explain("u4", top)
    with pytest.raises(embedrec.UnknownUserError):
        e.explain("nobody", top)
