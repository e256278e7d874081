"""The server vector store: qdrant-client against a Qdrant server (or its local mode, in tests).

- **Aliases** are Qdrant's own: ``<prefix>__images`` / ``<prefix>__captions``.
  ``set_active_version`` deletes and recreates both in one ``update_collection_aliases`` call,
  which the server applies atomically, and queries for the active version go through the alias,
  so the server resolves it.
- **Durability**: writes use ``wait=True`` and return once the server applied them (WAL).
- **Indexing** is the server's background optimizer; :meth:`ClientStore.optimize` only waits until
  the collections report ``green``.
- **Quantization** (``store.quantization``, :mod:`modalign.search.quantization`) is the
  collection's ``quantization_config`` (quantized vectors in RAM, originals ``on_disk``), fixed at
  creation and recorded in the collection's metadata (``quantization``), which local mode keeps
  although it ignores the quantization itself. A collection without that record (created before
  it) is read from its ``quantization_config``. Queries send ``oversampling`` / ``rescore``; an
  exact query ignores the quantization.
- **Keyword vectors** (:mod:`modalign.search.hybrid`): a new collection gets the sparse vector
  ``keywords`` (``SparseVectorParams(modifier=Modifier.IDF)``) beside the unnamed dense one, read
  back from its config. Keyword and hybrid queries are one ``query_points`` call (two
  ``Prefetch`` fused by ``RrfQuery``); local mode supports all of it (sparse vectors, the IDF
  modifier, prefetch and weighted RRF), and computes it in Python like the rest.
- **Local mode** (``QdrantClient(location=":memory:")`` or ``path=``) stands in for a server in
  tests. It is a brute-force pure-Python engine: payload indexes and search params have no effect
  there (and are not sent), and it is not thread-safe, so this class serialises calls to it with a
  lock. It is far too slow for real data (see ``bench/search.py``): tests and small demos only.
- **Snapshots** (:meth:`ClientStore.snapshot`, inside :meth:`ClientStore.pause_writes`, which holds
  this process's writes back): a server writes one per collection through its snapshot API, which
  is downloaded and then deleted on the server; local mode has no snapshot API (it raises), so its
  folder is copied while the writes are paused.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from modalign.config import StoreSettings
from modalign.errors import InvalidInputError, NotFoundError, StoreError, TransientError
from modalign.filecopy import copy_tree
from modalign.search import checks
from modalign.search.edge_state import VersionSpec
from modalign.search.filters import Filter
from modalign.search.hybrid import KEYWORDS, missing_keywords, prefetch_depth
from modalign.search.naming import Kind, alias_name, check_version, collection_name, version_of
from modalign.search.pause import WritePause, pausable_write
from modalign.search.qdrant_client_filters import to_client
from modalign.search.quantization import QUANTILE, check_kind, check_unchanged
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
T = TypeVar("T")

_INDEX_TYPES = {
    FieldType.KEYWORD: models.PayloadSchemaType.KEYWORD,
    FieldType.INTEGER: models.PayloadSchemaType.INTEGER,
    FieldType.DATETIME: models.PayloadSchemaType.DATETIME,
}
OPTIMIZE_TIMEOUT_S = 3600.0


class ClientStore:
    """qdrant-client backend of :class:`~modalign.search.store.VectorStore`."""

    def __init__(
        self, client: QdrantClient, settings: StoreSettings, *, local: bool,
        path: Path | None = None,
    ) -> None:
        """``path``: the folder of a local-mode client on disk (what its snapshot copies)."""
        self._client = client
        self._settings = settings
        self._local = local
        self._path = path
        self.write_pause = WritePause()
        self._lock = threading.RLock()
        self._specs: dict[str, VersionSpec] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> ClientStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @pausable_write
    def close(self) -> None:
        """Close the client's connections (or the local database)."""
        with self._guard():
            self._client.close()

    # -- versions ----------------------------------------------------------------------------

    @pausable_write
    def create_version(self, version: str, *, image_dim: int, caption_dim: int) -> None:
        """Create both collections of ``version`` (no-op if they exist with the same sizes)."""
        check_version(version)
        for kind, dim in ((Kind.IMAGES, image_dim), (Kind.CAPTIONS, caption_dim)):
            self._create_collection(self._name(version, kind), kind, dim)
        self._specs.pop(version, None)
        log.info("created collections of version %s (dims %d/%d)", version, image_dim, caption_dim)

    @pausable_write
    def drop_version(self, version: str) -> None:
        """Delete both collections of a version that is not the active one."""
        self._spec(version)
        if self.active_version() == version:
            raise InvalidInputError(f"version {version!r} is active; activate another first")
        for kind in Kind:
            self._call(self._client.delete_collection, self._name(version, kind))
        self._specs.pop(version, None)

    def versions(self) -> list[str]:
        """Model versions with an images collection on the server."""
        found = self._call(self._client.get_collections).collections
        names = (version_of(self._prefix, c.name, Kind.IMAGES) for c in found)
        return sorted(v for v in names if v is not None)

    @pausable_write
    def set_active_version(self, version: str) -> None:
        """Move both aliases to ``version`` in one atomic alias update."""
        self._spec(version)
        existing = {a.alias_name for a in self._call(self._client.get_aliases).aliases}
        ops: list[Any] = []
        for kind in Kind:
            alias = alias_name(self._prefix, kind)
            if alias in existing:
                ops.append(
                    models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))
                )
            create = models.CreateAlias(collection_name=self._name(version, kind), alias_name=alias)
            ops.append(models.CreateAliasOperation(create_alias=create))
        self._call(self._client.update_collection_aliases, change_aliases_operations=ops)
        log.info("active version is now %s", version)

    def active_version(self) -> str | None:
        """The version the images alias points at (None if there is no alias)."""
        alias = alias_name(self._prefix, Kind.IMAGES)
        for item in self._call(self._client.get_aliases).aliases:
            if item.alias_name == alias:
                return version_of(self._prefix, item.collection_name, Kind.IMAGES)
        return None

    def resolve(self, version: str | None) -> str:
        """``version``, or the active one if None; NotFoundError if there is none."""
        chosen = self.active_version() if version is None else version
        if chosen is None:
            raise NotFoundError("no active model version in the vector store; activate one first")
        self._spec(chosen)
        return chosen

    # -- points ------------------------------------------------------------------------------

    @pausable_write
    def upsert(self, kind: Kind, points: Sequence[PointIn], *, version: str | None = None) -> None:
        """Insert or replace points; applied (``wait=True``) when this returns."""
        if not points:
            return
        name, dim = self._target(kind, version)
        rows = checks.points_in(kind, points, dim)
        sparse = checks.sparse_points(points, self.has_keywords(version))
        structs = [
            models.PointStruct(id=i, vector=_vectors(v, keywords), payload=p)
            for (i, v, p), keywords in zip(rows, sparse, strict=True)
        ]
        self._call(self._client.upsert, name, structs, wait=True)

    @pausable_write
    def delete(self, kind: Kind, ids: Sequence[str], *, version: str | None = None) -> None:
        """Delete points by id (unknown ids are ignored)."""
        if not ids:
            return
        name, _ = self._target(kind, version)
        selector = models.PointIdsList(points=list(checks.point_ids(ids)))
        self._call(self._client.delete, name, points_selector=selector, wait=True)

    @pausable_write
    def delete_where(self, kind: Kind, filter: Filter, *, version: str | None = None) -> None:
        """Delete every point matching ``filter`` (a non-empty one); applied when this returns."""
        flt = to_client(checks.required_filter(kind, filter))
        name, _ = self._target(kind, version)
        selector = models.FilterSelector(filter=flt)
        self._call(self._client.delete, name, points_selector=selector, wait=True)

    @pausable_write
    def set_payload(
        self, kind: Kind, updates: Sequence[PayloadUpdate], *, version: str | None = None
    ) -> None:
        """Set each update's image fields on the points its filter matches, in one request."""
        ops: list[Any] = [
            models.SetPayloadOperation(set_payload=models.SetPayload(
                payload=checks.image_fields(u.payload),
                filter=to_client(checks.required_filter(kind, u.filter)),
            ))
            for u in updates
        ]
        if not ops:
            return
        name, _ = self._target(kind, version)
        self._call(self._client.batch_update_points, name, update_operations=ops, wait=True)

    def count(self, kind: Kind, *, filter: Filter | None = None, version: str | None = None) -> int:
        """Exact number of points (matching ``filter`` if given)."""
        flt = to_client(checks.query_filter(kind, filter))
        name, _ = self._target(kind, version)
        return int(self._call(self._client.count, name, count_filter=flt, exact=True).count)

    def retrieve(
        self,
        kind: Kind,
        ids: Sequence[str],
        *,
        with_vectors: bool = False,
        version: str | None = None,
    ) -> list[Record]:
        """The points with these ids that exist, in the order asked."""
        pids = checks.point_ids(ids)
        name, _ = self._target(kind, version)
        found = self._call(
            self._client.retrieve, name, list(pids), with_payload=True, with_vectors=with_vectors
        )
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
        """Up to ``limit`` points matching ``filter``."""
        flt = to_client(checks.query_filter(kind, filter))
        name, _ = self._target(kind, version)
        found, _next = self._call(
            self._client.scroll,
            name,
            scroll_filter=flt,
            limit=limit,
            with_payload=True,
            with_vectors=with_vectors,
        )
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
        """Every point matching ``filter``, read ``page`` points at a time."""
        flt = to_client(checks.query_filter(kind, filter))
        name, _ = self._target(kind, version)
        offset: Any = None
        while True:
            found, offset = self._call(
                self._client.scroll, name, scroll_filter=flt, limit=page, offset=offset,
                with_payload=True, with_vectors=with_vectors,
            )
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
        """Nearest points by cosine similarity (or keywords, or both fused), best first (through
        the alias if no version)."""
        checks.query_params(params)
        flt = to_client(checks.query_filter(kind, filter))
        name, dim = self._target(kind, version)
        dense, keywords = checks.query_vectors(params, vector, sparse, dim)
        if keywords is not None and not self.has_keywords(version):
            raise missing_keywords(self._name(self.resolve(version), kind))
        search = None if self._local else self._search_params(params)
        response = self._call(
            self._client.query_points,
            name,
            **self._scoring(dense, keywords, flt, params, search),
            query_filter=flt,
            limit=params.limit,
            offset=params.offset,
            score_threshold=params.score_threshold,
            with_payload=True,
        )
        return [Hit(id=str(p.id), score=p.score, payload=p.payload or {}) for p in response.points]

    # -- maintenance -------------------------------------------------------------------------

    def info(self, kind: Kind, *, version: str | None = None) -> CollectionInfo:
        """Points, indexed points, segments, status and payload indexes of one collection."""
        chosen = self.resolve(version)
        name = self._name(chosen, kind)
        raw = self._call(self._client.get_collection, name)
        return CollectionInfo(
            name=name,
            version=chosen,
            kind=kind,
            dim=_dim_of(raw),
            points=raw.points_count or 0,
            indexed_points=raw.indexed_vectors_count or 0,
            segments=raw.segments_count or 0,
            status="green" if raw.status == models.CollectionStatus.GREEN else "yellow",
            payload_indexes={k: str(v.data_type.value) for k, v in raw.payload_schema.items()},
            quantization=_quantization_of(raw),
            keywords=_keywords_of(raw),
        )

    def optimize(self, *, version: str | None = None) -> None:
        """Wait until the server's optimizer has indexed both collections (no-op in local mode)."""
        chosen = self.resolve(version)
        deadline = time.monotonic() + OPTIMIZE_TIMEOUT_S
        while not self._local and time.monotonic() < deadline:
            if all(self.info(k, version=chosen).status == "green" for k in Kind):
                return
            time.sleep(0.5)

    def pause_writes(self) -> contextlib.AbstractContextManager[None]:
        """Hold this process's writes back for the block, once the ones in progress finished."""
        return self.write_pause.paused()

    def snapshot(self, dest: Path) -> None:
        """Write every collection of this store into ``dest``, inside :meth:`pause_writes`:
        server snapshots (``<collection>.snapshot``), or the files of local mode on disk."""
        if not self.write_pause.held_here:
            raise StoreError("a store snapshot needs the writes paused (pause_writes)")
        if not self._local:
            from modalign.search.server_snapshots import download_snapshots

            names = [self._name(v, kind) for v in self.versions() for kind in Kind]
            self._call(download_snapshots, self._client, self._settings, names, dest)
            return
        if self._path is None:
            raise StoreError("an in-memory qdrant-client store has no files to snapshot")
        copy_tree(self._path, dest, ["meta.json", "collection"])  # no client call: no lock

    # -- internals ---------------------------------------------------------------------------

    @property
    def _prefix(self) -> str:
        return self._settings.collection_prefix

    def _name(self, version: str, kind: Kind) -> str:
        return collection_name(self._prefix, version, kind)

    def _target(self, kind: Kind, version: str | None) -> tuple[str, int]:
        """Collection (or alias) name and vector size; an alias is resolved by the engine."""
        if version is not None:
            return self._name(version, kind), _kind_dim(self._spec(version), kind)
        return alias_name(self._prefix, kind), self._alias_dim(kind)

    def _alias_dim(self, kind: Kind) -> int:
        dims = {_kind_dim(s, kind) for s in self._specs.values()}
        if len(dims) == 1 and not self._local:
            return dims.pop()  # every known version has this size: no need to ask which is active
        return _kind_dim(self._spec(self.resolve(None)), kind)

    def _spec(self, version: str) -> VersionSpec:
        spec = self._specs.get(version)
        if spec is None:
            image = self._call(self._client.get_collection, self._name(version, Kind.IMAGES))
            caption = self._call(self._client.get_collection, self._name(version, Kind.CAPTIONS))
            spec = VersionSpec(
                _dim_of(image), _dim_of(caption), _quantization_of(image), _keywords_of(image)
            )
            self._specs[version] = spec
        return spec

    def has_keywords(self, version: str | None = None) -> bool:
        """Whether the version (the active one if None) has keyword vectors."""
        if version is not None:
            return self._spec(version).keywords
        known = list(self._specs.values())
        if known and all(s.keywords for s in known) and not self._local:
            return True  # every known version has them: no need to ask which is active
        return self._spec(self.resolve(None)).keywords

    def _scoring(
        self,
        dense: list[float] | None,
        keywords: SparseVector | None,
        flt: models.Filter | None,
        params: QueryParams,
        search: models.SearchParams | None,
    ) -> dict[str, Any]:
        """The query_points arguments that score: a dense or a keyword query, or both
        prefetched (each filtered) and fused by reciprocal rank."""
        if keywords is None:
            return {"query": dense, "search_params": search}
        sparse = _client_sparse(keywords)
        if dense is None:
            return {"query": sparse, "using": KEYWORDS}
        depth = prefetch_depth(
            params.limit, params.offset, params.prefetch or self._settings.hybrid_prefetch
        )
        weight = params.keyword_weight or self._settings.keyword_weight
        prefetch = [
            models.Prefetch(query=dense, filter=flt, limit=depth, params=search),
            models.Prefetch(query=sparse, using=KEYWORDS, filter=flt, limit=depth),
        ]
        rrf = models.Rrf(k=self._settings.rrf_k, weights=[1.0, weight])
        return {"prefetch": prefetch, "query": models.RrfQuery(rrf=rrf)}

    def _search_params(self, params: QueryParams) -> models.SearchParams:
        """A server's search params: beam width, exactness, oversampling and rescoring."""
        if params.exact:
            quantization = models.QuantizationSearchParams(ignore=True)
        else:
            quantization = models.QuantizationSearchParams(
                rescore=params.rescore,
                oversampling=params.oversampling or self._settings.oversampling,
            )
        return models.SearchParams(
            hnsw_ef=params.hnsw_ef or self._settings.hnsw_ef,
            exact=params.exact,
            quantization=quantization,
        )

    def _check_existing(self, name: str, dim: int) -> None:
        raw = self._call(self._client.get_collection, name)
        if _dim_of(raw) != dim:
            raise InvalidInputError(
                f"collection {name} exists with vector size {_dim_of(raw)}, not {dim}"
            )
        check_unchanged(name, _quantization_of(raw), self._settings.quantization)

    def _create_collection(self, name: str, kind: Kind, dim: int) -> None:
        if self._call(self._client.collection_exists, name):
            self._check_existing(name, dim)
            return
        hnsw = models.HnswConfigDiff(
            m=self._settings.hnsw_m, ef_construct=self._settings.hnsw_ef_construct
        )
        quantization = _quantization_config(self._settings)
        on_disk = True if quantization is not None else None  # originals on disk, for rescoring
        vectors = models.VectorParams(size=dim, distance=models.Distance.COSINE, on_disk=on_disk)
        keywords = {KEYWORDS: models.SparseVectorParams(modifier=models.Modifier.IDF)}
        self._call(
            self._client.create_collection,
            name,
            vectors_config=vectors,
            sparse_vectors_config=keywords,
            hnsw_config=hnsw,
            quantization_config=quantization,
            metadata={"quantization": self._settings.quantization},
            **cluster_layout(self._settings),
        )
        if self._local:
            return  # payload indexes have no effect in local mode (and it warns)
        for field, ftype in fields_of(kind).items():
            self._call(
                self._client.create_payload_index, name, field, _INDEX_TYPES[ftype], wait=True
            )

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        if self._local:
            with self._lock:
                yield
        else:
            yield

    def _call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._guard():
            try:
                return fn(*args, **kwargs)
            except ResponseHandlingException as exc:
                raise TransientError(f"qdrant server unreachable: {exc}") from exc
            except UnexpectedResponse as exc:
                raise _response_error(exc) from exc
            except (ValueError, KeyError) as exc:
                if "not found" in str(exc).lower():
                    raise NotFoundError(str(exc)) from exc
                raise StoreError(f"qdrant-client: {exc}") from exc


def _response_error(exc: UnexpectedResponse) -> Exception:
    if exc.status_code == 404:
        return NotFoundError(f"qdrant: {exc.content!r}")
    if exc.status_code == 400:
        return InvalidInputError(f"qdrant rejected the request: {exc.content!r}")
    if exc.status_code in (429, 502, 503, 504):
        return TransientError(f"qdrant is busy ({exc.status_code})")
    return StoreError(f"qdrant: {exc}")


def _dim_of(raw: models.CollectionInfo) -> int:
    vectors = raw.config.params.vectors
    if not isinstance(vectors, models.VectorParams):
        raise StoreError("collection does not hold one unnamed dense vector")
    return vectors.size


def _keywords_of(raw: models.CollectionInfo) -> bool:
    return KEYWORDS in (raw.config.params.sparse_vectors or {})


def _vectors(dense: list[float], keywords: SparseVector | None) -> Any:
    """A point's vectors: the dense one alone, or named with its keyword vector."""
    if keywords is None:
        return dense
    return {"": dense, KEYWORDS: _client_sparse(keywords)}


def _client_sparse(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


def _quantization_config(
    settings: StoreSettings,
) -> models.ScalarQuantization | models.BinaryQuantization | None:
    """The quantization_config of a new collection (None for none)."""
    kind = check_kind(settings.quantization)
    if kind == "int8":
        scalar = models.ScalarQuantizationConfig(
            type=models.ScalarType.INT8, quantile=QUANTILE,
            always_ram=settings.quantization_always_ram,
        )
        return models.ScalarQuantization(scalar=scalar)
    if kind == "binary":
        binary = models.BinaryQuantizationConfig(
            always_ram=settings.quantization_always_ram,
            query_encoding=models.BinaryQuantizationQueryEncoding.SCALAR8BITS,
        )
        return models.BinaryQuantization(binary=binary)
    return None


def _quantization_of(raw: models.CollectionInfo) -> str:
    """The quantization a collection was created with: its metadata's record, else its config
    (a collection made before the record existed, or by another tool)."""
    recorded = (raw.config.metadata or {}).get("quantization")
    if isinstance(recorded, str):
        return recorded
    config = raw.config.quantization_config
    if isinstance(config, models.ScalarQuantization):
        return "int8"
    if isinstance(config, models.BinaryQuantization):
        return "binary"
    return "none" if config is None else type(config).__name__


def _kind_dim(spec: VersionSpec, kind: Kind) -> int:
    return spec.image_dim if kind is Kind.IMAGES else spec.caption_dim


def cluster_layout(settings: StoreSettings) -> dict[str, int]:
    """Shards, replicas and write consistency of a new collection, where Settings set them (a
    Qdrant cluster); unset fields are left out, so a single server takes its defaults. Local mode
    accepts and ignores them."""
    layout = {
        "shard_number": settings.shard_number,
        "replication_factor": settings.replication_factor,
        "write_consistency_factor": settings.write_consistency_factor,
    }
    return {key: value for key, value in layout.items() if value is not None}
