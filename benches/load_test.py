#!/usr/bin/env python3
"""Load test of the service examples with wrk over loopback: throughput and p50/p95/p99 of
GET /recommend/<user> (k 10) at cache-friendly (Zipf, exponent 1) and cache-hostile
(uniform) traffic, for the FastAPI service (uvicorn, 2 workers) and the Node service
(cluster, 2 workers).

The catalog: 50,000 items × 32 (seeded clusters), 20,000 users × 10 interactions, ALS 32
factors, saved once and opened read-only by every worker. wrk: 2 threads, 32 connections,
20 s per run, on the same machine as the service (so they share its cores).

    python benches/load_test.py [--seconds 20] [--out benches/results]    # needs wrk
"""
import argparse, json, os, platform, re, shutil, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

import numpy as np

import embedrec

ROOT = Path(__file__).resolve().parents[1]
USERS = 20_000


def build(path):
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(50, 32))
    g = np.arange(50_000) % 50
    e = embedrec.Engine(32)
    e.upsert_items(np.arange(50_000), (centres[g] + 0.5 * rng.normal(size=(50_000, 32))).astype(np.float32),
                   tags=[[f"genre{c % 8}"] for c in g])
    users = np.repeat(np.arange(USERS), 10)
    e.add_interactions(users, (rng.integers(0, 1000, users.size) * 50 + users % 50) % 50_000)
    e.fit("als", factors=32, iterations=5, show_progress=False)
    e.save(path)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(kind, path, port):
    env = {**os.environ, "EMBEDREC_PATH": str(path), "PORT": str(port), "WORKERS": "2"}
    cwd = ROOT / "examples" / "services"
    if kind == "fastapi":
        cmd = [sys.executable, "-m", "uvicorn", "service:app", "--workers", "2", "--port", str(port), "--log-level", "warning",
               "--no-access-log"]
    else:
        modules = Path(tempfile.mkdtemp()) / "node_modules"
        modules.mkdir()
        (modules / "embedrec").symlink_to(ROOT / "node")
        env["NODE_PATH"] = str(modules)
        cmd = ["node", "service.js"]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/recommend/1", timeout=2).read()
            return proc
        except OSError:
            time.sleep(0.2)
    os.killpg(proc.pid, 9)
    raise RuntimeError(f"{kind} service did not start")


def wrk(port, dist, seconds):
    script = ROOT / "benches" / "load" / "users.lua"
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "--timeout", "5s", "-s", str(script), f"http://127.0.0.1:{port}"],
                         env={**os.environ, "USERS": str(USERS), "DIST": dist}, capture_output=True, text=True, check=True).stdout
    return json.loads(re.findall(r"^\{.*\}$", out, re.M)[-1])


def cache_hit_rate(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return [float(v) for v in re.findall(r"^embedrec_cache_hit_rate\{[^}]*\} (\S+)$", text, re.M)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--out", default="benches/results")
    a = ap.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    path = Path(tempfile.mkdtemp()) / "catalog.embedrec"
    build(path)
    res = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
           "wrk": "2 threads, 32 connections", "seconds": a.seconds, "users": USERS, "runs": []}
    for kind in ["fastapi", "node"]:
        port = free_port()
        proc = start(kind, path, port)
        try:
            for dist in ["zipf", "uniform"]:
                r = wrk(port, dist, a.seconds)
                r.update(service=kind, traffic=dist, cache_hit_rate_per_worker=cache_hit_rate(port))
                res["runs"].append(r)
                print(r, flush=True)
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.json").write_text(json.dumps(res, indent=1))
    lines = ["# Load test: the service examples under wrk", "",
             f"{res['date']}, {res['machine']} (wrk and the service share the cores). Catalog 50,000 × 32, "
             f"{USERS:,} users, ALS 32; GET /recommend/<user>?k=10; wrk {res['wrk']}, {a.seconds} s per run; "
             "2 service workers, one engine thread each. `python benches/load_test.py`.", "",
             "| service | traffic | requests/s | p50 ms | p95 ms | p99 ms | errors | cache hit rate per worker (after the run) |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in res["runs"]:
        hits = ", ".join(f"{h:.2f}" for h in r["cache_hit_rate_per_worker"])
        lines.append(f"| {r['service']} | {r['traffic']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['p99_ms']:.2f} | {r['errors'] + r['non_2xx']} | {hits} |")
    lines += ["", "Zipf traffic concentrates on popular users, whose results stay in each worker's LRU result cache; "
              f"uniform traffic spreads over all {USERS:,} users, so fewer of its requests hit. The hit rate is cumulative "
              "since the worker started (the Zipf run came first) and is the one worker's that the /metrics scrape reached.", ""]
    (out / "load.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
