#!/usr/bin/env python3
"""Saving an index: time and peak memory against hnswlib, same vectors, same parameters.
hnswlib's save is followed by an fsync of its file (embedrec's save syncs before returning).

100k × 768 inner-product vectors (seeded low-rank cluster mixture plus noise, unit length),
m 16, ef_construction 100. Each library builds in a fresh process, saves three times (wall
time per save, median reported) and reports its peak resident memory over build and save
(``ru_maxrss``) next to the size of the index it saved.

    python benches/save.py [--n 100000] [--dim 768] [--out benches/results]
"""
import argparse, json, os, platform, resource, subprocess, sys, tempfile, time
from pathlib import Path

import numpy as np


def data(n, dim, seed=3):
    """Generated 10,000 rows at a time in float32, so the generator's temporaries do not set
    the process's peak memory."""
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((32, dim), dtype=np.float32)
    centers = rng.standard_normal((64, 32), dtype=np.float32)
    x = np.empty((n, dim), dtype=np.float32)
    for a in range(0, n, 10_000):
        b = min(n, a + 10_000)
        c = centers[rng.integers(0, 64, b - a)] + 0.3 * rng.standard_normal((b - a, 32), dtype=np.float32)
        y = c @ basis + 0.5 * rng.standard_normal((b - a, dim), dtype=np.float32)
        x[a:b] = y / np.linalg.norm(y, axis=1, keepdims=True)
    return x


def worker(kind, n, dim, path):
    x = data(n, dim)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.process_time()
    if kind == "embedrec":
        import embedrec
        idx = embedrec.Engine(dim=dim, metric="dot", m=16, ef_construction=100, threads=2)
        idx.upsert_items(np.arange(n), x)
        save = lambda: idx.save(path)
    else:
        import hnswlib
        idx = hnswlib.Index(space="ip", dim=dim)
        idx.init_index(max_elements=n, M=16, ef_construction=100)
        idx.add_items(x, np.arange(n), num_threads=2)

        def save():
            # hnswlib writes without syncing; embedrec's save fsyncs the file and its
            # directory before it returns. Synced here too, to compare like with like.
            idx.save_index(path)
            fd = os.open(path, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
    build = time.process_time() - t
    del x
    times = []
    for _ in range(3):
        t = time.perf_counter()
        save()
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"build_cpu_s": build, "save_s": sorted(times)[1], "peak_mb": peak,
                      "data_mb": base, "file_mb": os.path.getsize(path) / 1e6}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--out", default="benches/results")
    ap.add_argument("--worker")
    ap.add_argument("--path")
    a = ap.parse_args()
    if a.worker:
        return worker(a.worker, a.n, a.dim, a.path)
    d = Path(tempfile.mkdtemp(prefix="save-"))
    res = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
           "date": time.strftime("%Y-%m-%d"), "n": a.n, "dim": a.dim, "runs": {}}
    for kind in ("embedrec", "hnswlib"):
        out = subprocess.run([sys.executable, __file__, "--worker", kind, "--n", str(a.n), "--dim", str(a.dim),
                              "--path", str(d / kind)], capture_output=True, text=True, check=True).stdout
        res["runs"][kind] = json.loads(out.strip().splitlines()[-1])
        print(kind, res["runs"][kind], flush=True)
    e, h = res["runs"]["embedrec"], res["runs"]["hnswlib"]
    lines = [f"# Save: {a.n:,} × {a.dim} inner product, m 16, ef_construction 100", "",
             f"{res['machine']}, {res['cpus']} CPUs, {res['date']}. `python benches/save.py`. Peak: ru_maxrss of a",
             "process that generated the vectors, built and saved three times (the vectors alone are `data`).", "",
             "| | build CPU s | save s (median of 3) | peak MB | data MB | file MB |", "|---|---|---|---|---|---|"]
    for k, r in res["runs"].items():
        lines.append(f"| {k} | {r['build_cpu_s']:.1f} | {r['save_s']:.3f} | {r['peak_mb']:.0f} | {r['data_mb']:.0f} | {r['file_mb']:.0f} |")
    lines += ["", f"Save time ratio {e['save_s'] / h['save_s']:.2f}×; peak memory ratio {e['peak_mb'] / h['peak_mb']:.2f}×."]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "save.md").write_text("\n".join(lines) + "\n")
    (out / "save.json").write_text(json.dumps(res, indent=1))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
