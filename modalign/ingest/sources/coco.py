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
from modalign.ingest.sources.item import SourceItem, failed_item
from modalign.ingest.sources.manifest import entry_item

_IMAGE_META = ("id", "width", "height", "license", "coco_url", "flickr_url", "date_captured")


def read_coco(
    captions_json: Path, *, image_root: Path | None = None, max_caption_chars: int
) -> Iterator[SourceItem]:
    """One item per entry of ``images``, with that image's annotation captions."""
    images, captions = _load(captions_json)
    root = (image_root or default_coco_root(captions_json)).resolve()
    for position, image in enumerate(images):
        yield _coco_item(root, image, captions, position, max_caption_chars)


def default_coco_root(captions_json: Path) -> Path:
    """``annotations/captions_val2014.json`` -> ``val2014/`` beside it, else the JSON's folder."""
    folder = captions_json.resolve().parent
    split = captions_json.stem.split("_", 1)[-1]
    if folder.name == "annotations" and (folder.parent / split).is_dir():
        return folder.parent / split
    return folder


def _load(captions_json: Path) -> tuple[list[Any], dict[Any, list[str]]]:
    try:
        with captions_json.open("rb") as fh:
            doc = json.load(fh)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read COCO captions {captions_json}: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("images"), list):
        raise InvalidInputError(f"{captions_json} is not COCO captions: no 'images' list")
    captions: dict[Any, list[str]] = defaultdict(list)
    for note in doc.get("annotations") or []:
        if isinstance(note, dict) and isinstance(note.get("caption"), str):
            captions[note.get("image_id")].append(note["caption"])
    return doc["images"], captions


def _coco_item(
    root: Path, image: Any, captions: dict[Any, list[str]], position: int, max_chars: int
) -> SourceItem:
    if not isinstance(image, dict) or not isinstance(image.get("file_name"), str):
        return failed_item(f"images[{position}]", f"images[{position}] has no 'file_name'")
    entry = {k: image[k] for k in _IMAGE_META if k in image}
    entry["captions"] = captions.get(image.get("id"), [])
    entry["source"] = "coco"
    return entry_item(root, image["file_name"], entry, max_chars)
