"""Read and validate a batch's items: decode each image under the limits, or record why not.

A bad item never stops the batch: every exception raised while decoding one item becomes that
item's failure reason.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from modalign.config import IngestSettings, Settings
from modalign.encoders.preprocess import crop_box
from modalign.errors import InvalidInputError
from modalign.images import DecodedImage, check_extension, decode_bytes
from modalign.ingest.sources.paths import read_under
from modalign.ingest.spec import ItemSpec

log = logging.getLogger(__name__)

SHRINK_FACTOR = 4  # decoded images are kept at most this many times the encoder's input side
CONTENT_FACTOR = 8  # ... or up to this many when its drawn content is small (content_side)


@dataclass(frozen=True)
class Prepared:
    """A valid item: its id, what the planner read, and the decoded image."""

    item_id: int
    spec: ItemSpec
    image: DecodedImage


@dataclass(frozen=True)
class Failure:
    """An item that cannot be ingested, and why."""

    item_id: int
    reason: str


def validate_items(
    items: Sequence[tuple[int, ItemSpec]], settings: Settings, root: Path | None
) -> tuple[list[Prepared], list[Failure]]:
    """Read every item's file under ``root`` (the source's, see
    :mod:`~modalign.ingest.sources.paths`; None for catalogued assets, whose content hash is
    checked instead) and decode it; split into the valid ones and failures (order kept)."""
    valid: list[Prepared] = []
    failures: list[Failure] = []
    for item_id, spec in items:
        try:
            valid.append(Prepared(item_id, spec, _decode(spec, settings, root)))
        except InvalidInputError as exc:
            failures.append(Failure(item_id, str(exc)))
        except Exception as exc:  # a decoder bug must fail the item, not the batch
            log.exception("unexpected error decoding %s", spec.key)
            failures.append(Failure(item_id, f"unexpected decoding error: {exc!r}"))
    return valid, failures


def _decode(spec: ItemSpec, settings: Settings, root: Path | None) -> DecodedImage:
    if spec.path is None:
        raise InvalidInputError("the item has no file")
    limits, side = settings.ingest, settings.encoders.image_size
    data = read_image_file(spec.path, limits, root)
    decoded = decode_bytes(data, limits, draft_side=side)
    _check_expected_hash(spec, decoded.sha256)
    needed = content_side(decoded.image, side)
    if max(decoded.image.size) < min(needed, max(decoded.width, decoded.height)):
        # a JPEG scaled down while decoding, below what its drawn content needs: decode it larger
        decoded = decode_bytes(data, limits, draft_side=needed)
        needed = content_side(decoded.image, side)
    limit = max(side * SHRINK_FACTOR, needed)
    if max(decoded.image.size) > limit:
        decoded.image.thumbnail((limit, limit), Image.Resampling.BILINEAR)
    return decoded


def read_image_file(path: Path, limits: IngestSettings, root: Path | None) -> bytes:
    """An item's image bytes: an image extension, read under the source's confinement rule."""
    check_extension(path)
    return read_under(root, path, max_bytes=limits.max_image_bytes, what="image file")


def content_side(image: Image.Image, side: int) -> int:
    """The longest side ``image`` needs so that its drawn content (:func:`crop_box`) spans at
    least ``side`` pixels (at most 8x ``side``; ``side`` for a photo or a blank canvas): a model
    which crops images to their content (``encoders.crop_to_content``) then sees a small drawing
    on a big page in the detail the full-size file has."""
    box = crop_box(image)
    if box is None:
        return side
    content = max(box[2] - box[0], box[3] - box[1])
    return min(math.ceil(side * max(image.size) / content), side * CONTENT_FACTOR)


def _check_expected_hash(spec: ItemSpec, actual: str) -> None:
    expected = spec.meta.get("sha256")
    if isinstance(expected, str) and len(expected) == 64 and expected.lower() != actual:
        raise InvalidInputError(
            f"content hash {actual[:12]}... differs from the source's sha256 {expected[:12]}..."
        )
