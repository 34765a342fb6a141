"""What the Spark, Ray and Dask helpers share: opening a saved engine (or a shard set) once per
worker process, and scoring one batch of ids into lists of items and scores."""

from __future__ import annotations

import os
from typing import Any, Callable, Literal, Mapping, Optional, Sequence, Union

import numpy as np

from embedrec._native import Engine, ShardedEngine
from embedrec._registry import open_shared, open_sharded
from embedrec.errors import UnknownItemError, UnknownUserError

AnyEngine = Union[Engine, ShardedEngine]
Kind = Literal["recommend", "similar", "session"]


def is_shard_set(path: Union[str, "os.PathLike[str]"]) -> bool:
    """Whether ``path`` names a shard set (its directory or manifest) rather than one file."""
    p = os.fspath(path)
    return os.path.isdir(p) or os.path.basename(p) == "embedrec-shards.txt"


def open_worker(path: str, threads: Optional[int]) -> AnyEngine:
    """The engine at ``path`` for this worker process: opened read-only once, then reused."""
    if is_shard_set(path):
        return open_sharded(path, threads=threads)
    return open_shared(path, threads=threads)


def item_type(engine: AnyEngine) -> Literal["string", "long"]:
    """``"long"`` when every item id of the engine is an integer, else ``"string"``."""
    ids = engine.item_ids()
    return "long" if ids and all(isinstance(i, int) for i in ids) else "string"


def score(
    engine: AnyEngine,
    kind: Kind,
    keys: Sequence[Any],
    k: int,
    filter: Any = None,
    exclude_seen: bool = True,
    weights: Optional[Sequence[Any]] = None,
    on_unknown: Literal["empty", "raise"] = "empty",
    cast: Callable[[Any], Any] = lambda x: x,
) -> tuple[list[list[Any]], list[list[float]]]:
    """Top ``k`` items and scores for each key: a user id (``recommend``), an item id
    (``similar``) or a list of item ids (``session``, with optional per-row ``weights``).
    Keys the engine does not know give empty lists, or raise with ``on_unknown="raise"``."""
    if kind == "recommend":
        try:
            ids, scores = engine.recommend_batch(list(keys), k=k, filter=filter, exclude_seen=exclude_seen)
            return _rows(ids, scores, cast)
        except UnknownUserError:
            if on_unknown == "raise":
                raise
        # Some user is unknown: one call per user, unknown ones empty.
        one: Callable[[Any, int], list[tuple[Any, float]]] = lambda u, i: engine.recommend(  # noqa: E731
            u, k=k, filter=filter, exclude_seen=exclude_seen
        )
    elif kind == "similar":
        one = lambda item, i: engine.similar(item, k=k, filter=filter)  # noqa: E731
    else:
        one = lambda items, i: engine.recommend_for_items(  # noqa: E731
            list(items),
            weights=None if weights is None or weights[i] is None else list(weights[i]),
            k=k,
            filter=filter,
            exclude_seen=exclude_seen,
        )
    items_out: list[list[Any]] = []
    scores_out: list[list[float]] = []
    for i, key in enumerate(keys):
        try:
            hits = one(key, i)
        except (UnknownUserError, UnknownItemError):
            if on_unknown == "raise":
                raise
            hits = []
        items_out.append([cast(h[0]) for h in hits])
        scores_out.append([float(h[1]) for h in hits])
    return items_out, scores_out


def _rows(ids: np.ndarray, scores: np.ndarray, cast: Callable[[Any], Any]) -> tuple[list[list[Any]], list[list[float]]]:
    items_out, scores_out = [], []
    for row_ids, row_scores in zip(ids, scores):
        n = sum(1 for i in row_ids if i is not None)
        items_out.append([cast(i) for i in row_ids[:n]])
        scores_out.append([float(s) for s in row_scores[:n]])
    return items_out, scores_out
