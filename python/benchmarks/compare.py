"""Python side of scripts/compare_bindings.sh.

`python compare.py make DIR` builds the two engines (small: 1,000 x 64 with cache; big:
100,000 x 64, cache off; 1,000 users x 30 interactions each) and saves them into DIR.
`python compare.py run DIR` times the calls and prints one JSON line.
"""

import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import embedrec


def make(d: Path) -> None:
    rng = np.random.default_rng(1)
    for name, n, cache in (("small", 1_000, 10_000), ("big", 100_000, 0)):
        centres = rng.normal(size=(100, 64)).astype(np.float32)
        v = (centres[rng.integers(0, 100, n)] + 0.5 * rng.normal(size=(n, 64))).astype(np.float32)
        e = embedrec.Engine(dim=64, cache_capacity=cache)
        e.upsert_items([f"i{i}" for i in range(n)], v)
        users = [f"u{u}" for u in range(1000) for _ in range(30)]
        items = [f"i{i}" for i in rng.integers(0, n, len(users))]
        e.add_interactions(users, items)
        e.save(d / f"{name}.embedrec")


def run(d: Path) -> None:
    small = embedrec.Engine.load(d / "small.embedrec")
    big = embedrec.Engine.load(d / "big.embedrec")
    small.recommend("u0", k=10)
    per_call = []
    for _ in range(20):
        t = time.perf_counter()
        for _ in range(1000):
            small.recommend("u0", k=10)
        per_call.append((time.perf_counter() - t) * 1e6 / 1000)
    users = [f"u{u}" for u in range(1000)]
    batch = []
    for _ in range(5):
        t = time.perf_counter()
        big.recommend_batch(users, k=10)
        batch.append(time.perf_counter() - t)
    b = statistics.median(batch)
    print(json.dumps({"lang": "python", "cache_hit_call_us": round(statistics.median(per_call), 3),
                      "recommend_batch_s": round(b, 4), "users_per_s": round(1000 / b)}))


if __name__ == "__main__":
    {"make": make, "run": run}[sys.argv[1]](Path(sys.argv[2]))
