"""Type stubs of the compiled module (checked against it by mypy.stubtest in CI)."""

from collections.abc import Callable, Mapping, Sequence
from os import PathLike
from pathlib import Path
from datetime import datetime
from typing import Any, Final, Literal, Optional, Protocol, TypedDict, Union, final, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

__all__ = ["Engine", "FORMAT_VERSION", "Filter", "ShardedEngine", "holdout_split", "leave_last_out"]

FORMAT_VERSION: Final[int]

_FilterLike = Union["Filter", Mapping[str, Any], None]
# Ids are str or int (numpy integers too); an id comes back as the type it went in as.
_Id = Union[str, int]
# Sequences, numpy arrays and pandas columns (anything numpy converts) are accepted.
_Ids = Union[Sequence[_Id], npt.ArrayLike]
_Weights = npt.ArrayLike
# Seconds, or dates: numpy datetime64 arrays, pandas datetime columns, datetime objects.
_Timestamps = Union[Sequence[int], Sequence[datetime], npt.ArrayLike]

class _Frame(Protocol):
    """A pandas DataFrame (one column per attribute)."""

    @property
    def columns(self) -> Any: ...
    def __getitem__(self, key: Any, /) -> Any: ...

class _SparseMatrix(Protocol):
    """A scipy.sparse matrix or array."""

    def tocoo(self) -> Any: ...
_Hits = list[tuple[_Id, float]]

class _Metadata(TypedDict):
    """An item's tags and numeric attributes."""

    tags: list[str]
    attributes: dict[str, float]

# Hits with their items' metadata (``with_metadata=True``).
_DescribedHits = list[tuple[_Id, float, _Metadata]]
_Attributes = Union[Mapping[str, npt.ArrayLike], Sequence[Mapping[str, float]], _Frame, None]
_BatchArrays = tuple[npt.NDArray[np.object_], npt.NDArray[np.float32]]

@final
class Filter:
    def __new__(
        cls,
        *,
        tags_any: Optional[Sequence[str]] = ...,
        tags_all: Optional[Sequence[str]] = ...,
        tags_none: Optional[Sequence[str]] = ...,
        ranges: Optional[Mapping[str, Sequence[Optional[float]]]] = ...,
        allow_ids: Optional[Sequence[_Id]] = ...,
        deny_ids: Optional[Sequence[_Id]] = ...,
    ) -> Filter: ...

@final
class Engine:
    def __new__(
        cls,
        dim: int,
        *,
        metric: str = ...,
        index: str = ...,
        m: int = ...,
        ef_construction: int = ...,
        ef_search: int = ...,
        cache_capacity: int = ...,
        cache_max_bytes: int = ...,
        cache_ttl: Optional[float] = ...,
        threads: int = ...,
        recency_half_life: Optional[float] = ...,
        exact_filter_fraction: float = ...,
        exact_below: int = ...,
        vector_storage: str = ...,
    ) -> Engine: ...
    @property
    def dim(self) -> int: ...
    @property
    def config(self) -> dict[str, Any]: ...
    def __len__(self) -> int: ...
    def __contains__(self, id: _Id, /) -> bool: ...
    def upsert_items(
        self,
        ids: _Ids,
        vectors: Optional[npt.ArrayLike] = None,
        tags: Optional[Sequence[Sequence[str]]] = None,
        attributes: _Attributes = None,
    ) -> None: ...
    def update_attributes(
        self,
        ids: _Ids,
        tags: Optional[Sequence[Sequence[str]]] = None,
        attributes: _Attributes = None,
        remove: Optional[Sequence[str]] = None,
    ) -> None: ...
    def item_attributes(self, ids: _Ids) -> list[_Metadata]: ...
    def remove_items(self, ids: _Ids) -> int: ...
    def item_vector(self, id: _Id) -> npt.NDArray[np.float32]: ...
    def item_ids(self) -> list[_Id]: ...
    def item_vectors(self) -> tuple[list[_Id], npt.NDArray[np.float32]]: ...
    def item_factors(self) -> tuple[list[_Id], npt.NDArray[np.float32]]: ...
    def user_factors(self) -> tuple[list[_Id], npt.NDArray[np.float32]]: ...
    def install_factors(
        self,
        item_ids: _Ids,
        item_factors: npt.ArrayLike,
        user_ids: Optional[_Ids] = None,
        user_factors: Optional[npt.ArrayLike] = None,
        **params: Any,
    ) -> None: ...
    @overload
    def search(
        self, vector: npt.ArrayLike, k: int = ..., filter: _FilterLike = None, with_metadata: Literal[False] = False
    ) -> _Hits: ...
    @overload
    def search(
        self, vector: npt.ArrayLike, k: int = ..., filter: _FilterLike = None, *, with_metadata: Literal[True]
    ) -> _DescribedHits: ...
    @overload
    def similar(self, id: _Id, k: int = ..., filter: _FilterLike = None, with_metadata: Literal[False] = False) -> _Hits: ...
    @overload
    def similar(self, id: _Id, k: int = ..., filter: _FilterLike = None, *, with_metadata: Literal[True]) -> _DescribedHits: ...
    def add_interactions(
        self,
        user_ids: _Ids,
        item_ids: _Ids,
        weights: Optional[_Weights] = None,
        timestamps: Optional[_Timestamps] = None,
    ) -> None: ...
    def add_interaction_matrix(
        self, matrix: _SparseMatrix, user_ids: Optional[_Ids] = None, item_ids: Optional[_Ids] = None
    ) -> None: ...
    @overload
    def recommend(
        self,
        user_id: _Id,
        k: int = ...,
        filter: _FilterLike = None,
        exclude_seen: bool = True,
        diversity: float = 0.0,
        with_metadata: Literal[False] = False,
    ) -> _Hits: ...
    @overload
    def recommend(
        self,
        user_id: _Id,
        k: int = ...,
        filter: _FilterLike = None,
        exclude_seen: bool = True,
        diversity: float = 0.0,
        *,
        with_metadata: Literal[True],
    ) -> _DescribedHits: ...
    def explain(self, user_id: _Id, item_id: _Id, k: int = ...) -> _Hits: ...
    @overload
    def recommend_for_items(
        self,
        items: _Ids,
        weights: Optional[_Weights] = None,
        k: int = ...,
        filter: _FilterLike = None,
        exclude_seen: bool = True,
        diversity: float = 0.0,
        with_metadata: Literal[False] = False,
    ) -> _Hits: ...
    @overload
    def recommend_for_items(
        self,
        items: _Ids,
        weights: Optional[_Weights] = None,
        k: int = ...,
        filter: _FilterLike = None,
        exclude_seen: bool = True,
        diversity: float = 0.0,
        *,
        with_metadata: Literal[True],
    ) -> _DescribedHits: ...
    @overload
    def search_batch(
        self, queries: npt.ArrayLike, k: int = ..., filter: _FilterLike = None, as_frame: Literal[False] = False
    ) -> _BatchArrays: ...
    @overload
    def search_batch(
        self, queries: npt.ArrayLike, k: int = ..., filter: _FilterLike = None, *, as_frame: Literal[True]
    ) -> pd.DataFrame: ...
    @overload
    def recommend_batch(
        self,
        user_ids: _Ids,
        k: int = ...,
        filter: _FilterLike = None,
        exclude_seen: bool = True,
        diversity: float = 0.0,
        as_frame: Literal[False] = False,
    ) -> _BatchArrays: ...
    @overload
    def recommend_batch(
        self,
        user_ids: _Ids,
        k: int = ...,
        filter: _FilterLike = None,
        exclude_seen: bool = True,
        diversity: float = 0.0,
        *,
        as_frame: Literal[True],
    ) -> pd.DataFrame: ...
    def save(self, path: Union[str, PathLike[str]]) -> None: ...
    @staticmethod
    def open(
        path: Union[str, PathLike[str]],
        *,
        dim: Optional[int] = None,
        read_only: bool = False,
        sync: Literal["full", "grouped", "off"] = "full",
        sync_interval_ms: Optional[int] = None,
        checkpoint_bytes: Optional[int] = None,
        **options: Any,
    ) -> Engine: ...
    def checkpoint(self) -> None: ...
    def close(self) -> None: ...
    @property
    def durable(self) -> bool: ...
    @property
    def read_only(self) -> bool: ...
    @property
    def snapshot(self) -> Optional[tuple[Path, str]]: ...
    def snapshot_replaced(self) -> bool: ...
    def verify(self) -> None: ...
    @staticmethod
    def open_snapshot(path: Union[str, PathLike[str]], id: str) -> Engine: ...
    def __enter__(self) -> Engine: ...
    def __exit__(self, t: Any, v: Any, tb: Any) -> bool: ...
    @staticmethod
    def load(path: Union[str, PathLike[str]]) -> Engine: ...
    def to_bytes(self) -> bytes: ...
    @staticmethod
    def from_bytes(data: bytes, *, read_only: bool = False) -> Engine: ...
    def __reduce__(self) -> tuple[Any, Any]: ...
    def set_ef_search(self, ef: int) -> None: ...
    def set_threads(self, threads: int) -> None: ...
    def clear_cache(self) -> None: ...
    def stats(self) -> dict[str, Any]: ...
    def metrics_text(self) -> str: ...
    def fit(
        self,
        model: str = "als",
        *,
        tune: Union[bool, Mapping[str, Any], None] = None,
        progress: Optional[Callable[[dict[str, Any]], Optional[bool]]] = None,
        show_progress: bool = True,
        **params: Any,
    ) -> dict[str, Any]: ...
    @property
    def model(self) -> Optional[str]: ...
    def clear_model(self) -> None: ...
    def evaluate(self, user_ids: _Ids, item_ids: _Ids, k: int = ...) -> dict[str, Any]: ...

@final
class ShardedEngine:
    @staticmethod
    def split(engine: Engine, shards: int) -> ShardedEngine: ...
    @staticmethod
    def split_to(engine: Engine, shards: int, directory: Union[str, PathLike[str]]) -> Path: ...
    @staticmethod
    def open(path: Union[str, PathLike[str]], *, threads: int = 0) -> ShardedEngine: ...
    @property
    def shards(self) -> int: ...
    @property
    def manifest(self) -> Optional[Path]: ...
    def __len__(self) -> int: ...
    def item_ids(self) -> list[_Id]: ...
    def set_threads(self, threads: int) -> None: ...
    @overload
    def search(
        self, vector: npt.ArrayLike, k: int = ..., filter: _FilterLike = None, with_metadata: Literal[False] = False
    ) -> _Hits: ...
    @overload
    def search(
        self, vector: npt.ArrayLike, k: int = ..., filter: _FilterLike = None, *, with_metadata: Literal[True]
    ) -> _DescribedHits: ...
    @overload
    def similar(self, id: _Id, k: int = ..., filter: _FilterLike = None, with_metadata: Literal[False] = False) -> _Hits: ...
    @overload
    def similar(self, id: _Id, k: int = ..., filter: _FilterLike = None, *, with_metadata: Literal[True]) -> _DescribedHits: ...
    @overload
    def recommend(
        self,
        user_id: _Id,
        k: int = ...,
        filter: _FilterLike = None,
        exclude_seen: bool = True,
        with_metadata: Literal[False] = False,
    ) -> _Hits: ...
    @overload
    def recommend(
        self, user_id: _Id, k: int = ..., filter: _FilterLike = None, exclude_seen: bool = True, *, with_metadata: Literal[True]
    ) -> _DescribedHits: ...
    @overload
    def recommend_for_items(
        self,
        items: _Ids,
        weights: Optional[_Weights] = None,
        k: int = ...,
        filter: _FilterLike = None,
        exclude_seen: bool = True,
        with_metadata: Literal[False] = False,
    ) -> _Hits: ...
    @overload
    def recommend_for_items(
        self,
        items: _Ids,
        weights: Optional[_Weights] = None,
        k: int = ...,
        filter: _FilterLike = None,
        exclude_seen: bool = True,
        *,
        with_metadata: Literal[True],
    ) -> _DescribedHits: ...
    @overload
    def recommend_batch(
        self,
        user_ids: _Ids,
        k: int = ...,
        filter: _FilterLike = None,
        exclude_seen: bool = True,
        as_frame: Literal[False] = False,
    ) -> _BatchArrays: ...
    @overload
    def recommend_batch(
        self, user_ids: _Ids, k: int = ..., filter: _FilterLike = None, exclude_seen: bool = True, *, as_frame: Literal[True]
    ) -> pd.DataFrame: ...
    def __reduce__(self) -> tuple[Any, Any]: ...

_Split = tuple[dict[str, list[Any]], dict[str, list[Any]]]

def holdout_split(
    user_ids: _Ids,
    item_ids: _Ids,
    weights: Optional[_Weights] = None,
    timestamps: Optional[_Timestamps] = None,
    *,
    test_fraction: float = ...,
    min_interactions: int = ...,
    seed: int = ...,
) -> _Split: ...
def leave_last_out(
    user_ids: _Ids,
    item_ids: _Ids,
    weights: Optional[_Weights] = None,
    timestamps: Optional[_Timestamps] = None,
    *,
    min_interactions: int = ...,
) -> _Split: ...

def simd_level() -> str: ...
def metrics_text(engines: Mapping[str, Engine], *, pid: bool = False) -> str: ...
def _debug_panic() -> None: ...
def write_worker_metrics(directory: Union[str, PathLike[str]], engines: Mapping[str, Engine]) -> Path: ...
def gather_worker_metrics(directory: Union[str, PathLike[str]]) -> str: ...
def forget_worker_metrics(directory: Union[str, PathLike[str]], pid: int) -> None: ...
