"""The mapper stage: embed the images and captions a batch's work asks for, in two calls.

If a whole-batch call fails, a known-good canary input is encoded first: if the canary fails too,
the encoder itself is broken (a tower that cannot load, say) and :class:`EncoderError` stops the
batch, leaving its items pending for a retry or ``resume`` instead of failing every one of them.
Otherwise each input is encoded on its own, so only the culprit's asset fails. A
:class:`~modalign.errors.TransientError` always propagates (retry).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from PIL import Image

from modalign.errors import EncoderError, TransientError
from modalign.ingest.work import AssetWork

if TYPE_CHECKING:
    from modalign.encoders.dual import DualEncoder

log = logging.getLogger(__name__)

T = TypeVar("T")
CANARY_TEXT = "a photo"


def _canary_image() -> Image.Image:
    return Image.new("RGB", (64, 64), (200, 120, 40))


Row = np.ndarray | str  # a vector, or why the input could not be encoded


def encode_work(encoder: DualEncoder, works: Sequence[AssetWork]) -> None:
    """Fill each work's vectors, or set its error."""
    image_works = [w for w in works if w.embed_image]
    images = [w.first.image.image for w in image_works]
    image_rows = _encode_robust(encoder.encode_images, images, encoder.dim, _canary_image)
    for work, row in zip(image_works, image_rows, strict=True):
        if isinstance(row, str):
            work.error = f"image encoder failed: {row}"
        else:
            work.image_vector = row
    text_works = [w for w in works if w.error is None and w.embed_captions]
    texts = [text for w in text_works for text in w.embed_captions]
    text_rows = iter(_encode_robust(encoder.encode_texts, texts, encoder.dim, lambda: CANARY_TEXT))
    for work in text_works:
        rows = [next(text_rows) for _ in work.embed_captions]
        failed = [row for row in rows if isinstance(row, str)]
        if failed:
            work.error = f"text encoder failed: {failed[0]}"
        else:
            work.caption_vectors = [row for row in rows if not isinstance(row, str)]


def _encode_robust(
    encode: Callable[[Sequence[T]], np.ndarray],
    inputs: Sequence[T],
    dim: int,
    canary: Callable[[], T],
) -> list[Row]:
    """One row (or an error message) per input; EncoderError if the encoder itself is broken."""
    if not inputs:
        return []
    try:
        return list(_checked(encode(inputs), len(inputs), dim))
    except TransientError:
        raise
    except Exception as exc:
        log.warning("batch encoding failed (%s); checking the encoder with a canary", exc)
        batch_error = exc
    if isinstance(_encode_one(encode, canary(), dim), str):
        raise EncoderError(f"the encoder fails on a known-good input: {batch_error}")
    return [_encode_one(encode, item, dim) for item in inputs]


def _encode_one(encode: Callable[[Sequence[T]], np.ndarray], item: T, dim: int) -> Row:
    try:
        vector: np.ndarray = _checked(encode([item]), 1, dim)[0]
    except TransientError:
        raise
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return vector


def _checked(vectors: np.ndarray, count: int, dim: int) -> np.ndarray:
    array = np.asarray(vectors, dtype=np.float32)
    if array.shape != (count, dim) or not np.isfinite(array).all():
        raise EncoderError(f"encoder returned {array.shape}, expected ({count}, {dim}) finite")
    return array
