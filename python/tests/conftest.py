import os
from pathlib import Path

import numpy as np
import pytest

import embedrec

GENRES = ["rock", "jazz", "pop", "techno", "folk"]


def make_catalog(n=2000, dim=16, seed=42):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(GENRES), dim)).astype(np.float32)
    g = np.arange(n) % len(GENRES)
    vectors = (centres[g] + 0.6 * rng.normal(size=(n, dim))).astype(np.float32)
    ids = [f"t{i}" for i in range(n)]
    tags = [[GENRES[i % 5]] for i in range(n)]
    attributes = {"year": 1960.0 + (np.arange(n) % 60), "popularity": (np.arange(n) % 100).astype(float)}
    return ids, vectors, tags, attributes


@pytest.fixture
def engine():
    e = embedrec.Engine(dim=16, threads=2)
    ids, v, tags, attrs = make_catalog()
    e.upsert_items(ids, v, tags=tags, attributes=attrs)
    return e


@pytest.fixture
def movielens():
    """Directory of MovieLens latest-small: $EMBEDREC_MOVIELENS, or beside the repository
    (skips when absent)."""
    default = Path(__file__).resolve().parents[3] / "shared" / "data" / "movielens-latest-small"
    root = Path(os.environ.get("EMBEDREC_MOVIELENS", default))
    if not (root / "ratings.csv").exists():
        pytest.skip(f"MovieLens not found at {root}")
    return root
