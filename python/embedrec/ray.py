"""Batch scoring on Ray: top-k recommendations for a Ray Dataset of users (or sessions, or
similar items for items) from a saved engine, and a pool of actors serving one engine.

Each worker process opens the engine once, read-only and memory-mapped (its pages shared by
every worker on a machine); only the path travels. The path must be readable by every
node (a shared file system on a cluster; any local path on one machine).

    >>> import ray.data                                              # doctest: +SKIP
    >>> from embedrec import ray as er                               # doctest: +SKIP
    >>> users = ray.data.from_items([{"user_id": u} for u in range(1000)])  # doctest: +SKIP
    >>> er.recommend(users, "/data/engine.embedrec", k=20).take(1)   # doctest: +SKIP
    [{'user_id': 0, 'items': [...], 'scores': [...]}]

The results equal ``Engine.recommend_batch`` on the same engine.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal, Mapping, Optional, Sequence, Union

from embedrec._batch import Kind, open_worker, score

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    from ray.data import Dataset

__all__ = ["Scorer", "recommend", "recommend_sessions", "similar", "actor_pool"]

_Filter = Optional[Mapping[str, Any]]


class Scorer:
    """A callable class for ``Dataset.map_batches`` (pandas batches): opens the engine
    once per actor and scores a column of each batch. ``kind``: ``"recommend"`` (user ids),
    ``"similar"`` (item ids) or ``"session"`` (arrays of item ids, optional weights)."""

    def __init__(
        self,
        path: str,
        kind: Kind = "recommend",
        col: str = "user_id",
        k: int = 10,
        filter: _Filter = None,
        exclude_seen: bool = True,
        threads: int = 1,
        weights_col: Optional[str] = None,
        out_col: str = "items",
        on_unknown: Literal["empty", "raise"] = "empty",
    ) -> None:
        self.engine = open_worker(path, threads)
        self.kind, self.col, self.k = kind, col, k
        self.filter, self.exclude_seen = filter, exclude_seen
        self.weights_col, self.out_col, self.on_unknown = weights_col, out_col, on_unknown

    def __call__(self, batch: "pd.DataFrame") -> "pd.DataFrame":
        keys = batch[self.col].tolist()
        if self.kind == "session":
            keys = [list(v) if v is not None else [] for v in keys]
        weights = batch[self.weights_col].tolist() if self.weights_col else None
        items, scores = score(
            self.engine, self.kind, keys, self.k, self.filter, self.exclude_seen, weights, self.on_unknown
        )
        out = batch.copy()
        out[self.out_col] = items
        out["scores"] = scores
        return out


def _map(
    ds: "Dataset",
    path: Union[str, "os.PathLike[str]"],
    concurrency: int,
    num_cpus: Optional[float],
    **kwargs: Any,
) -> "Dataset":
    path = os.fspath(path)
    open_worker(path, None)  # fails here, in the driver, for a bad path or file
    from ray.data import ActorPoolStrategy

    return ds.map_batches(
        Scorer,
        fn_constructor_kwargs={"path": path, **kwargs},
        batch_format="pandas",
        compute=ActorPoolStrategy(size=concurrency),
        num_cpus=kwargs.get("threads", 1) if num_cpus is None else num_cpus,
    )


def recommend(
    ds: "Dataset",
    path: Union[str, "os.PathLike[str]"],
    *,
    k: int = 10,
    user_col: str = "user_id",
    filter: _Filter = None,
    exclude_seen: bool = True,
    threads: int = 1,
    concurrency: int = 2,
    num_cpus: Optional[float] = None,
    on_unknown: Literal["empty", "raise"] = "empty",
) -> "Dataset":
    """Adds ``items`` and ``scores`` columns: the top ``k`` items for each user id in
    ``ds[user_col]``, computed by ``concurrency`` actors with ``threads`` engine threads
    each, reserving ``num_cpus`` CPUs each (default ``threads``: leave CPUs free for the
    dataset's read tasks, or they wait for the actors). Unknown users get empty lists (or
    fail with ``on_unknown="raise"``)."""
    return _map(
        ds, path, concurrency, num_cpus, kind="recommend", col=user_col, k=k, filter=filter,
        exclude_seen=exclude_seen, threads=threads, on_unknown=on_unknown,
    )


def recommend_sessions(
    ds: "Dataset",
    path: Union[str, "os.PathLike[str]"],
    *,
    items_col: str = "items",
    weights_col: Optional[str] = None,
    k: int = 10,
    filter: _Filter = None,
    exclude_seen: bool = True,
    threads: int = 1,
    concurrency: int = 2,
    num_cpus: Optional[float] = None,
    on_unknown: Literal["empty", "raise"] = "empty",
) -> "Dataset":
    """Adds ``recommended`` and ``scores`` columns for each session (an array of item ids in
    ``ds[items_col]``), as ``Engine.recommend_for_items``."""
    return _map(
        ds, path, concurrency, num_cpus, kind="session", col=items_col, k=k, filter=filter,
        exclude_seen=exclude_seen, threads=threads, weights_col=weights_col,
        out_col="recommended", on_unknown=on_unknown,
    )


def similar(
    ds: "Dataset",
    path: Union[str, "os.PathLike[str]"],
    *,
    k: int = 10,
    item_col: str = "item_id",
    filter: _Filter = None,
    threads: int = 1,
    concurrency: int = 2,
    num_cpus: Optional[float] = None,
    on_unknown: Literal["empty", "raise"] = "empty",
) -> "Dataset":
    """Adds ``items`` and ``scores`` columns: the ``k`` items most similar to each item id
    in ``ds[item_col]``."""
    return _map(
        ds, path, concurrency, num_cpus, kind="similar", col=item_col, k=k, filter=filter,
        threads=threads, on_unknown=on_unknown,
    )


class _EngineActor:
    """An actor holding one read-only engine (see ``actor_pool``)."""

    def __init__(self, path: str, threads: int) -> None:
        self.engine = open_worker(path, threads)

    def recommend_batch(self, user_ids: Sequence[Any], k: int = 10, filter: _Filter = None, exclude_seen: bool = True) -> tuple[list[list[Any]], list[list[float]]]:
        return score(self.engine, "recommend", user_ids, k, filter, exclude_seen)

    def similar_batch(self, item_ids: Sequence[Any], k: int = 10, filter: _Filter = None) -> tuple[list[list[Any]], list[list[float]]]:
        return score(self.engine, "similar", item_ids, k, filter)


def actor_pool(path: Union[str, "os.PathLike[str]"], size: int = 2, threads: int = 1) -> Any:
    """A ``ray.util.ActorPool`` of ``size`` actors, each serving the engine at ``path``
    (opened read-only once per actor process). Each actor has ``recommend_batch(user_ids,
    k, filter, exclude_seen)`` and ``similar_batch(item_ids, k, filter)``, returning
    ``(items, scores)`` lists of lists:

        pool = actor_pool(path, size=2)
        results = list(pool.map(lambda a, chunk: a.recommend_batch.remote(chunk, 10), chunks))
    """
    import ray
    from ray.util import ActorPool

    path = os.fspath(path)
    open_worker(path, None)
    actor = ray.remote(num_cpus=threads)(_EngineActor)
    return ActorPool([actor.remote(path, threads) for _ in range(size)])

