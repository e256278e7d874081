"""COCO captions JSON (``images`` + ``annotations``), e.g. ``captions_val2014.json``.

The JSON is parsed once (the file holds only text); captions are grouped by image id and the
document is dropped before items are yielded. Images resolve under ``image_root``; by default
the JSON's folder, or ``../<split>`` when the JSON lives in COCO's ``annotations`` folder.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from modalign.errors import InvalidInputError
from modalign.ingest.sources.item import SourceItem, SourceLimits, failed_item
from modalign.ingest.sources.manifest import entry_item
from modalign.ingest.sources.paths import is_folder
from modalign.ingest.sources.reading import source_bytes

ImageId = int | str
_IMAGE_META = ("id", "width", "height", "license", "coco_url", "flickr_url", "date_captured")


def read_coco(captions_json: Path, *, root: Path, limits: SourceLimits) -> Iterator[SourceItem]:
    """One item per entry of ``images``, with that image's annotation captions; files resolve
    under ``root`` (see :func:`default_coco_root`)."""
    images, captions = _load(captions_json)
    for position, image in enumerate(images):
        yield _coco_item(root, image, captions, position, limits)


def default_coco_root(captions_json: Path) -> Path:
    """``annotations/captions_val2014.json`` -> ``val2014/`` beside it, else the JSON's folder."""
    folder = captions_json.resolve().parent
    split = captions_json.stem.split("_", 1)[-1]
    if folder.name == "annotations" and is_folder(folder.parent / split):
        return folder.parent / split
    return folder


def _load(captions_json: Path) -> tuple[list[Any], dict[ImageId, list[str]]]:
    data = source_bytes(captions_json, "COCO captions")
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidInputError(f"cannot parse COCO captions {captions_json}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise InvalidInputError(f"{captions_json} is not COCO captions: no 'images' list")
    notes = doc.get("annotations")
    captions: dict[ImageId, list[str]] = defaultdict(list)
    for note in notes if isinstance(notes, list) else []:
        if isinstance(note, dict) and isinstance(note.get("caption"), str):
            image_id = _image_id(note.get("image_id"))
            if image_id is not None:
                captions[image_id].append(note["caption"])
    return doc["images"], captions


def _image_id(value: object) -> ImageId | None:
    """An image id usable as a key (COCO ids are integers; strings are accepted too)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    return value


def _coco_item(
    root: Path, image: Any, captions: dict[ImageId, list[str]], position: int, limits: SourceLimits
) -> SourceItem:
    if not isinstance(image, dict) or not isinstance(image.get("file_name"), str):
        return failed_item(f"images[{position}]", f"images[{position}] has no 'file_name'")
    entry = {k: image[k] for k in _IMAGE_META if k in image}
    image_id = _image_id(image.get("id"))
    entry["captions"] = captions.get(image_id, []) if image_id is not None else []
    entry["source"] = "coco"
    return entry_item(root, image["file_name"], entry, limits)
