#!/usr/bin/env python3
"""Peak memory of an ALS fit on 20M interactions (500k users x 100k items, power-law log
from compare_models.py), one library per process: implicit (a CSR matrix, then fit) or
embedrec (add_interactions with integer ids, then fit with its factor graphs). Prints the
peak resident memory above the generated log (Linux: the peak is reset after generating).

    python benches/memory_20m.py implicit
    python benches/memory_20m.py embedrec
"""
import sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from compare_models import synthetic, csr
lib = sys.argv[1]
u, i, w = synthetic(500_000, 100_000, 20_000_000)
import gc

gc.collect()
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1e6
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1e6
open("/proc/self/clear_refs", "w").write("5")  # reset the peak to the current RSS
base = rss()
t = time.perf_counter()
if lib == "implicit":
    from threadpoolctl import threadpool_limits
    from implicit.cpu.als import AlternatingLeastSquares
    m = csr(u, i, w, 500_000, 100_000)
    with threadpool_limits(1, "blas"):
        AlternatingLeastSquares(factors=64, iterations=15, regularization=0.01, alpha=1.0, num_threads=2,
                                calculate_training_loss=False, random_state=42).fit(m, show_progress=False)
else:
    import embedrec
    e = embedrec.Engine(dim=0, threads=2, cache_capacity=0)
    e.add_interactions(u, i, weights=w)
    e.fit("als", factors=64, iterations=15, confidence="linear", show_progress=False)
peak = hwm()
print(f"{lib}: peak RSS {peak:.2f} GB, {peak - base:.2f} GB above the generated log ({base:.2f} GB), {time.perf_counter() - t:.0f} s")
