"""Images in, RGB pixels out: the one decoder ingestion, training, search and the service share.

:func:`decode_bytes` turns a file's bytes into RGB pixels under explicit limits (bytes, pixels,
sides, aspect ratio), EXIF-rotated, with transparency composited over white and 16-bit, 32-bit
and float images scaled to 8 bits; :func:`normalise` does the same to an image already in
memory (a query image handed to :class:`~modalign.search.client.SearchClient`); :func:`to_rgb`
is the colour conversion alone (what training applies to its files).

Every failure is an :class:`~modalign.errors.InvalidInputError` whose message says what is wrong
with the file (too large, truncated, not an image, decompression bomb, ...), so the pipeline can
record it on the item and go on.
"""

from __future__ import annotations

import hashlib
import io
import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from modalign.config import IngestSettings
from modalign.errors import InvalidInputError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
)
_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, TypeError)
_TRANSPOSED_ORIENTATIONS = frozenset({5, 6, 7, 8})
_EXIF_ORIENTATION = 0x0112


@dataclass(frozen=True)
class DecodedImage:
    """A validated image: RGB pixels plus facts about the file it came from."""

    image: Image.Image
    sha256: str
    width: int
    height: int
    mime: str
    size_bytes: int


def check_extension(path: Path) -> None:
    """Refuse file names whose extension is not an image type modalign reads."""
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        shown = path.suffix or "(none)"
        raise InvalidInputError(f"unsupported file extension {shown}: not an image type")


def decode_bytes(
    data: bytes, limits: IngestSettings, *, draft_side: int | None = None
) -> DecodedImage:
    """Validate, hash and decode image bytes (the file is read by the caller, under the source
    confinement rule: :func:`modalign.ingest.sources.paths.read_under`).

    The pixels are decoded in full before anything else is read from the file, so damaged
    compressed data is an error even when a metadata probe would have hit it first.
    ``draft_side`` lets JPEG decoding scale down by DCT (to no less than that side), which is far
    cheaper than a full decode when the encoder only needs a small picture; width and height
    reported are always the original's (after EXIF orientation).
    """
    if not data:
        raise InvalidInputError("empty file (0 bytes)")
    if len(data) > limits.max_image_bytes:
        raise InvalidInputError(
            f"file is {len(data)} bytes, above the limit of {limits.max_image_bytes}"
        )
    digest = hashlib.sha256(data).hexdigest()
    with _open(data) as im:
        _check_pixels(im, limits)
        mime = Image.MIME.get(im.format or "", "application/octet-stream")
        width, height = im.size
        _load(im, draft_side)
        width, height = _checked_shape(width, height, _orientation(im), limits)
        rgb = to_rgb(_apply_orientation(im))
    return DecodedImage(rgb, digest, width, height, mime, len(data))


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=_FORMATS)
    except Image.DecompressionBombError as exc:
        raise InvalidInputError(f"decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise InvalidInputError(f"not an image: {_sniff(data)}") from exc
    except _DECODE_ERRORS as exc:
        raise InvalidInputError(f"corrupt image header: {exc}") from exc


def _check_pixels(im: Image.Image, limits: IngestSettings) -> None:
    """The header's pixel count against the limit, before a single pixel is decoded."""
    width, height = im.size
    if width * height > limits.max_image_pixels:
        raise InvalidInputError(
            f"decompression bomb: {width}x{height} = {width * height} pixels, "
            f"above the limit of {limits.max_image_pixels}"
        )


def _checked_shape(
    width: int, height: int, orientation: int, limits: IngestSettings
) -> tuple[int, int]:
    """Original width and height after EXIF orientation, checked against the shape limits."""
    if orientation in _TRANSPOSED_ORIENTATIONS:
        width, height = height, width
    if min(width, height) < limits.min_image_side:
        raise InvalidInputError(
            f"image is {width}x{height}, a side is below the minimum of {limits.min_image_side}"
        )
    ratio = max(width, height) / min(width, height)
    if ratio > limits.max_aspect_ratio:
        raise InvalidInputError(
            f"image is {width}x{height}, aspect ratio {ratio:.0f}:1 above the limit of "
            f"{limits.max_aspect_ratio:g}:1"
        )
    return width, height


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation of a loaded image (1 when absent or unreadable: the pixels are
    already decoded, so only the metadata is lost)."""
    try:
        value = im.getexif().get(_EXIF_ORIENTATION, 1)
    except _DECODE_ERRORS:
        return 1
    return value if isinstance(value, int) else 1


def _load(im: Image.Image, draft_side: int | None) -> None:
    """Decode the first frame in full, or raise: a failed load must never be retried silently
    (Pillow clears the tiles of a failed load, so a second ``load()`` returns the half-decoded
    picture without an error)."""
    if draft_side is not None and im.format in ("JPEG", "MPO"):
        im.draft("RGB", (draft_side, draft_side))
    try:
        im.seek(0)
        im.load()
    except _DECODE_ERRORS as exc:
        raise InvalidInputError(f"truncated or corrupt image data: {exc}") from exc


def normalise(image: Image.Image) -> Image.Image:
    """An image in memory prepared as a decoded file is: EXIF-rotated, then :func:`to_rgb`."""
    return to_rgb(_apply_orientation(image))


def _apply_orientation(im: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(im)
    except _DECODE_ERRORS as exc:
        log.debug("EXIF orientation ignored: %s", exc)
        return im


def to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB; transparent pixels are composited over white."""
    if im.mode == "RGB":
        return im
    if im.mode.startswith("I") or im.mode == "F":
        return _scaled_to_l(im).convert("RGB")
    try:
        if _has_alpha(im):
            rgba = im.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(white, rgba).convert("RGB")
        return im.convert("RGB")
    except ValueError as exc:
        raise InvalidInputError(f"unsupported colour mode {im.mode}: {exc}") from exc


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info


def _scaled_to_l(im: Image.Image) -> Image.Image:
    """16-bit, 32-bit integer and float images scaled to 8-bit greyscale."""
    arr = np.asarray(im).astype(np.float64)
    if arr.ndim == 3:
        arr = arr.mean(axis=2)
    low, high = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if im.mode == "F" and low >= 0.0 and high <= 1.0:
        scale, low = 255.0, 0.0
    elif im.mode != "F" and low >= 0.0 and high <= 65535.0:
        scale, low = 255.0 / 65535.0, 0.0
    else:
        scale = 255.0 / (high - low) if high > low else 0.0
    out = np.clip((arr - low) * scale + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(out, mode="L")


def _sniff(data: bytes) -> str:
    """A short description of bytes Pillow could not identify."""
    head = data[:512].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
        return "content is HTML"
    if head.startswith(b"<"):
        return "content is XML/markup"
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return f"unknown binary format (starts with {data[:8].hex()})"
    return "content is text"
