#!/usr/bin/env python3
"""embedrec's indexes against hnswlib, measured in the same run.

Datasets are generated from a fixed seed (Gaussian mixtures; queries are held-out points of
the same mixture) and exact ground truth is computed with numpy. Each library/dataset/thread
count runs in its own subprocess so that the memory figure (RSS growth during the build) is
not polluted by another index. Measured per index:

- build time with 1 thread (CPU seconds) and 2 threads (wall seconds),
- index memory (RSS growth while building; the host's ids and labels exist before), the
  build's peak (peak RSS growth), file size, load time (median of 3 loads of the saved file),
- the saved file served by a fresh process (embedrec: opened read-only, memory-mapped;
  hnswlib: loaded): private memory and mapped-file pages after the query curve, and the curve,
- recall@10 against single-thread QPS for ef in {16, 32, 64, 128, 256},
- filtered search (filters passing 10 % and 1 % of items) and search after deleting 10 %
  of the items, against exact ground truth of the filtered / remaining items.

Outputs ``<out>/<dataset>.json``, ``<out>/<dataset>.png`` (recall-QPS curves) and a
markdown table ``<out>/<dataset>.md`` (ratios to hnswlib).

Separate processes measure memory cleanly, but the machine's speed drifts between them
(hnswlib's own QPS moved by up to 40 % between runs on the 2-core VM). ``--paired ROUNDS``
therefore builds every index in one process and times query passes alternately, the order
rotating every round, and reports median QPS and the per-round ratio range
(``<out>/<dataset>-paired.md``/``.json``).

    pip install hnswlib==0.8.0 matplotlib numpy   # and the embedrec wheel: pip install ./python
    python benches/compare_hnswlib.py --datasets l2-200k,ip-200k,ip-1m
    python benches/compare_hnswlib.py --smoke       # tiny version run by CI
    python benches/compare_hnswlib.py --datasets ip-200k --libs hnswlib,native --paired 7
    pip install faiss-cpu usearch                   # peers of paired runs
    python benches/compare_hnswlib.py --datasets ip-768 --libs hnswlib,native,faiss,usearch --paired 5

Paired runs also time the queries as one batch on 2 threads (each library's parallel call).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # no BLAS threads spinning beside the measured one
import numpy as np

K = 10
SEED = 20261122
DATASETS = {
    # name: (items, dim, clusters, metric, normalised)
    "l2-200k": (200_000, 128, 1_000, "l2", False),
    "ip-200k": (200_000, 128, 1_000, "ip", True),
    "ip-1m": (1_000_000, 64, 2_000, "ip", True),
    "smoke": (5_000, 32, 50, "l2", False),
    "l2-50k": (50_000, 128, 250, "l2", False),  # quick development run
    # Sentence-embedding-like: a low-rank cluster mixture plus noise (LOW_RANK), normalised.
    "ip-768": (100_000, 768, 1_000, "ip", True),
}
# Datasets drawn from a LOW_RANK-dimensional mixture mapped into the full dimension.
LOW_RANK = {"ip-768": 64}
N_QUERIES = 1_000
# Paired mode: each timed pass runs the queries as often as it takes to last at least this
# long, after an untimed warm-up of WARM_QUERIES of them.
MIN_PASS_S = 0.25
WARM_QUERIES = 20
M, EF_CONSTRUCTION = 16, 200


# ----------------------------------------------------------------------------------- data


def generate(name: str, data_dir: Path) -> Path:
    """Creates (once) the items, queries and exact top-k of a dataset; returns its directory."""
    n, dim, clusters, metric, normalised = DATASETS[name]
    d = data_dir / name
    if (d / "gt.npy").exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    total = n + N_QUERIES
    labels = rng.integers(0, clusters, size=total)
    if name in LOW_RANK:
        r = LOW_RANK[name]
        basis = (rng.normal(size=(r, dim)) / np.sqrt(r)).astype(np.float32)
        centres = rng.normal(size=(clusters, r)).astype(np.float32)
        x = np.empty((total, dim), dtype=np.float32)
        for start in range(0, total, 20_000):
            rows = slice(start, min(total, start + 20_000))
            z = centres[labels[rows]] + 0.6 * rng.normal(size=(len(labels[rows]), r)).astype(np.float32)
            x[rows] = z @ basis + 0.25 * rng.normal(size=(len(z), dim)).astype(np.float32)
    else:
        centres = rng.normal(size=(clusters, dim)).astype(np.float32)
        x = centres[labels] + 0.5 * rng.normal(size=(total, dim)).astype(np.float32)
        x = x.astype(np.float32)
    if normalised:
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    items, queries = np.ascontiguousarray(x[:n]), np.ascontiguousarray(x[n:])
    np.save(d / "items.npy", items)
    np.save(d / "queries.npy", queries)
    np.save(d / "gt.npy", exact_top_k(items, queries, metric, np.arange(n)))
    return d


def exact_top_k(items, queries, metric, subset):
    """Exact top-K labels (from ``subset``) of every query, best first."""
    sub = items[subset]
    sq = (sub.astype(np.float64) ** 2).sum(1).astype(np.float32) if metric == "l2" else None
    out = np.empty((len(queries), K), dtype=np.int64)
    for start in range(0, len(queries), 50):
        q = queries[start : start + 50]
        s = q @ sub.T  # higher is better for ip; for l2 use |x|^2 - 2 q.x (|q|^2 is constant)
        if metric == "l2":
            s = 2 * s - sq
        part = np.argpartition(-s, K, axis=1)[:, :K]
        rows = np.arange(len(q))[:, None]
        order = np.argsort(-s[rows, part], axis=1)
        out[start : start + len(q)] = subset[part[rows, order]]
    return out


def recall(found, truth) -> float:
    hits = sum(len(set(map(int, f)) & set(map(int, t))) for f, t in zip(found, truth))
    return hits / (len(truth) * K)


# --------------------------------------------------------------------------------- workers


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def status_bytes(field: str) -> int:
    """A field of /proc/self/status in bytes (VmHWM: peak RSS; RssAnon: private memory;
    RssFile: pages of mapped files)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def reset_peak():
    """Restarts the peak-RSS count (VmHWM) from the current RSS (Linux 4.0+)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def median_time(fn, repeats=3):
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


class EmbedrecRunner:
    """embedrec through its Python binding; ids are the decimal labels."""

    def __init__(self, index, storage, metric, dim, threads):
        import embedrec

        self.embedrec = embedrec
        self.index = index
        self.e = embedrec.Engine(
            dim,
            metric="dot" if metric == "ip" else "l2",
            index=index,
            m=M,
            ef_construction=EF_CONSTRUCTION,
            cache_capacity=0,
            threads=threads,
            exact_below=0,
            # Filtered queries walk the graph (no switch to the exact path), so the graph's
            # own filtered recall is what is measured.
            exact_filter_fraction=0.0,
            vector_storage=storage,
        )

    def prepare(self, n):
        """The host's own data (ids, the attribute column), made before memory is measured."""
        self.ids = [str(i) for i in range(n)]
        self.bucket = (np.arange(n) % 100).astype(np.float64)

    def build(self, items):
        n, ids, bucket = len(items), self.ids, self.bucket
        for start in range(0, n, 100_000):
            end = min(n, start + 100_000)
            self.e.upsert_items(
                ids[start:end], items[start:end], attributes={"bucket": bucket[start:end]}
            )

    def query(self, queries, ef, filt=None, threads=1):
        """Runs the queries on ``threads`` of the engine's pool; the result is turned into
        labels by ``labels`` (not timed)."""
        if threads != getattr(self, "threads", None):
            self.e.set_threads(threads)
            self.threads = threads
        self.e.set_ef_search(ef)
        if self.index == "hnsw":
            # The hnsw_rs engine was built with 2 threads: query one at a time instead.
            return [[h[0] for h in self.e.search(q, K, filt)] for q in queries]
        ids, _ = self.e.search_batch(queries, K, filt)
        return ids

    @staticmethod
    def labels(raw):
        return np.array([[int(x) if x is not None else -1 for x in row] for row in raw])

    def filter(self, max_bucket):
        return self.embedrec.Filter(ranges={"bucket": (None, float(max_bucket))})

    def delete(self, labels):
        self.e.remove_items([str(i) for i in labels])

    def save(self, path):
        self.e.save(path)

    def load(self, path):
        self.embedrec.Engine.load(path)


class HnswlibRunner:
    def __init__(self, metric, dim, threads):
        import hnswlib

        self.hnswlib, self.metric, self.dim, self.threads = hnswlib, metric, dim, threads
        self.p = hnswlib.Index(space=metric, dim=dim)

    def prepare(self, n):
        self.labels_in = np.arange(n)

    def build(self, items):
        self.n = len(items)
        self.p.init_index(max_elements=self.n, M=M, ef_construction=EF_CONSTRUCTION, random_seed=100)
        self.p.set_num_threads(self.threads)
        self.p.add_items(items, self.labels_in, num_threads=self.threads)

    def query(self, queries, ef, filt=None, threads=1):
        self.p.set_ef(ef)
        labels, _ = self.p.knn_query(queries, k=K, num_threads=threads, filter=filt)
        return labels

    def filter(self, max_bucket):
        return lambda label: label % 100 <= max_bucket

    @staticmethod
    def labels(raw):
        return raw

    def delete(self, labels):
        for x in labels:
            self.p.mark_deleted(int(x))

    def save(self, path):
        self.p.save_index(path)

    def load(self, path):
        q = self.hnswlib.Index(space=self.metric, dim=self.dim)
        q.load_index(path, max_elements=self.n)


class FaissRunner:
    """faiss IndexHNSWFlat (same M and ef_construction); OpenMP threads as asked."""

    def __init__(self, metric, dim, threads):
        import faiss

        self.faiss, self.threads = faiss, threads
        kind = faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2
        self.p = faiss.IndexHNSWFlat(dim, M, kind)
        self.p.hnsw.efConstruction = EF_CONSTRUCTION

    def prepare(self, n):
        pass

    def build(self, items):
        self.faiss.omp_set_num_threads(self.threads)
        self.p.add(items)

    def query(self, queries, ef, filt=None, threads=1):
        self.faiss.omp_set_num_threads(threads)
        self.p.hnsw.efSearch = ef
        _, labels = self.p.search(queries, K)
        return labels

    @staticmethod
    def labels(raw):
        return raw


class UsearchRunner:
    """usearch (f32 vectors, connectivity M, expansion_add ef_construction)."""

    def __init__(self, metric, dim, threads):
        from usearch.index import Index

        self.threads = threads
        self.p = Index(
            ndim=dim,
            metric="ip" if metric == "ip" else "l2sq",
            dtype="f32",
            connectivity=M,
            expansion_add=EF_CONSTRUCTION,
        )

    def prepare(self, n):
        self.keys = np.arange(n, dtype=np.uint64)

    def build(self, items):
        self.p.add(self.keys, items, threads=self.threads)

    def query(self, queries, ef, filt=None, threads=1):
        self.p.expansion_search = ef
        return self.p.search(queries, K, threads=threads).keys

    @staticmethod
    def labels(raw):
        return np.asarray(raw, dtype=np.int64)


# Benchmark name -> (embedrec index, vector storage).
EMBEDREC_LIBS = {
    "native": ("native", "f32"),
    "native_int8": ("native_int8", "f32"),
    "native_1bit": ("native_1bit", "f32"),
    "native_i8store": ("native", "int8"),
    "native_f16": ("native", "f16"),
    # The walk on int8 codes, re-scoring from f16 rows instead of f32.
    "native_int8_f16": ("native_int8", "f16"),
    "hnsw_rs": ("hnsw", "f32"),
}


# Peers measured only in paired runs (one process, every index built there).
PEERS = {"faiss": FaissRunner, "usearch": UsearchRunner}


def make_runner(lib, metric, dim, threads):
    if lib == "hnswlib":
        return HnswlibRunner(metric, dim, threads)
    if lib in PEERS:
        return PEERS[lib](metric, dim, threads)
    return EmbedrecRunner(*EMBEDREC_LIBS[lib], metric, dim, threads)


def worker(lib, dataset, threads, data_dir, efs, full):
    n, dim, _, metric, _ = DATASETS[dataset]
    d = data_dir / dataset
    items, queries, gt = (np.load(d / f) for f in ("items.npy", "queries.npy", "gt.npy"))
    r = make_runner(lib, metric, dim, threads)
    r.prepare(len(items))
    reset_peak()
    rss0, cpu0, t0 = rss_bytes(), cpu_seconds(), time.perf_counter()
    r.build(items)
    out = {
        "lib": lib,
        "threads": threads,
        "build_wall_s": time.perf_counter() - t0,
        "build_cpu_s": cpu_seconds() - cpu0,
        "memory_mb": (rss_bytes() - rss0) / 1e6,
        "build_peak_mb": (status_bytes("VmHWM") - rss0) / 1e6,
    }
    if not full:
        print(json.dumps(out))
        return
    if lib != "hnswlib":
        out["simd"] = r.embedrec.simd_level()
    curve = []
    for ef in efs:
        r.query(queries[:100], ef)  # warm-up
        t, found = median_time(lambda: r.query(queries, ef), repeats=5)
        found = r.labels(found)
        curve.append({"ef": ef, "recall": recall(found, gt), "qps": len(queries) / t})
    out["curve"] = curve
    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        path = os.path.join(tmp, "index.bin")
        t = time.perf_counter()
        r.save(path)
        out["save_s"] = time.perf_counter() - t
        out["file_mb"] = os.path.getsize(path) / 1e6
        # Median of 3 (one when a load takes over 10 s: hnsw_rs rebuilds its graph): on the
        # VM the kernel's zeroing of fresh pages varies a lot from one load to the next, most
        # of all right after a save (1M x 64: embedrec 0.53-0.90 s first, 0.39-0.42 s next;
        # hnswlib once 1.36 s, then 0.80-0.83 s), and a single sample mostly measures that.
        def load_s():
            return median_time(lambda: r.load(path), repeats=1)[0]

        loads = [load_s()]
        while len(loads) < 3 and loads[0] < 10:
            loads.append(load_s())
        out["load_s"], out["load_s_each"] = float(np.median(loads)), loads
        # Serving the saved file in a fresh process: what stays resident.
        cmd = [sys.executable, __file__, "--serve", lib, dataset, path, "--efs", ",".join(map(str, efs)),
               "--data-dir", str(data_dir)]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            raise SystemExit(f"serving {lib} failed")
        out["served"] = json.loads(p.stdout.strip().splitlines()[-1])
    # Filtered search and search after deletions, at ef = 128, against exact ground truth.
    nq = len(queries) if lib != "hnswlib" else min(200, len(queries))  # hnswlib filters call Python
    labels = np.arange(n)
    for max_bucket, name in ((9, "filter_10pct"), (0, "filter_1pct")):
        allowed = labels[labels % 100 <= max_bucket]
        truth = exact_top_k(items, queries[:nq], metric, allowed)
        filt = r.filter(max_bucket)
        t, found = median_time(lambda: r.query(queries[:nq], 128, filt), repeats=1)
        found = r.labels(found)
        valid = all(int(x) % 100 <= max_bucket for row in found for x in row if int(x) >= 0)
        out[name] = {"recall": recall(found, truth), "qps": nq / t, "all_valid": valid}
    deleted = labels[labels % 10 == 3]
    r.delete(deleted)
    remaining = labels[labels % 10 != 3]
    truth = exact_top_k(items, queries, metric, remaining)
    t, found = median_time(lambda: r.query(queries, 128), repeats=1)
    found = r.labels(found)
    valid = all(int(x) % 10 != 3 for row in found for x in row)
    out["after_delete_10pct"] = {"recall": recall(found, truth), "qps": len(queries) / t, "all_valid": valid}
    print(json.dumps(out))


def serve(lib, dataset, path, data_dir, efs):
    """Opens a saved index the way a server would (embedrec: read-only, memory-mapped;
    hnswlib: load_index), runs the query curve, and reports the memory that came with it:
    private (RssAnon) and mapped-file pages (RssFile, page cache the kernel can drop and
    reread), measured after the queries."""
    _, dim, _, metric, _ = DATASETS[dataset]
    d = data_dir / dataset
    queries, gt = (np.load(d / f) for f in ("queries.npy", "gt.npy"))
    anon0, file0 = status_bytes("RssAnon"), status_bytes("RssFile")
    if lib == "hnswlib":
        import hnswlib

        idx = hnswlib.Index(space="ip" if metric == "ip" else "l2", dim=dim)
        idx.load_index(path)
        idx.set_num_threads(1)

        def query(qs, ef):
            idx.set_ef(ef)
            return idx.knn_query(qs, k=K)[0]

        labels = lambda raw: np.asarray(raw, dtype=np.int64)
    else:
        import embedrec

        e = embedrec.Engine.open(path, read_only=True)
        e.set_threads(1)

        def query(qs, ef):
            e.set_ef_search(ef)
            return e.search_batch(qs, K)[0]

        labels = EmbedrecRunner.labels
    opened = {"anon_mb": (status_bytes("RssAnon") - anon0) / 1e6, "file_mb": (status_bytes("RssFile") - file0) / 1e6}
    curve = []
    for ef in efs:
        query(queries[:100], ef)
        t, found = median_time(lambda: query(queries, ef), repeats=3)
        curve.append({"ef": ef, "recall": recall(labels(found), gt), "qps": len(queries) / t})
    print(json.dumps({
        "opened": opened,
        "anon_mb": (status_bytes("RssAnon") - anon0) / 1e6,
        "file_mb": (status_bytes("RssFile") - file0) / 1e6,
        "curve": curve,
    }))


def paired(dataset, libs, data_dir, efs, rounds):
    """Builds every library's index in one process, then times single-thread query passes
    alternately (the order rotating every round), so that each library's passes see the same
    machine conditions; returns per-ef median QPS, recall and the per-round QPS ratios."""
    n, dim, _, metric, _ = DATASETS[dataset]
    d = data_dir / dataset
    items, queries, gt = (np.load(d / f) for f in ("items.npy", "queries.npy", "gt.npy"))
    runners = {}
    for lib in libs:
        r = make_runner(lib, metric, dim, 2)
        r.prepare(n)
        t = time.perf_counter()
        r.build(items)
        build_s = time.perf_counter() - t
        print(f"[{dataset}] paired: {lib} built in {build_s:.1f}s", file=sys.stderr)
        runners[lib] = r
    out = {lib: [] for lib in libs}

    def timed(r, ef, threads, reps):
        """Seconds per pass over the queries: an untimed warm-up of a few queries first (it
        also sets the thread count, which may start a pool), then `reps` passes timed as
        one."""
        r.query(queries[:WARM_QUERIES], ef, threads=threads)
        t = time.perf_counter()
        for _ in range(reps):
            r.query(queries, ef, threads=threads)
        return (time.perf_counter() - t) / reps

    for ef in efs:
        times = {lib: [] for lib in libs}
        batch = {lib: [] for lib in libs}
        found, reps = {}, {}
        for lib, r in runners.items():
            t = time.perf_counter()
            found[lib] = r.labels(r.query(queries, ef))  # warm-up, and the recall
            # Passes of at least MIN_PASS_S each: one pass of 1,000 queries can take 30 ms,
            # short enough for one scheduling hiccup to move its median.
            reps[lib] = max(1, math.ceil(MIN_PASS_S / (time.perf_counter() - t)))
        for k in range(rounds):
            order = libs[k % len(libs):] + libs[: k % len(libs)]
            for lib in order:
                times[lib].append(timed(runners[lib], ef, 1, reps[lib]))
            # The same queries as one batch on 2 threads (each library's own parallel call).
            for lib in order:
                batch[lib].append(timed(runners[lib], ef, 2, reps[lib]))
        for lib in libs:
            t, b = np.array(times[lib]), np.array(batch[lib])
            point = {
                "ef": ef,
                "recall": recall(found[lib], gt),
                "qps": len(queries) / float(np.median(t)),
                "batch2_qps": len(queries) / float(np.median(b)),
                "passes_timed": reps[lib],
            }
            if lib != "hnswlib" and "hnswlib" in times:
                point["round_ratios"] = [float(x) for x in np.array(times["hnswlib"]) / t]
                point["batch2_round_ratios"] = [float(x) for x in np.array(batch["hnswlib"]) / b]
            out[lib].append(point)
    return out


def paired_report(dataset, curves, rounds, out_dir, machine):
    libs = list(curves)
    lines = [
        f"# {dataset}: paired passes ({rounds} alternating rounds per ef, one process)",
        "",
        f"Machine: {machine}. Every index built in the same process (2 threads), then "
        f"single-thread passes over {N_QUERIES:,} queries, the libraries taking turns in "
        "rotating order; each timed pass follows an untimed warm-up of "
        f"{WARM_QUERIES} queries and repeats the queries as often as makes one single-thread "
        f"pass last at least {MIN_PASS_S} s. QPS is the median pass; the ratio range is over "
        "rounds (hnswlib's pass time / embedrec's, within one round).",
        "",
        "| ef | " + " | ".join(f"{lib_label(x)} recall / QPS" for x in libs) + " | ratio range per round |",
        "|---|" + "---|" * (len(libs) + 1),
    ]
    for i, ef in enumerate(p["ef"] for p in curves[libs[0]]):
        cells = [f"{curves[x][i]['recall']:.4f} / {curves[x][i]['qps']:,.0f}" for x in libs]
        ranges = [
            f"{x}: {min(curves[x][i]['round_ratios']):.2f}–{max(curves[x][i]['round_ratios']):.2f}"
            for x in libs
            if "round_ratios" in curves[x][i]
        ]
        lines.append(f"| {ef} | " + " | ".join(cells) + " | " + "; ".join(ranges) + " |")
    lines += [
        "",
        "The same 1,000 queries as one batch on 2 threads (embedrec `search_batch` on a 2-thread "
        "pool, hnswlib `knn_query(num_threads=2)`, faiss with 2 OpenMP threads, usearch "
        "`search(threads=2)`):",
        "",
        "| ef | " + " | ".join(f"{lib_label(x)} QPS" for x in libs) + " | ratio range per round |",
        "|---|" + "---|" * (len(libs) + 1),
    ]
    for i, ef in enumerate(p["ef"] for p in curves[libs[0]]):
        cells = [f"{curves[x][i]['batch2_qps']:,.0f}" for x in libs]
        ranges = [
            f"{x}: {min(curves[x][i]['batch2_round_ratios']):.2f}–{max(curves[x][i]['batch2_round_ratios']):.2f}"
            for x in libs
            if "batch2_round_ratios" in curves[x][i]
        ]
        lines.append(f"| {ef} | " + " | ".join(cells) + " | " + "; ".join(ranges) + " |")
    lines.append("")
    if "hnswlib" in curves:
        for target in (0.95, 0.99):
            ref, _ = qps_at(curves["hnswlib"], target)
            ref2, _ = qps_at(curves["hnswlib"], target, "batch2_qps")
            for x in libs:
                if x == "hnswlib":
                    continue
                v, note = qps_at(curves[x], target)
                ratio = f"{v / ref:.2f}x" if v is not None and ref else note
                v2, note2 = qps_at(curves[x], target, "batch2_qps")
                ratio2 = f"{v2 / ref2:.2f}x" if v2 is not None and ref2 else note2
                lines.append(
                    f"- recall@10 = {target}: {lib_label(x)} single-thread QPS {ratio} hnswlib's, "
                    f"2-thread batch QPS {ratio2}"
                )
    text = "\n".join(lines) + "\n"
    (out_dir / f"{dataset}-paired.md").write_text(text)
    (out_dir / f"{dataset}-paired.json").write_text(
        json.dumps({"machine": machine, "rounds": rounds, "curves": curves}, indent=1)
    )
    return text


# ------------------------------------------------------------------------------ reporting


def qps_at(curve, target, key="qps"):
    """QPS (single-thread, or ``key``) at a recall target, interpolated between measured ef
    values."""
    pts = sorted(curve, key=lambda p: p["recall"])
    if pts[0]["recall"] >= target:
        return max(p[key] for p in pts), ">="
    for a, b in zip(pts, pts[1:]):
        if a["recall"] < target <= b["recall"]:
            f = (target - a["recall"]) / (b["recall"] - a["recall"])
            return a[key] + f * (b[key] - a[key]), ""
    return None, "not reached"


def report(dataset, results, out_dir, machine):
    n, dim, clusters, metric, _ = DATASETS[dataset]
    full = {r["lib"]: r for r in results if "curve" in r}
    two = {r["lib"]: r for r in results if r["threads"] == 2}
    libs = [lib for lib in ("hnswlib", *EMBEDREC_LIBS) if lib in full]

    rows = []
    for target in (0.95, 0.99):
        vals = {lib: qps_at(full[lib]["curve"], target) for lib in libs}
        ref = vals.get("hnswlib", (None, ""))[0]
        cells = []
        for lib in libs:
            v, note = vals[lib]
            if v is None:
                cells.append(note)
            else:
                c = f"{note}{v:,.0f}"
                if lib != "hnswlib" and ref:
                    c += f" ({v / ref:.2f}x)"
                cells.append(c)
        rows.append((f"single-thread QPS at recall@10 = {target}", cells))

    def simple(label, get, fmt, src=full):
        cells = []
        ref = get(src["hnswlib"]) if "hnswlib" in src else None
        for lib in libs:
            if lib not in src:
                cells.append("n/a")
                continue
            v = get(src[lib])
            c = fmt.format(v)
            if lib != "hnswlib" and ref:
                c += f" ({v / ref:.2f}x)"
            cells.append(c)
        rows.append((label, cells))

    simple("build, CPU seconds, 1 thread", lambda r: r["build_cpu_s"], "{:.1f}")
    if two:
        simple("build, wall seconds, 2 threads", lambda r: r["build_wall_s"], "{:.1f}", two)
    simple("index memory (RSS growth), MB", lambda r: r["memory_mb"], "{:.0f}")
    simple("build peak memory (peak RSS growth), MB", lambda r: r["build_peak_mb"], "{:.0f}")
    simple("file size, MB", lambda r: r["file_mb"], "{:.0f}")
    simple("load from disk, s", lambda r: r["load_s"], "{:.3f}")
    simple("served from the file: private memory (RssAnon), MB", lambda r: r["served"]["anon_mb"], "{:.0f}")
    simple("served from the file: mapped pages after the queries (RssFile), MB",
           lambda r: r["served"]["file_mb"], "{:.0f}")
    for target in (0.95, 0.99):
        cells = []
        for lib in libs:
            v, note = qps_at(full[lib]["served"]["curve"], target)
            cells.append(note if v is None else f"{note}{v:,.0f}")
        rows.append((f"served from the file: single-thread QPS at recall@10 = {target}", cells))
    for key, label in (
        ("filter_10pct", "filter passing 10 %: recall@10 / QPS (ef 128)"),
        ("filter_1pct", "filter passing 1 %: recall@10 / QPS (ef 128)"),
        ("after_delete_10pct", "after deleting 10 %: recall@10 / QPS (ef 128)"),
    ):
        cells = []
        for lib in libs:
            v = full[lib].get(key)
            cells.append(
                "n/a" if v is None else f"{v['recall']:.3f} / {v['qps']:,.0f}" + ("" if v["all_valid"] else " INVALID")
            )
        rows.append((label, cells))

    md = [
        f"### {dataset}: {n:,} x {dim}, {metric}, {clusters:,} clusters, M={M}, ef_construction={EF_CONSTRUCTION}",
        "",
        f"Machine: {machine}. Recall@10 over {N_QUERIES:,} held-out queries; ratios to hnswlib "
        "measured in the same run. QPS at a recall level is interpolated between the measured "
        "ef values (\">=\" means every ef reached it and the fastest is shown).",
        "",
        "| " + " | ".join(["measure"] + [lib_label(lib) for lib in libs]) + " |",
        "|" + "---|" * (len(libs) + 1),
    ]
    md += ["| " + " | ".join([label] + cells) + " |" for label, cells in rows]
    md += ["", "| ef | " + " | ".join(f"{lib_label(l)} recall / QPS" for l in libs) + " |", "|" + "---|" * (len(libs) + 1)]
    for i, p in enumerate(full[libs[0]]["curve"]):
        md.append(
            f"| {p['ef']} | "
            + " | ".join(f"{full[l]['curve'][i]['recall']:.4f} / {full[l]['curve'][i]['qps']:,.0f}" for l in libs)
            + " |"
        )
    text = "\n".join(md) + "\n"
    (out_dir / f"{dataset}.md").write_text(text)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for lib in libs:
            c = full[lib]["curve"]
            ax.plot([p["recall"] for p in c], [p["qps"] for p in c], marker="o", label=lib_label(lib))
        ax.set_xlabel("recall@10")
        ax.set_ylabel("queries per second (1 thread)")
        ax.set_yscale("log")
        ax.set_title(f"{dataset}: {n:,} x {dim} {metric} (M={M}, efC={EF_CONSTRUCTION})")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / f"{dataset}.png", dpi=110)
    except ImportError:
        print("matplotlib not installed: no PNG", file=sys.stderr)
    return text


def lib_label(lib):
    return {
        "hnswlib": "hnswlib 0.8.0",
        "native": "embedrec native",
        "native_int8": "embedrec native_int8",
        "native_1bit": "embedrec native_1bit",
        "native_i8store": "embedrec native, int8 storage",
        "native_f16": "embedrec native, f16 storage",
        "native_int8_f16": "embedrec native_int8, f16 storage",
        "hnsw_rs": "embedrec hnsw_rs",
        "faiss": "faiss HNSWFlat",
        "usearch": "usearch",
    }[lib]


def machine_line():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.machine()}, {datetime.date.today()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="l2-200k,ip-200k")
    ap.add_argument("--libs", default="hnswlib,native,hnsw_rs")
    ap.add_argument("--efs", default="16,32,64,128,256")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parent.parent / "target" / "bench-data"))
    ap.add_argument("--smoke", action="store_true", help="tiny dataset, checks the script end to end")
    ap.add_argument("--no-hnsw-rs-over", type=int, default=500_000, help="skip hnsw_rs above this many items")
    ap.add_argument(
        "--paired",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="instead of one process per index: build all in one process and time query passes "
        "alternately for ROUNDS rounds per ef (QPS ratios under the same machine conditions)",
    )
    ap.add_argument("--worker", nargs=3, metavar=("LIB", "DATASET", "THREADS"), help=argparse.SUPPRESS)
    ap.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve", nargs=3, metavar=("LIB", "DATASET", "PATH"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    efs = [int(x) for x in a.efs.split(",")]
    data_dir = Path(a.data_dir)
    if a.serve:
        serve(a.serve[0], a.serve[1], a.serve[2], data_dir, efs)
        return
    if a.worker:
        worker(a.worker[0], a.worker[1], int(a.worker[2]), data_dir, efs, a.full)
        return
    datasets = ["smoke"] if a.smoke else a.datasets.split(",")
    out_dir = Path(a.out) if not a.smoke else data_dir / "smoke-results"
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_line()
    for ds in datasets:
        t = time.perf_counter()
        generate(ds, data_dir)
        print(f"[{ds}] data and ground truth ready ({time.perf_counter() - t:.1f}s)", file=sys.stderr)
        if a.paired:
            libs = [x for x in a.libs.split(",") if x != "hnsw_rs"]
            print(paired_report(ds, paired(ds, libs, data_dir, efs, a.paired), a.paired, out_dir, machine))
            continue
        results = []
        for lib in a.libs.split(","):
            if lib == "hnsw_rs" and DATASETS[ds][0] > a.no_hnsw_rs_over:
                print(f"[{ds}] skipping hnsw_rs (over {a.no_hnsw_rs_over:,} items)", file=sys.stderr)
                continue
            # 1 thread: build CPU time, memory, queries, load, filters, deletes. hnsw_rs is
            # only built with 2 threads (its single-thread build takes minutes).
            runs = [(2, True)] if lib == "hnsw_rs" else [(1, True), (2, False)]
            for threads, full in runs:
                cmd = [sys.executable, __file__, "--worker", lib, ds, str(threads), "--efs", a.efs, "--data-dir", str(data_dir)]
                if full:
                    cmd.append("--full")
                t = time.perf_counter()
                p = subprocess.run(cmd, capture_output=True, text=True)
                if p.returncode != 0:
                    sys.stderr.write(p.stderr)
                    sys.exit(f"[{ds}] {lib} with {threads} thread(s) failed")
                r = json.loads(p.stdout.strip().splitlines()[-1])
                results.append(r)
                print(f"[{ds}] {lib} x{threads}: {time.perf_counter() - t:.1f}s {json.dumps(r)}", file=sys.stderr)
        (out_dir / f"{ds}.json").write_text(json.dumps({"machine": machine, "results": results}, indent=1))
        print(report(ds, results, out_dir, machine))
        if a.smoke:
            native = next(r for r in results if r["lib"] == "native" and "curve" in r)
            best = max(p["recall"] for p in native["curve"])
            assert best >= 0.95, f"smoke: native recall@10 {best}"
            for key in ("filter_10pct", "filter_1pct", "after_delete_10pct"):
                assert native[key]["all_valid"], f"smoke: invalid results in {key}"
                assert native[key]["recall"] >= 0.9, f"smoke: {key} recall {native[key]['recall']}"
            for r in results:
                if r["lib"] == "native_i8store" and "curve" in r:
                    best = max(p["recall"] for p in r["curve"])
                    assert best >= 0.9, f"smoke: int8-storage recall@10 {best}"
                    assert r["after_delete_10pct"]["all_valid"], "smoke: int8 storage returned deleted items"


if __name__ == "__main__":
    main()
