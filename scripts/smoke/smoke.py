"""Smoke test of an installed embedrec wheel: the calls a first-time user makes.

Run by scripts/test-packages.sh in a fresh virtual environment with no Rust toolchain on
PATH; exits non-zero on any failure.
"""

import os
import shutil
import sys
import tempfile

import numpy as np

import embedrec

assert shutil.which("cargo") is None and shutil.which("rustc") is None, "Rust must not be on PATH"
assert "site-packages" in embedrec.__file__, embedrec.__file__

rng = np.random.default_rng(7)
ids = [f"track-{i}" for i in range(500)]
engine = embedrec.Engine(16, metric="cosine")
engine.upsert_items(ids, rng.standard_normal((500, 16)).astype(np.float32), tags=[["rock"] if i % 2 else ["jazz"] for i in range(500)])
hits = engine.similar("track-1", k=5, filter={"tags_any": ["rock"]}, with_metadata=True)
assert len(hits) == 5 and all(meta["tags"] == ["rock"] for _, _, meta in hits)
users = [f"u{i % 50}" for i in range(2000)]
items = [ids[(i * 7) % 500] for i in range(2000)]
engine.add_interactions(users, items)
engine.fit("als", factors=8, iterations=3, show_progress=False)
recs = engine.recommend("u1", k=10)
assert len(recs) == 10
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "smoke.embedrec")
    engine.save(path)
    again = embedrec.Engine.open(path, read_only=True)
    assert again.recommend("u1", k=10) == recs
assert "embedrec_cache_hits_total" in embedrec.metrics_text({"smoke": engine})
print(f"python smoke ok: embedrec {embedrec.__version__}, simd {embedrec.simd_level()}, python {sys.version.split()[0]}")
