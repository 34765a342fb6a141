"""Engines opened read-only, kept once per process.

Workers of Spark, Ray, Dask or a pre-forking web server run many tasks in one Python
process; opening the same snapshot for every task would map it again and rebuild its id
table each time. ``open_shared`` opens a file once per process and hands the same engine
to every caller; engines pickled by reference come back through it.
"""

from __future__ import annotations

import os
import threading
from typing import Optional, Union

from embedrec._native import Engine, ShardedEngine

_lock = threading.Lock()
_engines: dict[tuple[str, int, int, int], Engine] = {}
_snapshots: dict[tuple[str, str], Engine] = {}
_sets: dict[tuple[str, int, int], ShardedEngine] = {}


def _key(path: Union[str, "os.PathLike[str]"]) -> tuple[str, int, int, int]:
    real = os.path.realpath(os.fspath(path))
    st = os.stat(real)
    # A snapshot published by renaming a new file over the old one has a new inode.
    return (real, st.st_ino, st.st_size, st.st_mtime_ns)


def open_shared(path: Union[str, "os.PathLike[str]"], threads: Optional[int] = None) -> Engine:
    """The engine at ``path`` opened read-only (memory-mapped), once per process.

    Later calls with the same file return the same engine; a file replaced since (a new
    snapshot renamed over it) is opened anew. ``threads`` sets the engine's pool when this
    call opens it (Spark and Ray run one task per core: 1 avoids oversubscription).
    """
    key = _key(path)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = Engine.open(key[0], read_only=True)
            if threads is not None:
                engine.set_threads(threads)
            _engines[key] = engine
            snap = engine.snapshot
            if snap is not None:
                _snapshots[(os.fspath(snap[0]), snap[1])] = engine
        return engine


def open_snapshot(path: Union[str, "os.PathLike[str]"], identity: str) -> Engine:
    """``Engine.open_snapshot`` through the registry (how an engine pickled by reference
    comes back): the snapshot ``identity`` of ``path``, opened once per process."""
    key = (os.fspath(path), identity)
    with _lock:
        engine = _snapshots.get(key)
        if engine is None:
            engine = Engine.open_snapshot(path, identity)
            _snapshots[key] = engine
        return engine


def open_sharded(path: Union[str, "os.PathLike[str]"], threads: Optional[int] = None) -> ShardedEngine:
    """``ShardedEngine.open`` once per process for the same manifest (a manifest replaced
    since is opened anew)."""
    real, ino, _size, mtime = _key(path)
    key = (real, ino, mtime)
    with _lock:
        engine = _sets.get(key)
        if engine is None:
            engine = ShardedEngine.open(real) if threads is None else ShardedEngine.open(real, threads=threads)
            _sets[key] = engine
        return engine


def forget() -> None:
    """Drops every engine the registry keeps (they close once nothing else holds them)."""
    with _lock:
        _engines.clear()
        _snapshots.clear()
        _sets.clear()
