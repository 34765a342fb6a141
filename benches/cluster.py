#!/usr/bin/env python3
"""Scoring every user of a saved engine: one process against Spark local[2] and Ray (2 workers).

One engine (200k items × 64, seeded clustered vectors; 50k users × 20 interactions; ALS 64
factors, 6 iterations) is saved once, and split into 2 item shards. Then every user is
scored (k = 10, seen items excluded):

1. One process: ``Engine.open(path, read_only=True)`` with 2 threads, ``recommend_batch`` of
   all users (the reference every other path is compared with, id for id).
2. Spark ``local[2]``: ``embedrec.spark.recommend`` over a DataFrame of the user ids (2
   partitions), written to Spark's ``noop`` sink; twice (the second run reuses the Python
   workers, which keep the engine open).
3. Ray (``num_cpus=2``): ``embedrec.ray.recommend`` with 2 actors; twice.
4. The same through the 2-shard set (Spark and one process).

Memory per worker: the peak PSS (``/proc/PID/smaps_rollup``) of each Python worker process
(Spark's ``pyspark.daemon`` children, Ray's actors), sampled every 50 ms. The engine's
pages are the page cache's, shared by the workers, so PSS splits them between processes.

    python benches/cluster.py [--items 200000] [--users 50000] [--out benches/results]
"""
import argparse, json, os, platform, sys, tempfile, threading, time
from pathlib import Path

import numpy as np

import embedrec


NOTE = ("Worker PSS: Spark's list holds every `pyspark.daemon` process (the daemon and idle workers are the small ones; the two large ones scored), Ray's the actors (a second run starts new actors). The engine file's pages are shared: PSS splits them between the processes that map them (the driver included), so two workers cost the file's size once, not twice. Spark and Ray run one engine thread per task or actor; the one-process runs use 2 threads.")


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Sampler:
    """Peak PSS of the processes whose command line matches ``pattern``, by pid."""

    def __init__(self, patterns):
        self.patterns, self.peak, self.stop = patterns, {}, threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            for pid in filter(str.isdigit, os.listdir("/proc")):
                cl = cmdline(pid)
                if any(p in cl for p in self.patterns):
                    kb = pss_kb(pid)
                    if kb:
                        self.peak[pid] = max(self.peak.get(pid, 0), kb)
            time.sleep(0.05)

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.t.join()

    def workers_mb(self):
        return sorted(round(v / 1024, 1) for v in self.peak.values())


def build(n_items, n_users, out_dir):
    rng = np.random.default_rng(11)
    centres = rng.normal(size=(64, 64)).astype(np.float32)
    g = rng.integers(0, 64, n_items)
    v = (centres[g] + 0.5 * rng.normal(size=(n_items, 64))).astype(np.float32)
    e = embedrec.Engine(64, threads=2)
    e.upsert_items(np.arange(n_items), v)
    users = np.repeat(np.arange(n_users), 20)
    taste = rng.integers(0, 64, n_users)
    pick = np.where(rng.random(users.size) < 0.7, taste[users], rng.integers(0, 64, users.size))
    by_cluster = [np.flatnonzero(g == c) for c in range(64)]
    items = np.array([by_cluster[c][rng.integers(0, len(by_cluster[c]))] for c in pick])
    e.add_interactions(users, items)
    e.fit("als", factors=64, iterations=6, show_progress=False)
    path = out_dir / "engine.embedrec"
    e.save(path)
    shards = embedrec.ShardedEngine.split_to(e, 2, out_dir / "shards")
    return path, shards


def timed(f):
    t0, c0 = time.perf_counter(), time.process_time()
    r = f()
    return r, time.perf_counter() - t0, time.process_time() - c0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=200_000)
    ap.add_argument("--users", type=int, default=50_000)
    ap.add_argument("--out", default="benches/results")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="embedrec-cluster-"))
    (path, shards), build_s, _ = timed(lambda: build(a.items, a.users, tmp))
    users = list(range(a.users))
    res = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.platform()}",
           "date": time.strftime("%Y-%m-%d"), "items": a.items, "users": a.users, "k": 10, "build_s": round(build_s, 1),
           "file_mb": round(os.path.getsize(path) / 2**20, 1), "runs": []}

    def record(name, seconds, check=None, workers=None, cpu=None):
        row = {"path": name, "seconds": round(seconds, 2), "users_per_s": round(a.users / seconds)}
        if cpu is not None:
            row["driver_cpu_s"] = round(cpu, 2)
        if workers is not None:
            row["worker_pss_mb"] = workers
        if check is not None:
            row["equal_to_one_process"] = check
        res["runs"].append(row)
        print(row, flush=True)

    one = embedrec.Engine.open(path, read_only=True)
    one.set_threads(2)
    (ids, _), s, c = timed(lambda: one.recommend_batch(users, k=10))
    want = {u: [i for i in row if i is not None] for u, row in zip(users, ids)}
    record("one process, recommend_batch (2 threads)", s, cpu=c)
    set_ = embedrec.ShardedEngine.open(shards, threads=2)
    (ids2, _), s, c = timed(lambda: set_.recommend_batch(users, k=10))
    same = all([i for i in r if i is not None] == want[u] for u, r in zip(users, ids2))
    record("one process, 2-shard set recommend_batch (2 threads)", s, same, cpu=c)

    from pyspark.sql import SparkSession

    from embedrec import spark as es

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", "5000").getOrCreate())
    df = spark.createDataFrame([(u,) for u in users], "user_id long").repartition(2).cache()
    df.count()
    for source, label in [(path, "file"), (shards, "2-shard set")]:
        for run in ("first", "second"):
            with Sampler(["pyspark.daemon", "pyspark/daemon", "pyspark.worker"]) as smp:
                _, s, _ = timed(lambda: es.recommend(df, source, k=10).write.format("noop").mode("overwrite").save())
            record(f"Spark local[2], {label}, {run} run", s, workers=smp.workers_mb())
    got = {r["user_id"]: list(r["items"]) for r in es.recommend(df, path, k=10).collect()}
    res["spark_equal_to_one_process"] = all(got[u] == want[u] for u in users)
    spark.stop()

    import ray
    import ray.data

    from embedrec import ray as er

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ds = ray.data.from_items([{"user_id": u} for u in users], override_num_blocks=10).materialize()
    for run in ("first", "second"):
        with Sampler(["ray::MapWorker", "ray::_MapWorker", "MapBatches"]) as smp:
            out, s, _ = timed(lambda: er.recommend(ds, path, k=10, concurrency=2).materialize())
        record(f"Ray Data, 2 actors, {run} run", s, workers=smp.workers_mb())
    got = {r["user_id"]: list(r["items"]) for r in out.take_all()}
    res["ray_equal_to_one_process"] = all(got[u] == want[u] for u in users)
    ray.shutdown()

    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "cluster.json").write_text(json.dumps(res, indent=1))
    lines = [f"# Scoring every user: one process, Spark local[2], Ray (2 actors)", "",
             f"{res['date']}, {res['machine']}. Engine: {a.items:,} items × 64, {a.users:,} users × 20 "
             f"interactions, ALS 64 factors (file {res['file_mb']} MB); k = 10, seen items excluded. "
             "`python benches/cluster.py`.", "",
             "| path | seconds | users/s | worker PSS (MB, peak per process) |", "|---|---:|---:|---|"]
    for r in res["runs"]:
        lines.append(f"| {r['path']} | {r['seconds']} | {r['users_per_s']:,} | {', '.join(map(str, r.get('worker_pss_mb', []))) or '—'} |")
    lines += ["", f"Spark's output equals the one process's id for id: {res['spark_equal_to_one_process']}; "
              f"Ray's: {res['ray_equal_to_one_process']}; the 2-shard set's: {res['runs'][1].get('equal_to_one_process')}.", "",
              NOTE, ""]
    (out_dir / "cluster.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
