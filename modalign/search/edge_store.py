"""The embedded vector store: one qdrant-edge ``EdgeShard`` per collection, in this process.

Layout under ``settings.paths.store_dir``: ``state.json`` (versions and the active one, see
:mod:`modalign.search.edge_state`), ``.lock`` and ``collections/<collection>/`` (one shard each).

qdrant-edge's constraints, and how this backend handles them:

- **One process owns a shard** (its WAL is locked). The store takes an exclusive ``flock`` on
  ``.lock`` when opened and raises :class:`StoreError` with an explanation if another process holds
  it. Within the process one store object is shared by all threads: shards are thread-safe and
  release the GIL while they search.
- **No background optimizer.** New points land in an appendable *plain* segment that is searched
  exactly, so an upsert is searchable as soon as it returns, just not through HNSW. The HNSW graph
  (``m`` / ``ef_construct`` from the settings) is built by :meth:`EdgeStore.optimize`, which blocks
  and uses the CPU. It is called after bulk loads (end of an ingest job, a benchmark load), never
  on the query path; it skips collections whose unindexed part is below the indexing threshold
  (:data:`INDEXING_THRESHOLD_KB`, where an exact scan is as fast as a graph). ``info().status`` is
  ``yellow`` when enough points wait for it.
- **Payload indexes before data**: ``create_version`` declares them right after creating the
  shard, so the graph gets filter-aware links and filtered queries use the indexes.
- **Durability**: every ``upsert`` / ``delete`` goes through the shard's WAL and is followed by
  ``flush()``, so it is on disk when the call returns. :meth:`EdgeStore.close` closes every shard
  and releases the lock; use the store as a context manager or call it at shutdown. A shard is
  flushed again before its close only if a change of it has not been flushed (its flush failed):
  a redundant flush costs as much as the close itself (measured: 0.83 s -> 0.43 s to close both
  collections), and Celery workers sharing one store open and close it for every batch.
- **A full disk**: shard files are sparse memory maps, and touching a new page of one on a
  full disk kills the process with SIGBUS. Every write first checks that ``min_free_mb`` (a
  setting) are free on the store's disk and raises :class:`~modalign.errors.DiskFullError`
  otherwise; an ENOSPC that still reaches qdrant-edge is raised as DiskFullError too.
- **Damage**: a shard that cannot be loaded raises :class:`StoreError` naming the shard and,
  for a damaged write-ahead log (a torn write), the repair. qdrant-edge's Rust panics (pyo3's
  ``PanicException``, a ``BaseException``) become StoreError like its other errors.
- **Quantization** (``store.quantization``, :mod:`modalign.search.quantization`) is part of a
  shard's config, fixed at its creation and recorded per version in ``state.json``. A quantized
  shard keeps its original vectors on disk (``Memory.Cold``: memory-mapped, read for rescoring) and
  the quantized ones pinned in RAM; the quantized copy is built with the HNSW graph by
  :meth:`EdgeStore.optimize` (fresh points, in the plain segment, are scored exactly). An exact
  query ignores the quantization.
- **Keyword vectors** (:mod:`modalign.search.hybrid`): a new version's shards get a sparse vector
  ``keywords`` with ``Modifier.Idf`` beside the unnamed dense one (``keywords: true`` in
  ``state.json``); keyword and hybrid queries are one ``QueryRequest`` (prefetches fused by
  ``Fusion.Rrf``). A version recorded without it keeps its dense-only shards.
- **Aliases** do not exist in qdrant-edge: the active version is one value in ``state.json``
  (replaced atomically) and in memory; a query resolves it once, so it never mixes two versions.
- **Snapshots**: qdrant-edge reads snapshots a Qdrant server made (``unpack_snapshot``,
  ``update_from_snapshot``) but cannot write one. :meth:`EdgeStore.snapshot` copies the shard
  folders instead, inside :meth:`EdgeStore.pause_writes`: every write (upsert, delete, optimize,
  version changes, close) waits for the pause, every shard is flushed, and queries keep running.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import qdrant_edge as qe

from modalign.config import StoreSettings
from modalign.disk import MB, check_free_space, disk_full_error, is_disk_full
from modalign.errors import InvalidInputError, ModalignError, NotFoundError, StoreError
from modalign.faults import fault_point
from modalign.filecopy import copy_tree
from modalign.search import checks
from modalign.search.edge_filters import to_edge
from modalign.search.edge_state import (
    STATE_FILE,
    StoreState,
    VersionSpec,
    load_state,
    lock_directory,
    save_state,
)
from modalign.search.filters import Filter
from modalign.search.hybrid import KEYWORDS, missing_keywords, prefetch_depth
from modalign.search.naming import Kind, check_version, collection_name
from modalign.search.pause import WritePause, pausable_write
from modalign.search.quantization import QUANTILE, check_kind, check_unchanged
from modalign.search.rwlock import RWLock
from modalign.search.schema import FieldType, fields_of
from modalign.search.sparse import SparseVector
from modalign.search.store import (
    CollectionInfo,
    Hit,
    PayloadUpdate,
    PointIn,
    QueryParams,
    Record,
    in_request_order,
    record_from,
)

log = logging.getLogger(__name__)

PANIC = "PanicException"  # pyo3_runtime.PanicException (a BaseException), not importable
INDEXING_THRESHOLD_KB = 10_000  # segments smaller than this are searched exactly, never indexed
FULL_SCAN_THRESHOLD_KB = 10_000  # filters matching less than this are scored exactly via the index

_INDEX_TYPES = {
    FieldType.KEYWORD: qe.PayloadSchemaType.Keyword,
    FieldType.INTEGER: qe.PayloadSchemaType.Integer,
    FieldType.DATETIME: qe.PayloadSchemaType.Datetime,
}


class EdgeStore:
    """qdrant-edge backend of :class:`~modalign.search.store.VectorStore`."""

    def __init__(
        self,
        root: Path,
        settings: StoreSettings,
        *,
        indexing_threshold_kb: int = INDEXING_THRESHOLD_KB,
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self._root = root
        self._settings = settings
        self._indexing_threshold_kb = indexing_threshold_kb
        self._lock_handle: IO[str] | None = lock_directory(root)
        self._lock = threading.Lock()
        self._gate = RWLock()
        self.write_pause = WritePause()
        self._shards: dict[str, qe.EdgeShard] = {}
        self._unflushed: dict[int, int] = {}  # id(shard) -> changes begun and not yet flushed
        self._names: dict[tuple[str, Kind], str] = {}
        self._state = load_state(root)

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> EdgeStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @pausable_write
    def close(self) -> None:
        """Flush and close every open shard and release the directory lock (idempotent)."""
        with self._gate.write():
            for name in list(self._shards):
                self._close_shard(name)
            if self._lock_handle is not None:
                self._lock_handle.close()
                self._lock_handle = None

    # -- versions ----------------------------------------------------------------------------

    @pausable_write
    def create_version(self, version: str, *, image_dim: int, caption_dim: int) -> None:
        """Create both collections of ``version`` (no-op if they exist with the same sizes and
        quantization; ConfigError if the settings ask for another quantization)."""
        check_version(version)
        spec = VersionSpec(image_dim, caption_dim, self._settings.quantization, keywords=True)
        with self._gate.write():
            self._check_open()
            known = self._state.versions.get(version)
            if known is not None:
                self._check_same_spec(version, known, spec)
                return
            self._check_space(f"creating the collections of {version}")
            for kind, dim in ((Kind.IMAGES, image_dim), (Kind.CAPTIONS, caption_dim)):
                self._create_shard(self._name(version, kind), kind, dim, spec)
            self._update_state(lambda state: state.with_version(version, spec))
        log.info(
            "created collections of version %s (dims %d/%d, quantization %s)",
            version, image_dim, caption_dim, spec.quantization,
        )

    @pausable_write
    def drop_version(self, version: str) -> None:
        """Delete both collections of a version that is not the active one."""
        with self._gate.write():
            self._check_open()
            self._spec(version)
            if self._state.active == version:
                raise InvalidInputError(f"version {version!r} is active; activate another first")
            for kind in Kind:
                name = self._name(version, kind)
                self._close_shard(name)
                shutil.rmtree(self._shard_path(name), ignore_errors=True)
            self._update_state(lambda state: state.without_version(version))

    def versions(self) -> list[str]:
        """Model versions with collections in this store."""
        return sorted(self._state.versions)

    @pausable_write
    def set_active_version(self, version: str) -> None:
        """Point the images and captions aliases at ``version``, atomically for readers."""
        self._check_open()
        self._spec(version)
        self._update_state(lambda state: StoreState(versions=state.versions, active=version))
        log.info("active version is now %s", version)

    def active_version(self) -> str | None:
        """The version queries use by default (None before the first activation)."""
        return self._state.active

    def resolve(self, version: str | None) -> str:
        """``version``, or the active one if None; NotFoundError if there is none."""
        state = self._state  # one read: the alias pair cannot change under us
        chosen = state.active if version is None else version
        if chosen is None:
            raise NotFoundError("no active model version in the vector store; activate one first")
        if chosen not in state.versions:
            raise NotFoundError(f"model version {chosen!r} has no collections in the vector store")
        return chosen

    # -- points ------------------------------------------------------------------------------

    @pausable_write
    def upsert(self, kind: Kind, points: Sequence[PointIn], *, version: str | None = None) -> None:
        """Insert or replace points; durable (WAL + flush) when this returns."""
        if not points:
            return
        with self._gate.read():
            shard, dim, spec = self._target(kind, version)
            self._check_space(f"upserting {len(points)} {kind.value} points")
            rows = checks.points_in(kind, points, dim)
            sparse = checks.sparse_points(points, spec.keywords)
            batch = [
                qe.Point(pid, _vectors(vec, keywords), payload)
                for (pid, vec, payload), keywords in zip(rows, sparse, strict=True)
            ]
            with self._flushed(shard):
                fault_point("store.upsert")
                self._call(shard.update, qe.UpdateOperation.upsert_points(batch))

    @pausable_write
    def delete(self, kind: Kind, ids: Sequence[str], *, version: str | None = None) -> None:
        """Delete points by id (unknown ids are ignored); durable when this returns."""
        if not ids:
            return
        with self._using(kind, version) as (shard, _):
            self._check_space(f"deleting {len(ids)} {kind.value} points")
            pids: list[Any] = checks.point_ids(ids)
            with self._flushed(shard):
                self._call(shard.update, qe.UpdateOperation.delete_points(pids))

    @pausable_write
    def delete_where(self, kind: Kind, filter: Filter, *, version: str | None = None) -> None:
        """Delete every point matching ``filter`` (a non-empty one); durable when this returns."""
        flt = to_edge(checks.required_filter(kind, filter))
        self._check_space(f"deleting {kind.value} points")
        with self._using(kind, version) as (shard, _), self._flushed(shard):
            self._call(shard.update, qe.UpdateOperation.delete_points_by_filter(flt))

    @pausable_write
    def set_payload(
        self, kind: Kind, updates: Sequence[PayloadUpdate], *, version: str | None = None
    ) -> None:
        """Set each update's image fields on the points its filter matches; one flush for all."""
        ops = [
            qe.UpdateOperation.set_payload_by_filter(
                to_edge(checks.required_filter(kind, u.filter)), checks.image_fields(u.payload)
            )
            for u in updates
        ]
        if not ops:
            return
        self._check_space(f"relabelling {kind.value} points")
        with self._using(kind, version) as (shard, _), self._flushed(shard):
            for op in ops:
                self._call(shard.update, op)

    def count(self, kind: Kind, *, filter: Filter | None = None, version: str | None = None) -> int:
        """Exact number of points (matching ``filter`` if given)."""
        flt = to_edge(checks.query_filter(kind, filter))
        with self._using(kind, version) as (shard, _):
            return int(self._call(shard.count, qe.CountRequest(exact=True, filter=flt)))

    def retrieve(
        self,
        kind: Kind,
        ids: Sequence[str],
        *,
        with_vectors: bool = False,
        version: str | None = None,
    ) -> list[Record]:
        """The points with these ids that exist, in the order asked."""
        pids: list[Any] = checks.point_ids(ids)
        with self._using(kind, version) as (shard, _):
            found = self._call(shard.retrieve, pids, True, with_vectors)
        return in_request_order([record_from(r) for r in found], pids)

    def scroll(
        self,
        kind: Kind,
        *,
        filter: Filter | None = None,
        limit: int = 100,
        with_vectors: bool = False,
        version: str | None = None,
    ) -> list[Record]:
        """Up to ``limit`` points matching ``filter``, in id order."""
        flt = to_edge(checks.query_filter(kind, filter))
        request = qe.ScrollRequest(
            limit=limit, filter=flt, with_payload=True, with_vector=with_vectors
        )
        with self._using(kind, version) as (shard, _):
            found, _next = self._call(shard.scroll, request)
        return [record_from(r) for r in found]

    def scroll_all(
        self,
        kind: Kind,
        *,
        filter: Filter | None = None,
        with_vectors: bool = False,
        version: str | None = None,
        page: int = 1000,
    ) -> Iterator[Record]:
        """Every point matching ``filter``, in id order, read ``page`` points at a time."""
        flt = to_edge(checks.query_filter(kind, filter))
        offset: Any = None
        while True:
            request = qe.ScrollRequest(
                offset=offset, limit=page, filter=flt, with_payload=True, with_vector=with_vectors
            )
            with self._using(kind, version) as (shard, _):
                found, offset = self._call(shard.scroll, request)
            yield from (record_from(r) for r in found)
            if offset is None or not found:
                return

    def query(
        self,
        kind: Kind,
        vector: np.ndarray | Sequence[float] | None,
        *,
        sparse: SparseVector | None = None,
        filter: Filter | None = None,
        params: QueryParams = QueryParams(),
        version: str | None = None,
    ) -> list[Hit]:
        """Nearest points by cosine similarity (or keywords, or both fused), best first."""
        checks.query_params(params)
        flt = to_edge(checks.query_filter(kind, filter))
        self._gate.acquire_read()  # the hot path: no generator-based context manager
        try:
            shard, dim, spec = self._target(kind, version)
            dense, keywords = checks.query_vectors(params, vector, sparse, dim)
            if keywords is not None and not spec.keywords:
                raise missing_keywords(self._name(self.resolve(version), kind))
            request = self._request(dense, keywords, flt, params, spec.quantization != "none")
            found = self._call(shard.query, request)
        finally:
            self._gate.release_read()
        return [Hit(str(p.id), p.score, p.payload or {}) for p in found]

    # -- maintenance -------------------------------------------------------------------------

    def info(self, kind: Kind, *, version: str | None = None) -> CollectionInfo:
        """Points, indexed points, segments, status and payload indexes of one collection."""
        chosen = self.resolve(version)
        with self._using(kind, chosen) as (shard, dim):
            raw = self._call(shard.info)
            quantization = self._spec(chosen).quantization
        unindexed_kb = (raw.points_count - raw.indexed_vectors_count) * dim * 4 // 1024
        return CollectionInfo(
            name=self._name(chosen, kind),
            version=chosen,
            kind=kind,
            dim=dim,
            points=raw.points_count,
            indexed_points=raw.indexed_vectors_count,
            segments=raw.segments_count,
            status="yellow" if unindexed_kb > self._indexing_threshold_kb else "green",
            payload_indexes={k: _type_name(v.data_type) for k, v in raw.payload_schema.items()},
            quantization=quantization,
            keywords=self._spec(chosen).keywords,
        )

    def has_keywords(self, version: str | None = None) -> bool:
        """Whether the version (the active one if None) has keyword vectors."""
        return self._spec(self.resolve(version)).keywords

    @pausable_write
    def optimize(self, *, version: str | None = None) -> None:
        """Build HNSW graphs (and merge segments) where enough points wait; blocks until done."""
        fault_point("store.optimize")
        chosen = self.resolve(version)
        for kind in Kind:
            if self.info(kind, version=chosen).status == "green":
                continue
            with self._using(kind, chosen) as (shard, _):
                self._check_space(f"indexing {self._name(chosen, kind)}")
                log.info("optimizing %s", self._name(chosen, kind))
                with self._flushed(shard):
                    self._call(shard.optimize)

    @contextmanager
    def pause_writes(self) -> Iterator[None]:
        """Hold every write back for the block, once the ones in progress have finished and every
        shard is flushed; queries keep running."""
        with self.write_pause.paused():
            with self._gate.read():
                for shard in list(self._shards.values()):
                    if self._unflushed.pop(id(shard), 0):
                        self._call(shard.flush)
            yield

    def snapshot(self, dest: Path) -> None:
        """Copy ``state.json`` and every shard folder into ``dest``; only inside
        :meth:`pause_writes`, so nothing changes during the copy."""
        if not self.write_pause.held_here:
            raise StoreError("a store snapshot needs the writes paused (pause_writes)")
        with self._gate.read():
            self._check_open()
            copy_tree(self._root, dest, [STATE_FILE, "collections"])

    def raw_shard(self, kind: Kind, *, version: str | None = None) -> qe.EdgeShard:
        """The underlying shard, for benchmarks and diagnostics (do not close it yourself)."""
        with self._using(kind, version) as (shard, _):
            return shard

    # -- internals ---------------------------------------------------------------------------

    @contextmanager
    def _using(self, kind: Kind, version: str | None) -> Iterator[tuple[qe.EdgeShard, int]]:
        with self._gate.read():
            shard, dim, _ = self._target(kind, version)
            yield shard, dim

    def _target(self, kind: Kind, version: str | None) -> tuple[qe.EdgeShard, int, VersionSpec]:
        """Shard, vector size and the version's spec; call with the gate held for reading."""
        self._check_open()
        chosen = self.resolve(version)
        spec = self._state.versions[chosen]
        dim = spec.image_dim if kind is Kind.IMAGES else spec.caption_dim
        return self._shard(self._name(chosen, kind)), dim, spec

    def _request(
        self,
        dense: list[float] | None,
        keywords: SparseVector | None,
        flt: qe.Filter | None,
        params: QueryParams,
        quantized: bool,
    ) -> qe.QueryRequest:
        """One request: the dense or the keyword list, or both prefetched and fused."""
        search: qe.SearchParams | None = self._search_params(params, quantized)
        query: Any
        prefetches: list[qe.Prefetch] | None = None
        if keywords is None:
            query = qe.Query.Nearest(dense or [])
        elif dense is None:
            query, search = qe.Query.Nearest(_edge_sparse(keywords), using=KEYWORDS), None
        else:
            prefetches = self._prefetches(dense, keywords, flt, params, quantized)
            weight = params.keyword_weight or self._settings.keyword_weight
            query = qe.Fusion.Rrf(k=self._settings.rrf_k, weights=[1.0, weight])
            search = None
        return qe.QueryRequest(
            limit=params.limit,
            offset=params.offset,
            query=query,
            prefetches=prefetches,
            filter=flt,
            score_threshold=params.score_threshold,
            params=search,
            with_payload=True,
        )

    def _prefetches(
        self,
        dense: list[float],
        keywords: SparseVector,
        flt: qe.Filter | None,
        params: QueryParams,
        quantized: bool,
    ) -> list[qe.Prefetch]:
        """The dense and the keyword list of a hybrid query, each filtered."""
        search = self._search_params(params, quantized)
        depth = prefetch_depth(
            params.limit, params.offset, params.prefetch or self._settings.hybrid_prefetch
        )
        sparse_query = qe.Query.Nearest(_edge_sparse(keywords), using=KEYWORDS)
        return [
            qe.Prefetch(limit=depth, query=qe.Query.Nearest(dense), filter=flt, params=search),
            qe.Prefetch(limit=depth, query=sparse_query, filter=flt),
        ]

    def _search_params(self, params: QueryParams, quantized: bool) -> qe.SearchParams:
        return qe.SearchParams(
            hnsw_ef=params.hnsw_ef or self._settings.hnsw_ef,
            exact=params.exact,
            quantization=self._quantization_params(params) if quantized else None,
        )

    def _quantization_params(self, params: QueryParams) -> qe.QuantizationSearchParams:
        """Oversampling and rescoring of a query; an exact query scores the original vectors."""
        if params.exact:
            return qe.QuantizationSearchParams(ignore=True)
        oversampling = params.oversampling or self._settings.oversampling
        return qe.QuantizationSearchParams(rescore=params.rescore, oversampling=oversampling)

    def _shard(self, name: str) -> qe.EdgeShard:
        shard = self._shards.get(name)
        if shard is not None:
            return shard
        with self._lock:
            if name not in self._shards:
                self._shards[name] = self._load_shard(name)
            return self._shards[name]

    def _load_shard(self, name: str) -> qe.EdgeShard:
        path = self._shard_path(name)
        try:
            shard: qe.EdgeShard = self._call(qe.EdgeShard.load, str(path))
        except StoreError as exc:
            message = f"cannot open collection {name} at {path}: {exc}; {_repair(path, exc)}"
            raise StoreError(message) from exc
        return shard

    def _create_shard(self, name: str, kind: Kind, dim: int, spec: VersionSpec) -> None:
        path = self._shard_path(name)
        if path.exists():  # left by a create that crashed before saving the state
            shutil.rmtree(path)
        config = self._config(dim, spec.quantization, spec.keywords)
        shard = self._call(qe.EdgeShard.create, str(path), config)
        for field, ftype in fields_of(kind).items():
            self._call(
                shard.update, qe.UpdateOperation.create_field_index(field, _INDEX_TYPES[ftype])
            )
        self._call(shard.flush)
        self._shards[name] = shard

    def _config(self, dim: int, quantization: str, keywords: bool) -> qe.EdgeConfig:
        hnsw = qe.HnswIndexConfig(
            m=self._settings.hnsw_m,
            ef_construct=self._settings.hnsw_ef_construct,
            full_scan_threshold=FULL_SCAN_THRESHOLD_KB,
        )
        quantized = _quantization_config(quantization, self._settings.quantization_always_ram)
        originals = qe.Memory.Cold if quantized is not None else None  # None: the default, Cached
        sparse = {KEYWORDS: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)}
        return qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine, memory=originals),
            sparse_vectors=sparse if keywords else None,
            hnsw_config=hnsw,
            quantization_config=quantized,
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=self._indexing_threshold_kb),
            payload_memory=qe.Memory.Cached,  # every hit returns its payload: keep it in RAM
        )

    def _close_shard(self, name: str) -> None:
        shard = self._shards.pop(name, None)
        if shard is not None:
            if self._unflushed.pop(id(shard), 0):
                self._call(shard.flush)
            self._call(shard.close)

    @contextmanager
    def _flushed(self, shard: qe.EdgeShard) -> Iterator[None]:
        """Changes made inside are flushed on leaving; until that flush succeeds the shard counts
        as unflushed, so :meth:`_close_shard` flushes it first."""
        key = id(shard)
        with self._lock:
            self._unflushed[key] = self._unflushed.get(key, 0) + 1
        yield
        fault_point("store.flush")
        self._call(shard.flush)
        with self._lock:
            left = self._unflushed.get(key, 1) - 1
            if left > 0:
                self._unflushed[key] = left
            else:
                self._unflushed.pop(key, None)

    def _spec(self, version: str) -> VersionSpec:
        spec = self._state.versions.get(version)
        if spec is None:
            raise NotFoundError(f"model version {version!r} has no collections in the vector store")
        return spec

    def _check_same_spec(self, version: str, known: VersionSpec, spec: VersionSpec) -> None:
        if (known.image_dim, known.caption_dim) != (spec.image_dim, spec.caption_dim):
            raise InvalidInputError(
                f"version {version!r} exists with vector sizes {known.image_dim}/"
                f"{known.caption_dim}, not {spec.image_dim}/{spec.caption_dim}"
            )
        check_unchanged(self._name(version, Kind.IMAGES), known.quantization, spec.quantization)

    def _update_state(self, change: Callable[[StoreState], StoreState]) -> None:
        with self._lock:
            state = change(self._state)
            fault_point("store.state")
            try:
                save_state(self._root, state)
            except OSError as exc:
                raise self._error(exc, "saving the store state") from exc
            self._state = state

    def _check_open(self) -> None:
        if self._lock_handle is None:
            raise StoreError("the vector store is closed")

    def _name(self, version: str, kind: Kind) -> str:
        key = (version, kind)
        name = self._names.get(key)
        if name is None:
            name = self._names[key] = collection_name(
                self._settings.collection_prefix, version, kind
            )
        return name

    def _shard_path(self, name: str) -> Path:
        return self._root / "collections" / name

    def _check_space(self, doing: str) -> None:
        check_free_space(self._root, self._settings.min_free_mb * MB, doing)

    def _call(self, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # qdrant-edge raises bare Exception
            raise self._error(exc, "writing the vector store") from exc
        except BaseException as exc:
            if type(exc).__name__ != PANIC:
                raise  # KeyboardInterrupt, SystemExit
            raise StoreError(f"qdrant-edge panicked: {exc}") from exc

    def _error(self, exc: BaseException, doing: str) -> ModalignError:
        if is_disk_full(exc):
            return disk_full_error(self._root, doing)
        return StoreError(f"qdrant-edge: {exc}")


def _vectors(dense: list[float], keywords: SparseVector | None) -> Any:
    """A point's vectors: the dense one alone, or named with its keyword vector."""
    if keywords is None:
        return dense
    return {"": dense, KEYWORDS: _edge_sparse(keywords)}


def _edge_sparse(vector: SparseVector) -> qe.SparseVector:
    return qe.SparseVector(list(vector.indices), list(vector.values))


def _quantization_config(
    kind: str, always_ram: bool
) -> qe.ScalarQuantizationConfig | qe.BinaryQuantizationConfig | None:
    """qdrant-edge's config for a quantization kind (None for none)."""
    check_kind(kind)
    memory = qe.Memory.Pinned if always_ram else qe.Memory.Cached
    if kind == "int8":
        return qe.ScalarQuantizationConfig(
            type=qe.ScalarType.Int8, quantile=QUANTILE, memory=memory
        )
    if kind == "binary":
        return qe.BinaryQuantizationConfig(  # the query kept at 8 bits: better recall, same size
            memory=memory, query_encoding=qe.BinaryQuantizationQueryEncoding.Scalar8Bits
        )
    return None


def _repair(path: Path, exc: StoreError) -> str:
    """What to do about a shard that does not load."""
    wal = path / "wal"
    if "WAL" in str(exc):
        return (
            f"its write-ahead log is damaged (a torn write): move it aside (mv {wal} {wal}.damaged)"
            " and open the store again. Every write is flushed to the segments before it returns,"
            " so the log holds only writes no batch was counted for; `modalign jobs resume`"
            " re-writes those"
        )
    return f"its segment files are damaged: restore {path} from a backup"


def _type_name(data_type: Any) -> str:
    return str(data_type).rsplit(".", 1)[-1].lower()  # PayloadSchemaType.Keyword -> keyword
