"""A small synthetic collection (random vectors, varied payloads) and brute-force answers."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from modalign.search import CaptionPayload, ImagePayload, PointIn, image_point_id
from modalign.search.filters import (
    Condition,
    DatetimeRange,
    Filter,
    IsEmpty,
    Match,
    MatchAny,
    Range,
)
from modalign.search.naming import caption_point_id

IMAGE_DIM = 32
CAPTION_DIM = 24
SOURCES = ["emoji", "clipart", "coco", "flickr", "folder"]
TAGS = ["animal", "food", "plant", "flag", "face", "tool"]
EPOCH = datetime(2025, 6, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Dataset:
    """Points of both kinds and their vectors as matrices (rows in point order)."""

    images: list[PointIn]
    image_vectors: np.ndarray
    captions: list[PointIn]
    caption_vectors: np.ndarray


def _hash(i: int, salt: str = "") -> str:
    return hashlib.sha256(f"{salt}{i}".encode()).hexdigest()


def _image_payload(i: int, rng: np.random.Generator) -> ImagePayload:
    tags = [t for t in TAGS if rng.random() < 0.25]
    return ImagePayload(
        asset_id=i + 1,
        content_hash=_hash(i),
        source=SOURCES[int(rng.integers(len(SOURCES)))],
        dataset=None if i % 7 == 0 else f"set{i % 3}",
        split=None if i % 5 == 0 else ["train", "val", "test"][i % 3],
        tags=tags,
        created_at=EPOCH + timedelta(hours=int(rng.integers(0, 24 * 400))),
        width=int(rng.integers(8, 1024)),
        height=int(rng.integers(8, 1024)),
    )


def make_dataset(n_images: int = 1500, seed: int = 7) -> Dataset:
    """``n_images`` images with one or two captions each, all reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    image_vectors = rng.normal(size=(n_images, IMAGE_DIM)).astype(np.float32)
    images, captions = [], []
    for i in range(n_images):
        payload = _image_payload(i, rng)
        images.append(PointIn(image_point_id(payload.content_hash), image_vectors[i], payload))
        for pos in range(1 + i % 2):
            captions.append(_caption(payload, pos, images[-1].id))
    caption_vectors = rng.normal(size=(len(captions), CAPTION_DIM)).astype(np.float32)
    captions = [PointIn(c.id, v, c.payload) for c, v in zip(captions, caption_vectors, strict=True)]
    return Dataset(images, image_vectors, captions, caption_vectors)


def _caption(image: ImagePayload, position: int, image_id: str) -> PointIn:
    text = f"caption {position} of asset {image.asset_id}"
    payload = CaptionPayload(
        **image.model_dump(), text=text, position=position, image_point_id=image_id
    )
    text_hash = hashlib.sha256(text.encode()).hexdigest()
    return PointIn(caption_point_id(image.content_hash, text_hash), np.zeros(1), payload)


# -- brute force ---------------------------------------------------------------------------


def matches(flt: Filter | None, payload: Mapping[str, Any]) -> bool:
    """Whether a stored payload passes the filter, computed directly in Python."""
    if flt is None:
        return True
    if not all(_holds(c, payload) for c in flt.must):
        return False
    if flt.should and not any(_holds(c, payload) for c in flt.should):
        return False
    return not any(_holds(c, payload) for c in flt.must_not)


def _values(payload: Mapping[str, Any], field: str) -> list[Any]:
    value = payload.get(field)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _in_bounds(x: Any, cond: Range | DatetimeRange) -> bool:
    return (
        (cond.gt is None or x > cond.gt)
        and (cond.gte is None or x >= cond.gte)
        and (cond.lt is None or x < cond.lt)
        and (cond.lte is None or x <= cond.lte)
    )


def _holds(cond: Condition, payload: Mapping[str, Any]) -> bool:
    if isinstance(cond, Filter):
        return matches(cond, payload)
    values = _values(payload, cond.field)
    if isinstance(cond, Match):
        return cond.value in values
    if isinstance(cond, MatchAny):
        return any(v in cond.values for v in values)
    if isinstance(cond, Range):
        return any(_in_bounds(v, cond) for v in values)
    if isinstance(cond, DatetimeRange):
        return any(_in_bounds(_parse(v), _utc_bounds(cond)) for v in values)
    assert isinstance(cond, IsEmpty)
    return not values


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _utc_bounds(cond: DatetimeRange) -> DatetimeRange:
    def utc(d: datetime | None) -> datetime | None:
        return d if d is None or d.tzinfo else d.replace(tzinfo=UTC)

    return DatetimeRange(
        field=cond.field, gt=utc(cond.gt), gte=utc(cond.gte), lt=utc(cond.lt), lte=utc(cond.lte)
    )


def exact_top(
    points: list[PointIn], vectors: np.ndarray, query: np.ndarray, flt: Filter | None, k: int
) -> list[tuple[str, float]]:
    """Top-k (id, cosine) among points passing the filter, by numpy."""
    keep = [i for i, p in enumerate(points) if matches(flt, p.payload.to_store())]
    if not keep:
        return []
    mat = vectors[keep] / np.linalg.norm(vectors[keep], axis=1, keepdims=True)
    scores = mat @ (query / np.linalg.norm(query))
    order = np.argsort(-scores)[:k]
    return [(points[keep[j]].id, float(scores[j])) for j in order]
