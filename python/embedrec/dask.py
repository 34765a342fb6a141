"""Batch scoring on Dask: top-k recommendations for a Dask DataFrame of users (or similar
items for items) from a saved engine, partition by partition.

Each worker process opens the engine once, read-only and memory-mapped (its pages shared by
every worker on a machine); only the path travels with the tasks, which must be readable by
every worker. The results equal ``Engine.recommend_batch`` on the same engine.

    >>> import dask.dataframe as dd                                  # doctest: +SKIP
    >>> from embedrec import dask as edask                           # doctest: +SKIP
    >>> users = dd.from_dict({"user_id": range(1000)}, npartitions=4)  # doctest: +SKIP
    >>> edask.recommend(users, "/data/engine.embedrec", k=20).compute()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal, Mapping, Optional, Union

from embedrec._batch import Kind, open_worker, score

if TYPE_CHECKING:  # pragma: no cover
    import dask.dataframe as dd
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

__all__ = ["recommend", "similar"]

_Filter = Optional[Mapping[str, Any]]


def recommend(
    ddf: "dd.DataFrame",
    path: Union[str, "os.PathLike[str]"],
    *,
    k: int = 10,
    user_col: str = "user_id",
    filter: _Filter = None,
    exclude_seen: bool = True,
    threads: int = 1,
    on_unknown: Literal["empty", "raise"] = "empty",
) -> "dd.DataFrame":
    """``(user_col, items, scores)`` for every user id in ``ddf[user_col]``: the top ``k``
    items (lists) and their scores. Unknown users get empty lists (or fail with
    ``on_unknown="raise"``). ``path``: a saved engine file or a shard set."""
    return _map(ddf, path, "recommend", user_col, k, filter, exclude_seen, threads, on_unknown)


def similar(
    ddf: "dd.DataFrame",
    path: Union[str, "os.PathLike[str]"],
    *,
    k: int = 10,
    item_col: str = "item_id",
    filter: _Filter = None,
    threads: int = 1,
    on_unknown: Literal["empty", "raise"] = "empty",
) -> "dd.DataFrame":
    """``(item_col, items, scores)``: the ``k`` items most similar to each item id."""
    return _map(ddf, path, "similar", item_col, k, filter, True, threads, on_unknown)


def _map(
    ddf: "dd.DataFrame",
    path: Union[str, "os.PathLike[str]"],
    kind: Kind,
    col: str,
    k: int,
    filter: _Filter,
    exclude_seen: bool,
    threads: int,
    on_unknown: Literal["empty", "raise"],
) -> "dd.DataFrame":
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    path = os.fspath(path)
    open_worker(path, None)  # fails here, in the client, for a bad path or file
    meta = pd.DataFrame({col: ddf[col]._meta, "items": pd.Series([], dtype=object), "scores": pd.Series([], dtype=object)})
    out: "dd.DataFrame" = ddf[[col]].map_partitions(
        _partition,
        path=path,
        kind=kind,
        col=col,
        k=k,
        filter=dict(filter) if filter is not None else None,
        exclude_seen=exclude_seen,
        threads=threads,
        on_unknown=on_unknown,
        meta=meta,
    )
    return out


def _partition(
    frame: "pd.DataFrame",
    *,
    path: str,
    kind: Kind,
    col: str,
    k: int,
    filter: _Filter,
    exclude_seen: bool,
    threads: int,
    on_unknown: Literal["empty", "raise"],
) -> "pd.DataFrame":
    """Runs in a worker: one engine per process, one batch call per partition."""
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    engine = open_worker(path, threads)
    items, scores = score(engine, kind, frame[col].tolist(), k, filter, exclude_seen, None, on_unknown)
    return pd.DataFrame({col: frame[col].to_numpy(), "items": items, "scores": scores}, index=frame.index)
