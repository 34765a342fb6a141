"""Batch scoring on Apache Spark: top-k recommendations for a DataFrame of users (or of
sessions, or similar items for a DataFrame of items) from a saved engine.

Each Python worker opens the engine once, read-only and memory-mapped (its pages are the
page cache's, shared by every worker on a machine), and scores the rows of each Arrow batch
with one batch call; nothing but the path travels with the tasks. The path must be readable
by every executor: a shared file system, or ``ship=True``, which distributes the file (or a
shard set's directory) with ``SparkContext.addFile``. Every Python worker needs ``embedrec``
installed (``pip install embedrec`` on the executors, or the same environment in local mode).

    >>> from embedrec import spark as es                           # doctest: +SKIP
    >>> recs = es.recommend(users_df, "/data/engine.embedrec", k=20)  # doctest: +SKIP
    >>> recs.printSchema()                                          # doctest: +SKIP
    root
     |-- user_id: long
     |-- items: array<string>
     |-- scores: array<float>

The engine runs one thread per task by default (``threads=1``): Spark already runs one task
per core. The results equal ``Engine.recommend_batch`` on the same engine.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any, Iterator, Literal, Mapping, Optional, Union

from embedrec._batch import Kind, is_shard_set, item_type, open_worker, score

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    from pyspark.sql import DataFrame

__all__ = ["recommend", "recommend_sessions", "similar"]

_Filter = Optional[Mapping[str, Any]]


def recommend(
    df: "DataFrame",
    path: Union[str, "os.PathLike[str]"],
    *,
    k: int = 10,
    user_col: str = "user_id",
    filter: _Filter = None,
    exclude_seen: bool = True,
    threads: int = 1,
    ship: bool = False,
    item_type: Optional[Literal["string", "long"]] = None,
    on_unknown: Literal["empty", "raise"] = "empty",
) -> "DataFrame":
    """Top ``k`` items for every user id in ``df[user_col]``: a DataFrame
    ``(user_col, items array<…>, scores array<float>)``, one row per input row.

    ``path``: a saved engine file, or a shard set (its directory or manifest, see
    ``ShardedEngine.split_to``). ``filter``: a filter as a dict (``Engine.recommend``'s).
    Users the engine does not know get empty lists (``on_unknown="raise"`` fails the job
    instead). ``item_type`` (``"string"`` or ``"long"``) is read from the engine's ids when
    not given.
    """
    return _score(df, path, "recommend", user_col, None, k, filter, exclude_seen, threads, ship, item_type, on_unknown)


def recommend_sessions(
    df: "DataFrame",
    path: Union[str, "os.PathLike[str]"],
    *,
    items_col: str = "items",
    weights_col: Optional[str] = None,
    key_col: Optional[str] = None,
    k: int = 10,
    filter: _Filter = None,
    exclude_seen: bool = True,
    threads: int = 1,
    ship: bool = False,
    item_type: Optional[Literal["string", "long"]] = None,
    on_unknown: Literal["empty", "raise"] = "empty",
) -> "DataFrame":
    """Top ``k`` items for each anonymous session: ``df[items_col]`` is an array of item ids
    (``weights_col`` an optional array of weights), as ``Engine.recommend_for_items``.
    Returns ``(key_col, recommended array<…>, scores array<float>)`` (``key_col`` defaults
    to ``items_col``). A session naming an item the engine does not know gets empty lists
    (or fails with ``on_unknown="raise"``)."""
    key = key_col or items_col
    return _score(df, path, "session", items_col, weights_col, k, filter, exclude_seen, threads, ship, item_type, on_unknown, key)


def similar(
    df: "DataFrame",
    path: Union[str, "os.PathLike[str]"],
    *,
    k: int = 10,
    item_col: str = "item_id",
    filter: _Filter = None,
    threads: int = 1,
    ship: bool = False,
    item_type: Optional[Literal["string", "long"]] = None,
    on_unknown: Literal["empty", "raise"] = "empty",
) -> "DataFrame":
    """The ``k`` items most similar to each item id in ``df[item_col]``:
    ``(item_col, items array<…>, scores array<float>)``, as ``Engine.similar``."""
    return _score(df, path, "similar", item_col, None, k, filter, True, threads, ship, item_type, on_unknown)


def _score(
    df: "DataFrame",
    path: Union[str, "os.PathLike[str]"],
    kind: Kind,
    col: str,
    weights_col: Optional[str],
    k: int,
    filter: _Filter,
    exclude_seen: bool,
    threads: int,
    ship: bool,
    items: Optional[str],
    on_unknown: Literal["empty", "raise"],
    key: Optional[str] = None,
) -> "DataFrame":
    from pyspark.sql import types as T

    path = os.fspath(path)
    engine = open_worker(path, None)  # fails here, on the driver, for a bad path or file
    if items is None:
        items = item_type(engine)
    if items not in ("string", "long"):
        raise ValueError(f"item_type: expected 'string' or 'long', got {items!r}")
    key = key or col
    if ship:
        # A shard set travels as its directory; workers find it by name (SparkFiles.get).
        local = os.path.dirname(path) if is_shard_set(path) and not os.path.isdir(path) else path
        df.sparkSession.sparkContext.addFile(local, recursive=os.path.isdir(local))
        path = os.path.basename(os.path.normpath(local))
    element = T.LongType() if items == "long" else T.StringType()
    out_col = "recommended" if kind == "session" else "items"
    schema = T.StructType(
        [
            T.StructField(key, df.schema[key].dataType),
            T.StructField(out_col, T.ArrayType(element)),
            T.StructField("scores", T.ArrayType(T.FloatType())),
        ]
    )
    cols = [key] + ([col] if col != key else []) + ([weights_col] if weights_col else [])
    fn = functools.partial(
        _batches,
        path=path,
        shipped=ship,
        kind=kind,
        col=col,
        weights_col=weights_col,
        key=key,
        out_col=out_col,
        k=k,
        filter=dict(filter) if filter is not None else None,
        exclude_seen=exclude_seen,
        threads=threads,
        cast=items,
        on_unknown=on_unknown,
    )
    return df.select(*cols).mapInPandas(fn, schema)


def _batches(
    frames: Iterator["pd.DataFrame"],
    *,
    path: str,
    shipped: bool,
    kind: Kind,
    col: str,
    weights_col: Optional[str],
    key: str,
    out_col: str,
    k: int,
    filter: _Filter,
    exclude_seen: bool,
    threads: int,
    cast: str,
    on_unknown: Literal["empty", "raise"],
) -> Iterator["pd.DataFrame"]:
    """Runs in the Python worker: one engine per process, one batch call per Arrow batch."""
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    if shipped:
        from pyspark import SparkFiles

        path = SparkFiles.get(path)
    engine = open_worker(path, threads)
    to = int if cast == "long" else str
    for frame in frames:
        keys = frame[col].tolist()
        if kind == "session":
            keys = [list(v) if v is not None else [] for v in keys]
        weights = frame[weights_col].tolist() if weights_col else None
        items, scores = score(engine, kind, keys, k, filter, exclude_seen, weights, on_unknown, to)
        yield pd.DataFrame({key: frame[key], out_col: items, "scores": scores})
