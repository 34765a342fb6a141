#!/usr/bin/env python3
"""Replicas of a trained model: N processes serving the same saved ALS engine.

One engine of 100k items (no content vectors) and 20k users × 50 interactions (half uniform,
half Zipf-distributed items, so that nearly every item has some) is
trained with ALS (64 factors, 5 iterations) and saved; implicit trains the same matrix with
the same parameters and saves its model (``save``, an .npz). Then, in fresh processes:

1. Open time (median of 5 fresh processes): embedrec read-only open (memory-mapped: the
   factor arrays and the graphs over them are used in place), embedrec ``load`` (read into
   memory), implicit ``load``.
2. Memory: 1, 4 and 8 processes each open the model, touch all of it (embedrec:
   ``verify()``, which reads every page) and answer 1,000 ``recommend`` calls (implicit:
   ``recommend`` with the user's row of the matrix, which it needs to filter seen items);
   the total PSS across them (``/proc/PID/smaps_rollup``) while all are alive.
3. Query speed in one process: 1,000 single-user k=10 recommendations, single-thread.

    python benches/model_replicas.py [--out benches/results]
"""
import argparse, json, os, platform, sys, tempfile, time
from pathlib import Path

import numpy as np

from processes import run_workers

ITEMS, USERS, PER, FACTORS, ITERS = 100_000, 20_000, 50, 64, 5


def interactions():
    rng = np.random.default_rng(1)
    n = USERS * PER
    users = np.repeat(np.arange(USERS), PER)
    items = np.where(rng.random(n) < 0.5, rng.integers(0, ITEMS, n), rng.zipf(1.3, n) % ITEMS)
    return users, items


def matrix():
    import scipy.sparse as sp
    users, items = interactions()
    m = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=(USERS, ITEMS))
    m.sum_duplicates()
    return m


def open_kind(kind, path):
    if kind == "embedrec-mapped":
        import embedrec
        e = embedrec.Engine.open(path, read_only=True)
    elif kind == "embedrec-heap":
        import embedrec
        e = embedrec.Engine.load(path)
    else:
        from implicit.cpu.als import AlternatingLeastSquares
        return AlternatingLeastSquares.load(path)
    e.set_threads(1)
    return e


def recommend(kind, model, m, users):
    if kind.startswith("embedrec"):
        return [model.recommend(int(u), k=10) for u in users]
    return [model.recommend(int(u), m[int(u)], N=10) for u in users]


def worker(kind, path):
    """Opens, touches, queries, reports, then waits for the parent to read its memory."""
    t = time.perf_counter()
    model = open_kind(kind, path)
    opened = time.perf_counter() - t
    m = matrix() if kind == "implicit" else None
    if kind.startswith("embedrec"):
        model.verify()
    users = np.random.default_rng(5).integers(0, USERS, 1000)
    t = time.perf_counter()
    recommend(kind, model, m, users)
    print(json.dumps({"open_s": opened, "query_s": time.perf_counter() - t}), flush=True)
    sys.stdin.read()


def replicas(kind, path, count):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    return run_workers([__file__, "--worker", kind, path], count, env)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--worker", nargs=2)
    a = ap.parse_args()
    if a.worker:
        return worker(*a.worker)
    import embedrec
    from implicit.cpu.als import AlternatingLeastSquares
    d = Path(tempfile.mkdtemp(prefix="model-replicas-"))
    paths = {"embedrec-mapped": str(d / "e.embedrec"), "embedrec-heap": str(d / "e.embedrec"),
             "implicit": str(d / "implicit.npz")}
    users, items = interactions()
    e = embedrec.Engine(dim=0, threads=2)
    e.add_interactions(users, items)
    e.fit("als", factors=FACTORS, iterations=ITERS, show_progress=False)
    e.save(paths["embedrec-mapped"])
    del e
    als = AlternatingLeastSquares(factors=FACTORS, iterations=ITERS, num_threads=2, random_state=1)
    als.fit(matrix(), show_progress=False)
    als.save(paths["implicit"])
    del als
    res = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or ''}".strip(", "),
           "date": time.strftime("%Y-%m-%d"),
           "data": f"{len(np.unique(items))} items, {USERS} users x {PER} interactions, ALS {FACTORS} factors",
           "file_mb": {"embedrec": os.path.getsize(paths["embedrec-mapped"]) / 1e6,
                       "implicit": os.path.getsize(paths["implicit"]) / 1e6},
           "open_s": {}, "pss_mb": {}, "query_ms": {}}
    for kind, path in paths.items():
        opens, queries = [], []
        for _ in range(5):
            _, out = replicas(kind, path, 1)
            opens.append(out[0]["open_s"])
            queries.append(out[0]["query_s"])
        res["open_s"][kind] = float(np.median(opens))
        res["query_ms"][kind] = float(np.median(queries))
        res["pss_mb"][kind] = {c: replicas(kind, path, c)[0] for c in (1, 4, 8)}
    lines = [f"# Replicas of a trained model ({res['machine']}, {res['date']})", "",
             f"{res['data']}; files: embedrec {res['file_mb']['embedrec']:.0f} MB (factors, the two factor "
             f"graphs, interactions), implicit {res['file_mb']['implicit']:.0f} MB (factors).", "",
             "| | open s (median of 5) | 1,000 recommend, ms per call | PSS 1 / 4 / 8 processes, MB |",
             "|---|---|---|---|"]
    for kind in paths:
        p = res["pss_mb"][kind]
        lines.append(f"| {kind} | {res['open_s'][kind]:.3f} | {res['query_ms'][kind]:.3f} | "
                     f"{p[1]:.0f} / {p[4]:.0f} / {p[8]:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    (Path(a.out) / "model-replicas.md").write_text(text)
    (Path(a.out) / "model-replicas.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
