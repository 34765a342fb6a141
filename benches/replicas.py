#!/usr/bin/env python3
"""Replicas on one snapshot: N processes serving the same saved engine.

One 1M × 64 L2 engine (native HNSW, m 16, ef_construction 100; seeded clustered data) is saved
once; hnswlib and usearch build the same vectors with the same parameters and save theirs.
Then, in fresh processes:

1. Open time (median of 5 fresh processes): embedrec read-only open (memory-mapped),
   embedrec ``load`` (read into memory), hnswlib ``load_index``, usearch ``restore(view=True)``.
2. Memory: 1, 2, 4 and 8 processes each open the file, touch all of it (embedrec: ``verify()``,
   which reads every page; peers: 2,000 queries, then a full scan of their vectors) and answer
   2,000 queries; the total PSS across them (``/proc/PID/smaps_rollup``) while all are alive.
3. Query speed in one process: 2,000 single-thread k=10 searches at ef 64, memory-mapped
   against loaded into memory (recall@10 of each against exact results as a check).

    python benches/replicas.py [--n 1000000] [--out benches/results] [--reuse DIR]

``--reuse DIR`` takes the saved indexes found in an earlier run's directory (their build
figures are then not measured again).
"""
import argparse, json, os, platform, sys, tempfile, time
from pathlib import Path

import numpy as np

from processes import run_workers

DIM, M, EFC, EF, K = 64, 16, 100, 64, 10


def data(n, seed=7):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(256, DIM)).astype(np.float32)
    x = centers[rng.integers(0, 256, n)] + 0.5 * rng.normal(size=(n, DIM)).astype(np.float32)
    q = centers[rng.integers(0, 256, 2000)] + 0.5 * rng.normal(size=(2000, DIM)).astype(np.float32)
    return x.astype(np.float32), q.astype(np.float32)


def open_kind(kind, path, n):
    if kind in ("embedrec-mapped", "embedrec-heap"):
        import embedrec
        if kind == "embedrec-mapped":
            e = embedrec.Engine.open(path, read_only=True)
        else:
            e = embedrec.Engine.load(path)
        e.set_threads(1)
        return e
    if kind == "hnswlib":
        import hnswlib
        p = hnswlib.Index(space="l2", dim=DIM)
        p.load_index(path, max_elements=n)
        p.set_ef(EF)
        p.set_num_threads(1)
        return p
    if kind == "usearch":
        from usearch.index import Index
        return Index.restore(path, view=True)
    raise ValueError(kind)


def query(kind, idx, q):
    if kind.startswith("embedrec"):
        return [idx.search(v, k=K) for v in q]
    if kind == "hnswlib":
        return [idx.knn_query(v, k=K) for v in q]
    return [idx.search(v, K, exact=False) for v in q]


def touch(kind, idx, n):
    if kind.startswith("embedrec"):
        idx.verify()
    elif kind == "hnswlib":
        idx.get_items(range(0, n, max(1, n // 100_000)))
    else:
        idx.get(np.arange(0, n, max(1, n // 100_000)))


def worker(kind, path, n):
    """Opens, touches, queries, reports, then waits for the parent to read its memory."""
    t = time.perf_counter()
    idx = open_kind(kind, path, n)
    opened = time.perf_counter() - t
    _, q = data(1)
    touch(kind, idx, n)
    query(kind, idx, q)
    print(json.dumps({"open_s": opened}), flush=True)
    sys.stdin.read()


def replicas(kind, path, n, count):
    total, out = run_workers([__file__, "--worker", kind, path, "--n", str(n)], count)
    return total, [o["open_s"] for o in out]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--out", default="benches/results")
    ap.add_argument("--worker", nargs=2)
    ap.add_argument("--reuse")
    a = ap.parse_args()
    if a.worker:
        return worker(a.worker[0], a.worker[1], a.n)
    import embedrec, hnswlib
    from usearch.index import Index
    x, q = data(a.n)
    d = Path(a.reuse or tempfile.mkdtemp(prefix="replicas-"))
    paths = {"embedrec": str(d / "e.embedrec"), "hnswlib": str(d / "h.bin"), "usearch": str(d / "u.usearch")}
    ids = np.arange(a.n)
    build = {}
    if not os.path.exists(paths["embedrec"]):
        t = time.process_time()
        e = embedrec.Engine(dim=DIM, metric="l2", m=M, ef_construction=EFC, ef_search=EF, threads=2)
        e.upsert_items(ids, x)
        build["embedrec"] = time.process_time() - t
        e.save(paths["embedrec"])
        del e
    if not os.path.exists(paths["hnswlib"]):
        t = time.process_time()
        h = hnswlib.Index(space="l2", dim=DIM)
        h.init_index(max_elements=a.n, M=M, ef_construction=EFC)
        h.add_items(x, ids, num_threads=2)
        build["hnswlib"] = time.process_time() - t
        h.save_index(paths["hnswlib"])
        del h
    if not os.path.exists(paths["usearch"]):
        t = time.process_time()
        u = Index(ndim=DIM, metric="l2sq", connectivity=M, expansion_add=EFC, expansion_search=EF)
        u.add(ids, x, threads=2)
        build["usearch"] = time.process_time() - t
        u.save(paths["usearch"])
        del u
    sizes = {k: os.path.getsize(p) for k, p in paths.items()}
    kinds = {"embedrec-mapped": paths["embedrec"], "embedrec-heap": paths["embedrec"],
             "hnswlib": paths["hnswlib"], "usearch": paths["usearch"]}
    res = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "n": a.n, "dim": DIM, "m": M, "ef_construction": EFC, "ef": EF,
           "date": time.strftime("%Y-%m-%d"), "file_bytes": sizes, "build_cpu_s": build,
           "open_s": {}, "pss_mb": {}, "queries": {}}
    for kind, path in kinds.items():
        opens = [replicas(kind, path, a.n, 1)[1][0] for _ in range(5)]
        res["open_s"][kind] = float(np.median(opens))
        res["pss_mb"][kind] = {c: replicas(kind, path, a.n, c)[0] for c in (1, 2, 4, 8)}
        print(kind, res["open_s"][kind], res["pss_mb"][kind], flush=True)
    # Query speed in this process, mapped against in memory (and the peers), with recall.
    truth = []
    for v in q[:200]:
        dd = ((x - v) ** 2).sum(1)
        truth.append(set(np.argpartition(dd, K)[:K].tolist()))
    for kind, path in kinds.items():
        idx = open_kind(kind, path, a.n)
        query(kind, idx, q[:200])
        t = time.perf_counter()
        out = query(kind, idx, q)
        qps = len(q) / (time.perf_counter() - t)
        got = []
        for r in out[:200]:
            if kind.startswith("embedrec"):
                got.append({int(i) for i, _ in r})
            elif kind == "hnswlib":
                got.append(set(r[0][0].tolist()))
            else:
                got.append(set(r.keys.tolist()))
        recall = float(np.mean([len(g & t) / K for g, t in zip(got, truth)]))
        res["queries"][kind] = {"qps": qps, "recall": recall}
        print(kind, qps, recall, flush=True)
        del idx
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "replicas.json").write_text(json.dumps(res, indent=1))
    one = res["pss_mb"]
    lines = [f"# Replicas on one snapshot ({a.n:,} × {DIM} L2, m {M}, ef_construction {EFC}, ef {EF})", "",
             f"{res['machine']}, {res['cpus']} CPUs, {res['date']}. `python benches/replicas.py`.", "",
             "| | file MB | open (median, s) | PSS 1 proc MB | 2 | 4 | 8 | 8 / 1 | QPS 1 thread | recall@10 |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for kind in kinds:
        p = one[kind]
        f = sizes["embedrec" if kind.startswith("embedrec") else kind] / 1e6
        qq = res["queries"][kind]
        lines.append(f"| {kind} | {f:.0f} | {res['open_s'][kind]:.3f} | {p[1]:.0f} | {p[2]:.0f} | {p[4]:.0f} | {p[8]:.0f} | "
                     f"{p[8] / p[1]:.2f} | {qq['qps']:.0f} | {qq['recall']:.3f} |")
    (out / "replicas.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
