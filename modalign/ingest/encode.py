"""The mapper stage: embed the images and captions a batch's work asks for, in two calls.

If a whole-batch call fails, a known-good canary input is encoded first: if the canary fails too,
the encoder itself is broken (a tower that cannot load, say) and :class:`EncoderError` stops the
batch, leaving its items pending for a retry or ``resume`` instead of failing every one of them.
Otherwise each input is encoded on its own, so only the culprit's asset fails. A
:class:`~modalign.errors.TransientError` always propagates (retry).

The stage is split so that it can run in another process (see
:mod:`modalign.ingest.encoder_process`): :func:`inputs_of` takes what the works ask for (plain,
picklable data), :func:`encode_inputs` embeds it, :func:`apply_outputs` puts the vectors and
errors back on the works. :func:`encode_work` is the three in a row.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from PIL import Image

from modalign.errors import EncoderError, TransientError
from modalign.ingest.skip import AssetWork

if TYPE_CHECKING:
    from modalign.encoders.dual import DualEncoder

log = logging.getLogger(__name__)

T = TypeVar("T")
CANARY_TEXT = "a photo"


def canary_image() -> Image.Image:
    """A known-good image input."""
    return Image.new("RGB", (64, 64), (200, 120, 40))


Row = np.ndarray | str  # a vector, or why the input could not be encoded


@dataclass(frozen=True)
class EncodeInput:
    """What one work asks the encoder for: its image (None: not needed) and its captions."""

    image: Image.Image | None
    texts: tuple[str, ...]


@dataclass
class EncodeOutput:
    """One work's vectors, or why it could not be encoded."""

    image_vector: np.ndarray | None = None
    caption_vectors: list[np.ndarray] = field(default_factory=list)
    error: str | None = None


def encode_work(encoder: DualEncoder, works: Sequence[AssetWork]) -> None:
    """Fill each work's vectors, or set its error."""
    apply_outputs(works, encode_inputs(encoder, inputs_of(works)))


def inputs_of(works: Sequence[AssetWork]) -> list[EncodeInput]:
    """The encoder inputs of each work, in order."""
    return [
        EncodeInput(w.first.image.image if w.embed_image else None, tuple(w.embed_captions))
        for w in works
    ]


def apply_outputs(works: Sequence[AssetWork], outputs: Sequence[EncodeOutput]) -> None:
    """Put each output's vectors (or error) on its work."""
    for work, out in zip(works, outputs, strict=True):
        if out.error is not None:
            work.error = out.error
            continue
        if out.image_vector is not None:
            work.image_vector = out.image_vector
        if work.embed_captions:
            work.caption_vectors = list(out.caption_vectors)


def encode_inputs(encoder: DualEncoder, inputs: Sequence[EncodeInput]) -> list[EncodeOutput]:
    """One output per input: images in one call, then the captions of the inputs still good."""
    outputs = [EncodeOutput() for _ in inputs]
    with_image = [i for i, x in enumerate(inputs) if x.image is not None]
    images = [img for i in with_image if (img := inputs[i].image) is not None]
    image_rows = _encode_robust(encoder.encode_images, images, encoder.dim, canary_image)
    for i, row in zip(with_image, image_rows, strict=True):
        if isinstance(row, str):
            outputs[i].error = f"image encoder failed: {row}"
        else:
            outputs[i].image_vector = row
    with_text = [i for i, x in enumerate(inputs) if outputs[i].error is None and x.texts]
    texts = [text for i in with_text for text in inputs[i].texts]
    text_rows = iter(_encode_robust(encoder.encode_texts, texts, encoder.dim, lambda: CANARY_TEXT))
    for i in with_text:
        rows = [next(text_rows) for _ in inputs[i].texts]
        failed = [row for row in rows if isinstance(row, str)]
        if failed:
            outputs[i].error = f"text encoder failed: {failed[0]}"
        else:
            outputs[i].caption_vectors = [row for row in rows if not isinstance(row, str)]
    return outputs


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
