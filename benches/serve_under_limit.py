#!/usr/bin/env python3
"""Saved indexes served by a fresh process under a memory limit (a Linux memory cgroup).

A replica that opens an embedrec file read-only keeps only what it walks in private memory;
the f32 rows the compressed indexes re-score stay in the mapped file, i.e. in the page cache,
which the kernel drops when memory runs short. This measures what that costs: each index of
``compare_hnswlib.py`` is built once (2 threads) and saved, then for every limit the page
cache is dropped, a cgroup with that limit is made, and ``compare_hnswlib.py --serve`` opens
the file inside it and runs the query curve (embedrec: ``Engine.open(path, read_only=True)``;
hnswlib: ``load_index``). A process the kernel kills for want of memory is reported as such.

Needs root and a writable memory cgroup (v1 ``/sys/fs/cgroup/memory`` or v2 with the memory
controller); exits with a message otherwise.

    python benches/serve_under_limit.py --dataset ip-768 --libs hnswlib,native,native_int8,native_1bit \
        --limits-mb 0,400,200,120

Outputs ``<out>/<dataset>-limits.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare_hnswlib as bench  # noqa: E402

V1 = Path("/sys/fs/cgroup/memory")
V2 = Path("/sys/fs/cgroup/unified")


def make_cgroup(limit_mb: int) -> Path:
    """A fresh memory cgroup limited to ``limit_mb`` MB (swap included where v1 allows)."""
    name = f"embedrec-serve-{os.getpid()}-{limit_mb}"
    if (V1 / "memory.limit_in_bytes").exists():
        g = V1 / name
        g.mkdir()
        (g / "memory.limit_in_bytes").write_text(str(limit_mb << 20))
        sw = g / "memory.memsw.limit_in_bytes"
        if sw.exists():
            sw.write_text(str(limit_mb << 20))
        return g
    if "memory" in (V2 / "cgroup.controllers").read_text():
        g = V2 / name
        g.mkdir()
        (g / "memory.max").write_text(str(limit_mb << 20))
        (g / "memory.swap.max").write_text("0")
        return g
    raise SystemExit("no writable memory cgroup")


def drop_caches():
    os.sync()
    Path("/proc/sys/vm/drop_caches").write_text("1")


def serve(lib, dataset, path, data_dir, efs, limit_mb, timeout_s):
    """Runs ``compare_hnswlib.py --serve`` in a cgroup of ``limit_mb`` (0: no limit), for at
    most ``timeout_s`` seconds."""
    drop_caches()
    group = make_cgroup(limit_mb) if limit_mb else None
    cmd = [sys.executable, bench.__file__, "--serve", lib, dataset, path, "--efs", ",".join(map(str, efs)),
           "--data-dir", str(data_dir)]

    def enter():
        if group is not None:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=enter, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"lib": lib, "limit_mb": limit_mb, "wall_s": time.perf_counter() - t, "returncode": None,
                "error": f"not done in {timeout_s} s (stopped)"}
    finally:
        if group is not None:
            for _ in range(50):  # the killed process leaves the group asynchronously
                try:
                    group.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
    out = {"lib": lib, "limit_mb": limit_mb, "wall_s": time.perf_counter() - t, "returncode": p.returncode}
    if p.returncode == 0:
        out.update(json.loads(p.stdout.strip().splitlines()[-1]))
    else:
        out["error"] = "killed (out of memory)" if p.returncode in (-9, 137) else p.stderr[-500:]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="ip-768")
    ap.add_argument("--libs", default="hnswlib,native,native_int8,native_1bit")
    ap.add_argument("--limits-mb", default="0,400,200,120", help="0 = no limit")
    ap.add_argument("--efs", default="64,128")
    ap.add_argument("--timeout", type=int, default=120, help="seconds per served process")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "limits"))
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parent.parent / "target" / "bench-data"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (cgroups, drop_caches)")
    efs = [int(x) for x in a.efs.split(",")]
    limits = [int(x) for x in a.limits_mb.split(",")]
    data_dir = Path(a.data_dir)
    bench.generate(a.dataset, data_dir)
    n, dim, _, metric, _ = bench.DATASETS[a.dataset]
    items = bench.np.load(data_dir / a.dataset / "items.npy")
    rows = []
    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        for lib in a.libs.split(","):
            r = bench.make_runner(lib, metric, dim, 2)
            r.prepare(n)
            r.build(items)
            path = os.path.join(tmp, f"{lib}.bin")
            r.save(path)
            del r
            size_mb = os.path.getsize(path) / 1e6
            for limit in limits:
                row = serve(lib, a.dataset, path, data_dir, efs, limit, a.timeout)
                row["file_size_mb"] = size_mb
                print(json.dumps(row), file=sys.stderr)
                rows.append(row)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{a.dataset}-limits.json").write_text(json.dumps(rows, indent=1))
    lines = [
        f"# {a.dataset}: saved indexes served under a memory limit",
        "",
        f"Machine: {bench.machine_line()}. Each index built with 2 threads and saved; per limit the "
        "page cache is dropped and a fresh process in a memory cgroup of that size opens the file "
        "(embedrec read-only and memory-mapped, hnswlib `load_index`) and runs 1,000 single-thread "
        "queries per ef (median of 3 passes after a 100-query warm-up). Memory: private (RssAnon) "
        "and mapped-file pages (RssFile) after the queries.",
        "",
        "| index | file MB | limit | " + " | ".join(f"ef {ef} recall / QPS" for ef in efs) + " | private MB | file pages MB | wall s |",
        "|---|---|---|" + "---|" * len(efs) + "---|---|---|",
    ]
    for row in rows:
        limit = f"{row['limit_mb']} MB" if row["limit_mb"] else "none"
        if row["returncode"] != 0:
            cells = [row["error"]] + [""] * (len(efs) - 1) + ["", "", f"{row['wall_s']:.0f}"]
        else:
            cells = [f"{c['recall']:.4f} / {c['qps']:,.0f}" for c in row["curve"]]
            cells += [f"{row['anon_mb']:.0f}", f"{row['file_mb']:.0f}", f"{row['wall_s']:.0f}"]
        lines.append(f"| {bench.lib_label(row['lib'])} | {row['file_size_mb']:.0f} | {limit} | " + " | ".join(cells) + " |")
    (out / f"{a.dataset}-limits.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
