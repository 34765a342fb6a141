#!/usr/bin/env python3
"""Query speed of a read-only (memory-mapped) engine against the same file loaded into
memory, in one process: both are warmed up (2,000 queries; the mapped one also `verify()`,
which reads every page), then rounds of 2,000 fresh single-thread k=10 searches alternate
between them (each round's queries are new, so the result cache never answers).

    python benches/replica_qps.py /tmp/replicas-XXXX/e.embedrec   # a file replicas.py saved
"""
import sys, time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from replicas import data  # the same vectors and queries as the replica benchmark

import embedrec


def main():
    path, rounds = sys.argv[1], 6
    m = embedrec.Engine.open(path, read_only=True)
    h = embedrec.Engine.load(path)
    _, q = data(len(h))
    for e in (m, h):
        e.set_threads(1)
        for v in q:
            e.search(v, k=10)
    m.verify()
    qps = {"mapped": [], "loaded": []}
    rng = np.random.default_rng(1)
    for r in range(rounds):
        fresh = (q + 0.01 * rng.normal(size=q.shape)).astype(np.float32)
        order = [("mapped", m), ("loaded", h)][:: 1 if r % 2 == 0 else -1]
        for name, e in order:
            t = time.perf_counter()
            for v in fresh:
                e.search(v, k=10)
            qps[name].append(len(fresh) / (time.perf_counter() - t))
    med = {k: float(np.median(v)) for k, v in qps.items()}
    print(f"QPS per round: {({k: [round(x) for x in v] for k, v in qps.items()})}")
    print(f"median: mapped {med['mapped']:,.0f}, loaded {med['loaded']:,.0f}, "
          f"ratio {med['mapped'] / med['loaded']:.2f}")


if __name__ == "__main__":
    main()
