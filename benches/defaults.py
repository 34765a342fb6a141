#!/usr/bin/env python3
"""How good each model is with no parameters, against the best of a grid of its parameters and
against built-in tuning, on MovieLens latest-small (a per-user 20 % holdout, seed 42,
NDCG@10 over the held-out items; training items excluded from the recommendations).

Writes ``<out>/movielens-defaults.json`` and ``<out>/movielens-defaults.md``.

    pip install ./python numpy
    python benches/defaults.py
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import sys
from pathlib import Path

import embedrec

sys.path.insert(0, str(Path(__file__).parent))
from compare_models import movielens  # noqa: E402

GRID = {
    "als": [
        dict(factors=f, confidence=c, alpha=a, regularization=r)
        for f, (c, a), r in itertools.product(
            [16, 32, 64, 128], [("linear", 1.0), ("log", 1.0), ("log", 2.0), ("log", 4.0)], [0.01, 0.1, 1.0]
        )
    ],
    "item_knn": [dict(neighbours=n, weighting=w) for n, w in itertools.product([20, 50, 100, 200], ["bm25", "cosine"])],
    "ease": [dict(regularization=r) for r in [50.0, 100.0, 200.0, 400.0, 800.0]],
    "popularity": [{}],
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    u, i, w = movielens()
    train, test = embedrec.holdout_split(u.tolist(), i.tolist(), w.tolist())

    def engine():
        e = embedrec.Engine(dim=0, threads=2)
        e.add_interactions(train["user_ids"], train["item_ids"], weights=train["weights"])
        return e

    def ndcg(e):
        return e.evaluate(test["user_ids"], test["item_ids"], k=10)["ndcg"]

    rows = []
    for model, grid in GRID.items():
        e = engine()
        e.fit(model, show_progress=False)
        default = ndcg(e)
        best, best_params = default, "default"
        for params in grid:
            e.fit(model, show_progress=False, **params)
            score = ndcg(e)
            if score > best:
                best, best_params = score, params
        rows.append({"model": model, "default": default, "best": best, "best_params": best_params})
        print(rows[-1], flush=True)
    e = engine()
    r = e.fit("auto", tune={"budget": 300}, show_progress=False)
    tuned = {"ndcg": ndcg(e), "chosen": r["tuning"]["chosen"], "trials": len(r["tuning"]["trials"])}
    out = {
        "dataset": "movielens-latest-small",
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "rows": rows,
        "tuned": tuned,
    }
    md = [
        "# MovieLens latest-small: defaults against a grid and against `tune`",
        "",
        f"{out['machine']}, {out['date']}; per-user 20 % holdout (seed 42), NDCG@10.",
        "",
        "| model | no parameters | best of grid | default / best | best parameters |",
        "|---|---|---|---|---|",
    ]
    for r_ in rows:
        md.append(
            f"| {r_['model']} | {r_['default']:.4f} | {r_['best']:.4f} | {r_['default'] / r_['best']:.3f} | {r_['best_params']} |"
        )
    md.append(
        f"| `fit(\"auto\", tune=...)` | {tuned['ndcg']:.4f} | | | chose {tuned['chosen']} after {tuned['trials']} candidates |"
    )
    text = "\n".join(md) + "\n"
    print(text)
    path = Path(args.out)
    path.mkdir(parents=True, exist_ok=True)
    (path / "movielens-defaults.json").write_text(json.dumps(out, indent=2))
    (path / "movielens-defaults.md").write_text(text)


if __name__ == "__main__":
    main()
