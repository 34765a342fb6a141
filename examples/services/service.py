"""A recommendation service: FastAPI with /recommend, /similar and /metrics over one saved
engine, opened read-only once per worker process.

    pip install embedrec fastapi "uvicorn[standard]"   # uvloop + httptools: ~9x plain uvicorn
    EMBEDREC_PATH=/srv/catalog.embedrec uvicorn service:app --workers 4 --port 8000

Every worker maps the same file (its pages are shared, not copied). To publish a new
snapshot, save it to the same path: each worker sees it on its next request
(``snapshot_replaced``) and reopens. /metrics labels every sample with the worker's pid.
With EMBEDREC_METRICS_DIR set (a directory the workers share, emptied before the server
starts), every worker writes its metrics there every few seconds and whichever worker
answers a scrape returns all workers' series (``gather_worker_metrics``), as
prometheus_client's multiprocess mode does; without it, a scrape gives the answering
worker's own series. Without EMBEDREC_PATH the service builds a small synthetic catalog
first (a demo that needs no data).
"""

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator

import numpy as np
from fastapi import FastAPI, HTTPException, Response

import embedrec


def demo_catalog() -> str:
    """A synthetic music catalog (2,000 songs in 8 genres, 300 listeners), trained and saved."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(8, 32))
    genre = np.arange(2000) % 8
    vectors = (centres[genre] + 0.5 * rng.normal(size=(2000, 32))).astype(np.float32)
    engine = embedrec.Engine(32)
    engine.upsert_items([f"song{i}" for i in range(2000)], vectors, tags=[[f"genre{g}"] for g in genre])
    users = np.repeat(np.arange(300), 20)
    songs = (rng.integers(0, 250, users.size) * 8 + users % 8) % 2000
    engine.add_interactions(users, [f"song{s}" for s in songs])
    engine.fit("als", factors=16, iterations=5, show_progress=False)
    path = os.path.join(tempfile.mkdtemp(prefix="embedrec-service-"), "catalog.embedrec")
    engine.save(path)
    return path


# The handlers are `async def`: a query takes well under a millisecond, so it runs on the
# event loop itself rather than through a thread pool hop.
PATH = os.environ.get("EMBEDREC_PATH") or demo_catalog()
METRICS_DIR = os.environ.get("EMBEDREC_METRICS_DIR")
_engine = embedrec.open_shared(PATH, threads=1)


@contextlib.asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    """With a shared metrics directory: this worker's metrics are written there every 5 s."""

    async def publish(directory: str) -> None:
        while True:
            embedrec.write_worker_metrics(directory, {"catalog": engine()})
            await asyncio.sleep(5)

    task = asyncio.create_task(publish(METRICS_DIR)) if METRICS_DIR else None
    yield
    if task:
        task.cancel()


app = FastAPI(title="embedrec service", lifespan=lifespan)


def engine() -> embedrec.Engine:
    """This worker's engine, reopened when a new snapshot was saved over the file."""
    global _engine
    if _engine.snapshot_replaced():
        _engine = embedrec.open_shared(PATH, threads=1)
    return _engine


def _id(raw: str) -> "str | int":
    return int(raw) if raw.lstrip("-").isdigit() else raw


@app.get("/recommend/{user_id}")
async def recommend(user_id: str, k: int = 10, genre: "str | None" = None) -> dict[str, object]:
    flt = {"tags_any": [genre]} if genre else None
    try:
        hits = engine().recommend(_id(user_id), k=k, filter=flt, with_metadata=True)
    except embedrec.UnknownUserError:
        raise HTTPException(404, f"unknown user {user_id}")
    except embedrec.InvalidInputError as e:
        raise HTTPException(400, str(e))
    items = [{"id": i, "score": s, "tags": m["tags"]} for i, s, m in hits]
    return {"user_id": _id(user_id), "items": items}


@app.get("/similar/{item_id}")
async def similar(item_id: str, k: int = 10) -> dict[str, object]:
    try:
        hits = engine().similar(_id(item_id), k=k)
    except embedrec.UnknownItemError:
        raise HTTPException(404, f"unknown item {item_id}")
    except embedrec.InvalidInputError as e:
        raise HTTPException(400, str(e))
    return {"item_id": _id(item_id), "items": [{"id": i, "score": s} for i, s in hits]}


@app.get("/metrics")
async def metrics() -> Response:
    if METRICS_DIR:
        embedrec.write_worker_metrics(METRICS_DIR, {"catalog": engine()})
        text = embedrec.gather_worker_metrics(METRICS_DIR)
    else:
        text = embedrec.metrics_text({"catalog": engine()}, pid=True)
    return Response(text, media_type="text/plain; version=0.0.4")
