"""Typed search results: hits, and the catalog metadata they are hydrated with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class CaptionInfo:
    """One caption of an asset, from the catalog."""

    text: str
    position: int


@dataclass(frozen=True, slots=True)
class AssetInfo:
    """Catalog metadata of an image (the source of truth; the payload is a filterable copy).
    ``uri`` is relative to the data directory when the file lies inside it; ``dataset`` is the
    first of ``datasets``."""

    asset_id: int
    uri: str
    width: int
    height: int
    source: str
    dataset: str
    split: str | None
    tags: tuple[str, ...]
    created_at: datetime
    content_hash: str
    captions: tuple[CaptionInfo, ...] = field(default_factory=tuple)
    datasets: tuple[str, ...] = field(default_factory=tuple)  # every dataset it belongs to

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (datetimes as ISO strings)."""
        out: dict[str, Any] = _jsonable(asdict(self))
        return out


@dataclass(frozen=True, slots=True)
class ImageHit:
    """An image found by a search: point id, cosine similarity, payload, and catalog metadata
    (``asset`` is None when hydration was off or the asset is no longer in the catalog)."""

    point_id: str
    score: float
    asset_id: int
    payload: Mapping[str, Any]
    asset: AssetInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (datetimes as ISO strings)."""
        out: dict[str, Any] = _jsonable(asdict(self))
        return out


@dataclass(frozen=True, slots=True)
class CaptionHit:
    """A caption found by a search, with the image it describes."""

    point_id: str
    score: float
    asset_id: int
    text: str
    position: int
    image_point_id: str
    payload: Mapping[str, Any]
    asset: AssetInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (datetimes as ISO strings)."""
        out: dict[str, Any] = _jsonable(asdict(self))
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
