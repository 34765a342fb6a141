#!/usr/bin/env python3
"""Durable mode: what a journaled write costs, and what a writer costs readers.

1. Writes: 2,000 ``add_interactions`` calls of 10 interactions each, per call p50/p99 and
   calls/s, for an engine in memory and opened with sync "off", "grouped" and "full".
2. Readers under a writer: uncached ``recommend`` (ALS, 20k items) and ``search`` (20k × 64,
   native HNSW) p50/p99 on one thread, idle and while another thread upserts 10 items and
   adds 50 interactions in a loop (in memory and durable "full"), or refits the ALS model in
   a loop (in memory). Each state is measured in 3 rounds of 2,000 queries of each kind,
   idle and busy rounds alternating; the table gives the median round and the ratio of
   busy to idle p99.

    python benches/durable.py [--out benches/results]
"""
import argparse, json, os, platform, tempfile, threading, time
from pathlib import Path

import numpy as np

import embedrec


def pct(xs, q):
    return float(np.percentile(np.array(xs) * 1e3, q))


def writes(make, n_calls=2000):
    e = make()
    lat = []
    t0 = time.perf_counter()
    for c in range(n_calls):
        users = [f"u{(c * 10 + j) % 500}" for j in range(10)]
        items = [f"i{(c * 7 + j * 13) % 2000}" for j in range(10)]
        t = time.perf_counter()
        e.add_interactions(users, items)
        lat.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    if e.durable:
        e.close()
    return {"calls_per_s": n_calls / total, "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}


def build(e, rng, n=20_000, dim=64):
    v = rng.normal(size=(n, dim)).astype(np.float32)
    e.upsert_items([f"i{i}" for i in range(n)], v)
    users = rng.integers(0, 2000, 40_000)
    items = (rng.zipf(1.3, 40_000) % n)
    e.add_interactions(users, [f"i{i}" for i in items])
    e.fit("als", factors=32, iterations=5, show_progress=False)
    return v


ROUND = 0


def readers(e, v, rng, busy):
    stop = threading.Event()
    # Every input the writer sends is made up front (new items in every round: an update of
    # an existing item re-links its node, a different workload): the writer thread then spends its time
    # inside engine calls (which release the GIL), so what the readers measure is the
    # engine, not waiting for the interpreter lock.
    r = np.random.default_rng(9)
    global ROUND
    ROUND += 1
    batches = [([f"w{ROUND}-{k}-{j}" for j in range(10)], r.normal(size=(10, v.shape[1])).astype(np.float32),
                r.integers(0, 2000, 50), [f"i{i}" for i in r.integers(0, len(v), 50)]) for k in range(3000)]

    def writer():
        if busy == "fit":
            while not stop.is_set():
                e.fit("als", factors=32, iterations=5, show_progress=False)
            return
        for ids, vecs, users, items in batches:
            if stop.is_set():
                return
            e.upsert_items(ids, vecs)
            e.add_interactions(users, items)

    t = threading.Thread(target=writer) if busy else None
    if t:
        t.start()
        time.sleep(0.2)
    rec, srch = [], []
    for q in range(2000):
        u = int(rng.integers(0, 2000))
        s = time.perf_counter()
        e.recommend(u, k=10)
        rec.append(time.perf_counter() - s)
        s = time.perf_counter()
        e.search(v[q % len(v)], k=10)
        srch.append(time.perf_counter() - s)
    stop.set()
    if t:
        t.join()
    return {"recommend_p50_ms": pct(rec, 50), "recommend_p99_ms": pct(rec, 99),
            "search_p50_ms": pct(srch, 50), "search_p99_ms": pct(srch, 99)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    a = ap.parse_args()
    d = tempfile.mkdtemp()
    res = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}
    res["writes"] = {
        "memory": writes(lambda: embedrec.Engine(dim=0, threads=2)),
        **{s: writes(lambda s=s: embedrec.Engine.open(Path(d) / f"w-{s}.embedrec", dim=0, threads=2, sync=s))
           for s in ("off", "grouped", "full")},
    }
    res["readers"] = {}
    for name, make in [("memory", lambda: embedrec.Engine(dim=64, threads=2, cache_capacity=0)),
                       ("durable full", lambda: embedrec.Engine.open(Path(d) / "r.embedrec", dim=64, threads=2, cache_capacity=0))]:
        rng = np.random.default_rng(1)
        e = make()
        v = build(e, rng)
        busy = ["writer"] + (["fit"] if name == "memory" else [])
        rounds = {k: [] for k in ["idle"] + busy}
        for _ in range(3):
            for k in rounds:
                rounds[k].append(readers(e, v, rng, False if k == "idle" else k))
        res["readers"][name] = {k: {m: float(np.median([r[m] for r in rs])) for m in rs[0]} for k, rs in rounds.items()}
    lines = [f"# Durable mode ({res['machine']}, {res['date']})", "",
             "| writes: 10 interactions per call | calls/s | p50 ms | p99 ms |", "|---|---|---|---|"]
    for k, w in res["writes"].items():
        lines.append(f"| {k} | {w['calls_per_s']:.0f} | {w['p50_ms']:.3f} | {w['p99_ms']:.3f} |")
    lines += ["", "| readers (1 thread, uncached) | recommend p50 / p99 ms | search p50 / p99 ms | p99 / idle p99 |",
              "|---|---|---|---|"]
    for k, r in res["readers"].items():
        for state, x in r.items():
            ratio = "" if state == "idle" else (f"{x['recommend_p99_ms'] / r['idle']['recommend_p99_ms']:.2f}× / "
                                                f"{x['search_p99_ms'] / r['idle']['search_p99_ms']:.2f}×")
            lines.append(f"| {k}, {state} | {x['recommend_p50_ms']:.3f} / {x['recommend_p99_ms']:.3f} | "
                         f"{x['search_p50_ms']:.3f} / {x['search_p99_ms']:.3f} | {ratio} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "durable.md").write_text(text)
    (Path(a.out) / "durable.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
