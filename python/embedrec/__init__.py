"""embedrec: an embedded recommendation engine.

The engine runs in this process: a catalog of items with vectors, tags and numeric
attributes, an HNSW (or exact) nearest-neighbour index, user interactions, an LRU result
cache and metrics. See ``help(embedrec.Engine)``.
"""

import logging

# Long operations (load, open, save, fit, evaluate) log to the "embedrec" logger; the
# package adds only a NullHandler, so nothing shows unless the application configures logging.
logging.getLogger("embedrec").addHandler(logging.NullHandler())

from embedrec._native import (  # noqa: E402
    FORMAT_VERSION,
    Engine,
    Filter,
    ShardedEngine,
    forget_worker_metrics,
    gather_worker_metrics,
    holdout_split,
    leave_last_out,
    metrics_text,
    simd_level,
    write_worker_metrics,
)
from embedrec._registry import open_shared  # noqa: E402
from embedrec.errors import (  # noqa: E402
    CancelledError,
    CapacityExceededError,
    CorruptFileError,
    DimensionMismatchError,
    EmbedrecError,
    EmbedrecIOError,
    InternalError,
    InvalidInputError,
    ReadOnlyError,
    UnknownAttributeError,
    UnknownItemError,
    UnknownUserError,
    UnsupportedVersionError,
)

__version__ = "0.1.0"

__all__ = [
    "FORMAT_VERSION",
    "CancelledError",
    "CapacityExceededError",
    "CorruptFileError",
    "DimensionMismatchError",
    "EmbedrecError",
    "EmbedrecIOError",
    "Engine",
    "Filter",
    "InternalError",
    "InvalidInputError",
    "ReadOnlyError",
    "ShardedEngine",
    "UnknownAttributeError",
    "UnknownItemError",
    "UnknownUserError",
    "UnsupportedVersionError",
    "forget_worker_metrics",
    "gather_worker_metrics",
    "holdout_split",
    "leave_last_out",
    "metrics_text",
    "open_shared",
    "simd_level",
    "write_worker_metrics",
]
