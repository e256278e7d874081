"""The vector store protocol and the values it takes and returns.

A store holds, per model version, an images and a captions collection (see
:mod:`modalign.search.naming`) and one *active* version that queries use when no version is named.
Two backends implement it: :mod:`modalign.search.edge_store` (qdrant-edge, in-process, the embedded
default) and :mod:`modalign.search.qdrant_client_store` (qdrant-client: a Qdrant server, or local
mode).
``tests/search/test_contract.py`` runs the same operations on both and compares the results.

Contract, whatever the backend:

- ``create_version`` creates both collections with HNSW ``m`` / ``ef_construct`` and the
  quantization (:mod:`modalign.search.quantization`) from the settings, and declares every payload
  index before any point is written; calling it again is a no-op, unless the settings now ask for
  another quantization than the collections were created with
  (:class:`~modalign.errors.ConfigError`). Queries of a version use the quantization it was
  created with.
- ``upsert`` returns once the points are durable and visible to queries; the same ids twice leave
  the same count (ids are content-derived, see :func:`~modalign.search.naming.image_point_id`).
- ``query`` returns hits by descending cosine similarity; ``version=None`` means the active version,
  resolved once per call, so a concurrent ``set_active_version`` never mixes two versions in one
  result. ``params.mode`` (:mod:`modalign.search.hybrid`) ``keyword`` ranks by the ``sparse``
  query instead, ``hybrid`` fuses the dense and the keyword list by reciprocal rank in the same
  engine call (the filter applied to both); both need a version created with keyword vectors
  (``info().keywords``), else InvalidInputError naming ``modalign reindex``.
- A point's ``sparse`` vector is stored beside its dense one where the version has keyword
  vectors, and left out where it has none.
- ``set_active_version`` moves the images and captions aliases together, atomically for readers.
- ``delete`` (by id) and ``delete_where`` (by filter) are durable when they return; unknown ids
  or a filter matching nothing are no-ops. ``set_payload`` applies payload updates in one
  durable write: the image fields of an :class:`~modalign.search.schema.ImagePayload` set on
  every point matching each update's filter (caption points keep their own text, position and
  image id). ``scroll_all`` pages through every point.
- ``pause_writes`` holds every write of this process back for its block (after the writes in
  progress have finished) while queries keep answering; ``snapshot(dest)``, called inside it,
  writes a consistent copy of the store into the folder ``dest`` (see :mod:`modalign.backup`).
- Bad input (unknown field, wrongly typed value, wrong vector size) raises
  :class:`~modalign.errors.InvalidInputError`; an unknown version or collection
  :class:`~modalign.errors.NotFoundError`; engine failures :class:`~modalign.errors.StoreError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, Protocol

import numpy as np

from modalign.search.filters import Filter
from modalign.search.hybrid import KEYWORDS
from modalign.search.naming import Kind
from modalign.search.schema import ImagePayload, Payload
from modalign.search.sparse import SparseVector

Status = Literal["green", "yellow"]


@dataclass(frozen=True)
class PointIn:
    """A point to write: content-derived id, vector, typed payload and keyword vector."""

    id: str
    vector: np.ndarray | Sequence[float]
    payload: Payload
    sparse: SparseVector | None = None


class Hit(NamedTuple):
    """A query result: point id, cosine similarity and the stored payload (a NamedTuple: built
    once per hit on the query path, where a frozen dataclass costs twice as much)."""

    id: str
    score: float
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class PayloadUpdate:
    """New image fields for the points a filter matches (e.g. one image and its captions)."""

    filter: Filter
    payload: ImagePayload


@dataclass(frozen=True)
class Record:
    """A point read back by id (vectors only when asked for: the dense one and, where the
    point has one, its keyword vector)."""

    id: str
    payload: Mapping[str, Any]
    vector: np.ndarray | None = None
    sparse: SparseVector | None = None


def record_from(raw: Any) -> Record:
    """A Record from a backend's point (any object with ``id``, ``payload`` and ``vector``: one
    dense vector, or named vectors, the unnamed dense one and the keyword one)."""
    named = raw.vector if isinstance(raw.vector, dict) else {"": raw.vector}
    dense = named.get("")
    vector = None if dense is None else np.asarray(dense, dtype=np.float32)
    keywords = named.get(KEYWORDS)
    sparse = None if keywords is None else SparseVector(
        tuple(int(i) for i in keywords.indices), tuple(float(v) for v in keywords.values)
    )
    return Record(id=str(raw.id), payload=raw.payload or {}, vector=vector, sparse=sparse)


def in_request_order(found: Sequence[Record], ids: Sequence[str]) -> list[Record]:
    """The records of ``found`` in the order of ``ids``, missing ids left out."""
    by_id = {record.id: record for record in found}
    return [by_id[pid] for pid in ids if pid in by_id]


@dataclass(frozen=True)
class CollectionInfo:
    """State of one collection.

    ``status`` is ``green`` when every point is in the HNSW index (or the collection is small enough
    to be searched exactly), ``yellow`` when fresh points wait for ``optimize`` (they are searched
    exactly meanwhile, so results stay correct, only slower).
    """

    name: str
    version: str
    kind: Kind
    dim: int
    points: int
    indexed_points: int
    segments: int
    status: Status
    payload_indexes: Mapping[str, str] = field(default_factory=dict)
    quantization: str = "none"
    keywords: bool = False


@dataclass(frozen=True)
class QueryParams:
    """Knobs of one query. ``oversampling`` (default ``store.oversampling``) and
    ``rescore`` apply to quantized collections only: ``limit x oversampling`` candidates by their
    quantized scores, rescored on the original vectors unless ``rescore`` is False. ``mode``
    (vector, keyword, hybrid: :mod:`modalign.search.hybrid`); a hybrid query fuses the best
    ``prefetch`` (default ``store.hybrid_prefetch``) of each list, the keyword list weighing
    ``keyword_weight`` (default ``store.keyword_weight``) against the dense list's 1."""

    limit: int = 10
    offset: int = 0
    score_threshold: float | None = None
    hnsw_ef: int | None = None
    exact: bool = False
    oversampling: float | None = None
    rescore: bool = True
    mode: str = "vector"
    prefetch: int | None = None
    keyword_weight: float | None = None


class VectorStore(Protocol):
    """What search and ingestion need from a vector store (see the module docstring)."""

    def create_version(self, version: str, *, image_dim: int, caption_dim: int) -> None: ...

    def drop_version(self, version: str) -> None: ...

    def versions(self) -> list[str]: ...

    def set_active_version(self, version: str) -> None: ...

    def active_version(self) -> str | None: ...

    def upsert(
        self, kind: Kind, points: Sequence[PointIn], *, version: str | None = None
    ) -> None: ...

    def delete(self, kind: Kind, ids: Sequence[str], *, version: str | None = None) -> None: ...

    def delete_where(self, kind: Kind, filter: Filter, *, version: str | None = None) -> None: ...

    def set_payload(
        self, kind: Kind, updates: Sequence[PayloadUpdate], *, version: str | None = None
    ) -> None: ...

    def count(
        self, kind: Kind, *, filter: Filter | None = None, version: str | None = None
    ) -> int: ...

    def retrieve(
        self,
        kind: Kind,
        ids: Sequence[str],
        *,
        with_vectors: bool = False,
        version: str | None = None,
    ) -> list[Record]: ...

    def scroll(
        self,
        kind: Kind,
        *,
        filter: Filter | None = None,
        limit: int = 100,
        with_vectors: bool = False,
        version: str | None = None,
    ) -> list[Record]: ...

    def scroll_all(
        self,
        kind: Kind,
        *,
        filter: Filter | None = None,
        with_vectors: bool = False,
        version: str | None = None,
        page: int = 1000,
    ) -> Iterator[Record]: ...

    def query(
        self,
        kind: Kind,
        vector: np.ndarray | Sequence[float] | None,
        *,
        sparse: SparseVector | None = None,
        filter: Filter | None = None,
        params: QueryParams = QueryParams(),
        version: str | None = None,
    ) -> list[Hit]: ...

    def resolve(self, version: str | None) -> str: ...

    def info(self, kind: Kind, *, version: str | None = None) -> CollectionInfo: ...

    def has_keywords(self, version: str | None = None) -> bool: ...

    def optimize(self, *, version: str | None = None) -> None: ...

    def pause_writes(self) -> AbstractContextManager[None]: ...

    def snapshot(self, dest: Path) -> None: ...

    def close(self) -> None: ...
