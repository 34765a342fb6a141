#!/usr/bin/env python3
"""embedrec's collaborative models against implicit (ALS), hnswlib (search over the same
kind of factors) and numpy (EASE), measured in the same run.

Datasets: ``synthetic`` — power-law interactions (item popularity Zipf-like, user activity
log-normal, play-count weights) generated from a fixed seed; ``movielens`` — MovieLens
latest-small (``$EMBEDREC_MOVIELENS`` or ``../shared/data/movielens-latest-small``).

Measured, with CPU seconds taken from the process (all threads) and wall seconds:

- ALS fit at equal settings (factors, iterations, regularization, alpha, linear
  confidence; 2 threads each) — embedrec's includes building its factor index;
- uncached ``recommend`` on one thread: p50/p90 latency over random users, for embedrec,
  hnswlib searching implicit's item factors (space "ip", k widened by the user's history to
  drop seen items) and implicit's own exact ``recommend``; recall@10 of embedrec against the
  exact ranking of its own factors (numpy), seen items excluded; ``similar`` likewise
  (cosine between item factors);
- all-users batch scoring (k = 10, seen items excluded, 2 threads): embedrec's
  ``recommend_batch`` against implicit's ``recommend`` with every user id;
- EASE fit (MovieLens) against numpy/LAPACK (Gram matrix, inverse, scaling).

Writes ``<out>/<dataset>-models.json`` and a markdown table ``<out>/<dataset>-models.md``.

    pip install implicit hnswlib numpy scipy threadpoolctl ./python
    python benches/compare_models.py --dataset synthetic           # 100k x 100k x 5M
    python benches/compare_models.py --dataset movielens --ease
    python benches/compare_models.py --smoke                       # tiny, for CI
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import time
from pathlib import Path

import numpy as np


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Timer:
    def __enter__(self):
        self.c, self.w = cpu(), time.perf_counter()
        return self

    def __exit__(self, *a):
        self.cpu, self.wall = cpu() - self.c, time.perf_counter() - self.w


def synthetic(users: int, items: int, interactions: int, seed: int = 7):
    """Power-law log: item i drawn with probability ~ 1/(rank+10)^0.9 (a random rank per
    item), users' activity log-normal, weights play counts (1 + geometric)."""
    rng = np.random.default_rng(seed)
    rank = rng.permutation(items)
    p = 1.0 / (rank + 10.0) ** 0.9
    p /= p.sum()
    activity = rng.lognormal(0.0, 1.0, users)
    activity /= activity.sum()
    u = rng.choice(users, size=interactions, p=activity)
    i = rng.choice(items, size=interactions, p=p)
    # Users keep to a taste: half of each user's picks come from a block of related items.
    block = (u * 7919) % max(items // 200, 1)
    local = rng.random(interactions) < 0.5
    i[local] = (block[local] * 200 + (i[local] % 200)) % items
    w = 1.0 + rng.geometric(0.3, interactions).astype(np.float32)
    return u.astype(np.int64), i.astype(np.int64), w.astype(np.float32)


def movielens():
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-latest-small"
    root = Path(os.environ.get("EMBEDREC_MOVIELENS", default))
    data = np.genfromtxt(root / "ratings.csv", delimiter=",", skip_header=1)
    u, i, r = data[:, 0].astype(np.int64), data[:, 1].astype(np.int64), data[:, 2].astype(np.float32)
    return u, i, r


def csr(u, i, w, n_users, n_items):
    import scipy.sparse as sp

    m = sp.csr_matrix((w, (u, i)), shape=(n_users, n_items), dtype=np.float32)
    m.sum_duplicates()
    return m


def percentiles(xs):
    a = np.array(xs) * 1e3
    return {"p50_ms": float(np.percentile(a, 50)), "p90_ms": float(np.percentile(a, 90))}


def run(args) -> dict:
    import embedrec
    import implicit
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    started = time.perf_counter()
    if args.dataset == "movielens":
        u, i, w = movielens()
    else:
        u, i, w = synthetic(args.users, args.items, args.interactions)
    # Dense ids for the peers; embedrec takes the raw integer ids.
    uu, u_dense = np.unique(u, return_inverse=True)
    ii, i_dense = np.unique(i, return_inverse=True)
    n_users, n_items = len(uu), len(ii)
    m = csr(u_dense, i_dense, w, n_users, n_items)
    out = {
        "dataset": args.dataset,
        "users": n_users,
        "items": n_items,
        "interactions": int(m.nnz),
        "factors": args.factors,
        "iterations": args.iterations,
        "threads": args.threads,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "date": datetime.date.today().isoformat(),
        "versions": {"embedrec": embedrec.__version__ if hasattr(embedrec, "__version__") else "dev",
                     "implicit": implicit.__version__, "numpy": np.__version__},
    }
    params = dict(factors=args.factors, iterations=args.iterations, regularization=0.01, alpha=1.0)

    # ---- ALS fit
    from implicit.cpu.als import AlternatingLeastSquares

    peer = AlternatingLeastSquares(
        factors=args.factors, iterations=args.iterations, regularization=0.01, alpha=1.0,
        num_threads=args.threads, calculate_training_loss=False, random_state=42,
    )
    # implicit asks for a single-threaded BLAS (its own threads do the work).
    with threadpool_limits(1, "blas"), Timer() as t:
        peer.fit(m, show_progress=False)
    out["implicit_fit"] = {"cpu_s": t.cpu, "wall_s": t.wall}
    e = embedrec.Engine(dim=0, threads=args.threads, cache_capacity=0)
    with Timer() as t:
        e.add_interactions(u, i, weights=w)
    out["embedrec_load"] = {"cpu_s": t.cpu, "wall_s": t.wall}
    with Timer() as t:
        report = e.fit("als", confidence="linear", show_progress=False, **params)
    out["embedrec_fit"] = {"cpu_s": t.cpu, "wall_s": t.wall, "index_wall_s": report["index_seconds"]}
    # The factor graphs alone: installing the trained factors again builds just them (and the
    # small Gram matrix), so the training's own CPU time is the difference.
    item_ids, Y = e.item_factors()
    user_ids, X = e.user_factors()
    with Timer() as t:
        e.install_factors(item_ids, Y, user_ids, X, confidence="linear", regularization=0.01)
    out["embedrec_index"] = {"cpu_s": t.cpu, "wall_s": t.wall}

    # ---- single recommend, one thread
    rng = np.random.default_rng(1)
    sample = rng.choice(n_users, size=min(args.queries, n_users), replace=False)
    e.set_threads(1)
    lat = []
    c0 = cpu()
    for du in sample:
        t0 = time.perf_counter()
        e.recommend(int(uu[du]), k=10)
        lat.append(time.perf_counter() - t0)
    out["embedrec_recommend"] = percentiles(lat) | {"cpu_ms_per_query": (cpu() - c0) * 1e3 / len(sample)}

    import hnswlib

    yf = np.ascontiguousarray(peer.item_factors, dtype=np.float32)
    xf = np.ascontiguousarray(peer.user_factors, dtype=np.float32)
    index = hnswlib.Index(space="ip", dim=yf.shape[1])
    index.init_index(max_elements=n_items, M=16, ef_construction=200)
    index.set_num_threads(args.threads)
    with Timer() as t:
        index.add_items(yf, np.arange(n_items))
    out["hnswlib_build"] = {"cpu_s": t.cpu, "wall_s": t.wall}
    index.set_num_threads(1)
    index.set_ef(64)
    lat = []
    c0 = cpu()
    for du in sample:
        seen = m.indices[m.indptr[du]:m.indptr[du + 1]]
        t0 = time.perf_counter()
        labels, _ = index.knn_query(xf[du], k=min(10 + len(seen), n_items))
        kept = [x for x in labels[0] if x not in set(seen)][:10]
        lat.append(time.perf_counter() - t0)
        del kept
    out["hnswlib_recommend"] = percentiles(lat) | {"cpu_ms_per_query": (cpu() - c0) * 1e3 / len(sample)}
    lat = []
    with threadpool_limits(1):
        c0 = cpu()
        for du in sample[: min(len(sample), 300)]:
            t0 = time.perf_counter()
            peer.recommend(int(du), m[int(du)], N=10, filter_already_liked_items=True)
            lat.append(time.perf_counter() - t0)
        out["implicit_recommend"] = percentiles(lat) | {"cpu_ms_per_query": (cpu() - c0) * 1e3 / len(lat)}

    # ---- recall against the exact ranking of embedrec's own factors
    item_ids, Y = e.item_factors()
    user_ids, X = e.user_factors()
    row_of_item = {x: r for r, x in enumerate(item_ids)}
    row_of_user = {x: r for r, x in enumerate(user_ids)}
    # A returned item counts when its exact score reaches the exact 10th best (ties count).
    rec_hits = sim_hits = 0
    checked = sample[: min(len(sample), 300)]
    Yn = Y / np.maximum(np.linalg.norm(Y, axis=1, keepdims=True), 1e-30)
    for du in checked:
        uid = int(uu[du])
        s = Y @ X[row_of_user[uid]]
        seen = [row_of_item[int(ii[j])] for j in m.indices[m.indptr[du]:m.indptr[du + 1]] if int(ii[j]) in row_of_item]
        s[seen] = -np.inf
        kth = -np.partition(-s, 9)[9]
        rec_hits += sum(sc >= kth - 1e-5 * abs(kth) for _, sc in e.recommend(uid, k=10))
        target = row_of_item[item_ids[int(rng.integers(len(item_ids)))]]
        c = Yn @ Yn[target]
        c[target] = -np.inf
        kth = -np.partition(-c, 9)[9]
        sim_hits += sum(sc >= kth - 1e-5 for _, sc in e.similar(item_ids[target], k=10))
    out["embedrec_recall_at_10"] = {"recommend": rec_hits / (10 * len(checked)), "similar": sim_hits / (10 * len(checked))}
    lat = []
    for target in rng.choice(len(item_ids), size=len(sample)):
        t0 = time.perf_counter()
        e.similar(item_ids[int(target)], k=10)
        lat.append(time.perf_counter() - t0)
    out["embedrec_similar"] = percentiles(lat)

    # ---- all users, batch
    e.set_threads(args.threads)
    all_users = [int(x) for x in uu]
    with Timer() as t:
        e.recommend_batch(all_users, k=10)
    out["embedrec_batch"] = {"cpu_s": t.cpu, "wall_s": t.wall, "users_per_s": n_users / t.wall}
    with threadpool_limits(args.threads), Timer() as t:
        peer.recommend(np.arange(n_users), m, N=10, filter_already_liked_items=True)
    out["implicit_batch"] = {"cpu_s": t.cpu, "wall_s": t.wall, "users_per_s": n_users / t.wall}

    # ---- EASE
    if args.ease:
        lam = 200.0
        with Timer() as t:
            X = m.copy()
            X.data[:] = 1.0
            G = (X.T @ X).toarray().astype(np.float64)
            G[np.diag_indices_from(G)] += lam
            P = np.linalg.inv(G)
            B = P / (-np.diag(P))
            B[np.diag_indices_from(B)] = 0.0
        out["numpy_ease"] = {"cpu_s": t.cpu, "wall_s": t.wall}
        with Timer() as t:
            e.fit("ease", regularization=lam, show_progress=False)
        out["embedrec_ease"] = {"cpu_s": t.cpu, "wall_s": t.wall}
    out["seconds"] = time.perf_counter() - started
    return out


def table(r: dict) -> str:
    f = lambda x: f"{x:.3g}"  # noqa: E731
    train = r["embedrec_fit"]["wall_s"] - r["embedrec_fit"]["index_wall_s"]
    rows = [
        f"# {r['dataset']}: {r['users']:,} users × {r['items']:,} items × {r['interactions']:,} interactions",
        "",
        f"{r['machine']}, {r['date']}; implicit {r['versions']['implicit']}, numpy {r['versions']['numpy']};"
        f" ALS {r['factors']} factors, {r['iterations']} iterations, {r['threads']} threads.",
        "",
        "| measure | embedrec | peer | ratio |",
        "|---|---|---|---|",
        f"| ALS fit with factor index, CPU s (implicit fit) | {f(r['embedrec_fit']['cpu_s'])} | {f(r['implicit_fit']['cpu_s'])} | {f(r['embedrec_fit']['cpu_s'] / r['implicit_fit']['cpu_s'])} |",
        f"| ALS fit with factor index, wall s (implicit fit) | {f(r['embedrec_fit']['wall_s'])} | {f(r['implicit_fit']['wall_s'])} | {f(r['embedrec_fit']['wall_s'] / r['implicit_fit']['wall_s'])} |",
        f"| ALS fit with factor index, CPU s (implicit fit + hnswlib build) | {f(r['embedrec_fit']['cpu_s'])} | {f(r['implicit_fit']['cpu_s'] + r['hnswlib_build']['cpu_s'])} | {f(r['embedrec_fit']['cpu_s'] / (r['implicit_fit']['cpu_s'] + r['hnswlib_build']['cpu_s']))} |",
        f"| ALS training alone, wall s (implicit fit) | {f(train)} | {f(r['implicit_fit']['wall_s'])} | {f(train / r['implicit_fit']['wall_s'])} |",
    ]
    if "embedrec_index" in r:
        cpu_train = r["embedrec_fit"]["cpu_s"] - r["embedrec_index"]["cpu_s"]
        rows.append(
            f"| ALS training alone, CPU s (implicit fit) | {f(cpu_train)} | {f(r['implicit_fit']['cpu_s'])} | {f(cpu_train / r['implicit_fit']['cpu_s'])} |"
        )
    rows += [
        f"| factor index build, wall s (hnswlib build, 1 graph) | {f(r['embedrec_fit']['index_wall_s'])} | {f(r['hnswlib_build']['wall_s'])} | {f(r['embedrec_fit']['index_wall_s'] / r['hnswlib_build']['wall_s'])} |",
        f"| recommend p50 ms, 1 thread (hnswlib on implicit factors) | {f(r['embedrec_recommend']['p50_ms'])} | {f(r['hnswlib_recommend']['p50_ms'])} | {f(r['embedrec_recommend']['p50_ms'] / r['hnswlib_recommend']['p50_ms'])} |",
        f"| recommend p50 ms, 1 thread (implicit exact) | {f(r['embedrec_recommend']['p50_ms'])} | {f(r['implicit_recommend']['p50_ms'])} | {f(r['embedrec_recommend']['p50_ms'] / r['implicit_recommend']['p50_ms'])} |",
        f"| recommend CPU ms/query (hnswlib) | {f(r['embedrec_recommend']['cpu_ms_per_query'])} | {f(r['hnswlib_recommend']['cpu_ms_per_query'])} | {f(r['embedrec_recommend']['cpu_ms_per_query'] / r['hnswlib_recommend']['cpu_ms_per_query'])} |",
        f"| recall@10 vs exact: recommend / similar | {f(r['embedrec_recall_at_10']['recommend'])} / {f(r['embedrec_recall_at_10']['similar'])} | | |",
        f"| similar p50 ms, 1 thread | {f(r['embedrec_similar']['p50_ms'])} | | |",
        f"| all users, users/s, {r['threads']} threads (implicit) | {f(r['embedrec_batch']['users_per_s'])} | {f(r['implicit_batch']['users_per_s'])} | {f(r['embedrec_batch']['users_per_s'] / r['implicit_batch']['users_per_s'])} |",
    ]
    if "numpy_ease" in r:
        rows.append(
            f"| EASE fit, CPU s (numpy) | {f(r['embedrec_ease']['cpu_s'])} | {f(r['numpy_ease']['cpu_s'])} | {f(r['embedrec_ease']['cpu_s'] / r['numpy_ease']['cpu_s'])} |"
        )
        rows.append(
            f"| EASE fit, wall s (numpy) | {f(r['embedrec_ease']['wall_s'])} | {f(r['numpy_ease']['wall_s'])} | {f(r['embedrec_ease']['wall_s'] / r['numpy_ease']['wall_s'])} |"
        )
    return "\n".join(rows) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=["synthetic", "movielens"], default="synthetic")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--interactions", type=int, default=5_000_000)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--ease", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny synthetic run (CI)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--table", metavar="JSON", help="only print the table of a saved result")
    args = ap.parse_args()
    if args.table:
        print(table(json.loads(Path(args.table).read_text())))
        return
    if args.smoke:
        args.users, args.items, args.interactions, args.queries = 2000, 3000, 40_000, 100
        args.factors, args.iterations, args.ease = 16, 3, True
    r = run(args)
    md = table(r)
    print(md)
    if not args.smoke:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{args.dataset}-models.json").write_text(json.dumps(r, indent=2))
        (out / f"{args.dataset}-models.md").write_text(md)


if __name__ == "__main__":
    main()
