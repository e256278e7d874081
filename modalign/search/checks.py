"""Input checks shared by the store backends, so both reject the same inputs the same way."""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from modalign.errors import InvalidInputError
from modalign.search.filters import Filter, check_filter
from modalign.search.hybrid import check_fusion, check_mode
from modalign.search.naming import Kind
from modalign.search.quantization import check_oversampling
from modalign.search.schema import CaptionPayload, ImagePayload, Payload, fields_of
from modalign.search.sparse import SparseVector
from modalign.search.store import PointIn, QueryParams

MAX_LIMIT = 1000


def vector_list(vector: np.ndarray | Sequence[float], dim: int) -> list[float]:
    """The vector as floats if it is one-dimensional, of size ``dim``, finite and non-zero."""
    with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, refused below
        arr = np.asarray(vector, dtype=np.float32)
    if arr.ndim != 1 or arr.shape[0] != dim:
        raise InvalidInputError(f"expected a vector of size {dim}, got shape {tuple(arr.shape)}")
    norm = float(np.dot(arr, arr))
    if not math.isfinite(norm) or norm == 0.0:
        raise InvalidInputError("the vector must be finite and non-zero")
    values: list[float] = arr.tolist()
    return values


def point_ids(ids: Sequence[str]) -> list[str]:
    """Ids as canonical UUID strings; InvalidInputError for anything else."""
    out = []
    for pid in ids:
        try:
            out.append(str(uuid.UUID(str(pid))))
        except ValueError:
            raise InvalidInputError(f"point id {pid!r} is not a UUID") from None
    return out


def store_payload(kind: Kind, payload: Payload) -> dict[str, Any]:
    """The JSON payload of a point, after checking it fits the collection kind."""
    is_caption = isinstance(payload, CaptionPayload)
    if is_caption != (kind is Kind.CAPTIONS):
        want = "CaptionPayload" if kind is Kind.CAPTIONS else "ImagePayload"
        raise InvalidInputError(f"{kind.value} points need a {want}, got {type(payload).__name__}")
    return payload.to_store()


def image_fields(payload: ImagePayload) -> dict[str, Any]:
    """The image fields of a payload as stored (what ``set_payload`` writes on both kinds)."""
    if isinstance(payload, CaptionPayload):
        raise InvalidInputError("set_payload takes the image fields (an ImagePayload)")
    return payload.to_store()


def required_filter(kind: Kind, flt: Filter) -> Filter:
    """A checked filter that matches something specific: an empty one would touch every point."""
    checked = query_filter(kind, flt)
    if checked is None:
        raise InvalidInputError("an empty filter would match every point; name what to change")
    return checked


def points_in(
    kind: Kind, points: Sequence[PointIn], dim: int
) -> list[tuple[str, list[float], dict[str, Any]]]:
    """(id, vector, payload) triples of checked points."""
    ids = point_ids([p.id for p in points])
    return [
        (pid, vector_list(p.vector, dim), store_payload(kind, p.payload))
        for pid, p in zip(ids, points, strict=True)
    ]


def query_params(params: QueryParams) -> QueryParams:
    """``params`` if its numbers are in range; InvalidInputError otherwise."""
    if not 1 <= params.limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}, got {params.limit}")
    if params.offset < 0:
        raise InvalidInputError(f"offset must be >= 0, got {params.offset}")
    if params.hnsw_ef is not None and params.hnsw_ef < 1:
        raise InvalidInputError(f"ef must be >= 1, got {params.hnsw_ef}")
    check_oversampling(params.oversampling)
    check_mode(params.mode)
    check_fusion(params.prefetch, params.keyword_weight)
    return params


def query_vectors(
    params: QueryParams,
    vector: np.ndarray | Sequence[float] | None,
    sparse: SparseVector | None,
    dim: int,
) -> tuple[list[float] | None, SparseVector | None]:
    """The dense and keyword query of a checked mode: each where the mode uses it, refused where
    the mode needs it and it is missing (or, for keywords, empty)."""
    mode = check_mode(params.mode)
    dense = None
    if mode != "keyword":
        if vector is None:
            raise InvalidInputError(f"a {mode} query needs a vector")
        dense = vector_list(vector, dim)
    if mode == "vector":
        return dense, None
    if sparse is None or not sparse:
        raise InvalidInputError(f"a {mode} query needs keywords (a non-empty sparse vector)")
    return dense, sparse


def sparse_points(
    points: Sequence[PointIn], keywords: bool
) -> list[SparseVector | None]:
    """Each point's non-empty keyword vector where the collection has keyword vectors."""
    return [p.sparse if keywords and p.sparse else None for p in points]


def query_filter(kind: Kind, flt: Filter | None) -> Filter | None:
    """The filter checked against the kind's schema; None for no filter or an empty one."""
    if flt is None or flt.is_empty():
        return None
    return check_filter(flt, fields_of(kind))
