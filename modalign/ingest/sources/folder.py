"""A folder of images, walked recursively; captions come from sidecar files when present.

Sidecars sit beside the image with the same stem: ``cat.txt`` (one caption per line) and/or
``cat.json`` (``{"captions": [...], "tags": [...]}``). Hidden files and files whose extension is
not an image type are skipped (sidecars, READMEs, manifests); symlinks are followed only when
they stay inside the folder.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from modalign.errors import InvalidInputError
from modalign.ingest.captions import clean_captions
from modalign.ingest.images import IMAGE_EXTENSIONS
from modalign.ingest.sources.item import SourceItem, clean_tags, failed_item
from modalign.ingest.sources.paths import resolve_under

log = logging.getLogger(__name__)


def read_folder(folder: Path, *, max_caption_chars: int) -> Iterator[SourceItem]:
    """Every image under ``folder`` (sorted, depth first), one item each."""
    root = folder.resolve()
    for relative in _image_files(root):
        yield _folder_item(root, relative, max_caption_chars)


def _image_files(root: Path) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                yield (base / name).as_posix()


def _folder_item(root: Path, relative: str, max_chars: int) -> SourceItem:
    try:
        path = resolve_under(root, relative)
        captions, tags = read_sidecars(root / relative, max_chars)
    except InvalidInputError as exc:
        return failed_item(relative, str(exc))
    return SourceItem(key=relative, path=path, captions=captions, tags=tags)


def read_sidecars(image: Path, max_chars: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Captions and tags from ``<stem>.txt`` and ``<stem>.json`` beside ``image``."""
    raw: list[str | bytes] = []
    tags: tuple[str, ...] = ()
    txt = image.with_suffix(".txt")
    if txt.is_file():
        raw.extend(_read_sidecar_bytes(txt).splitlines())
    sidecar = image.with_suffix(".json")
    if sidecar.is_file():
        captions, tags = _parse_json_sidecar(_read_sidecar_bytes(sidecar))
        raw.extend(captions)
    return clean_captions(raw, max_chars), tags


def _read_sidecar_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read sidecar {path.name}: {exc.strerror}") from exc


def _parse_json_sidecar(data: bytes) -> tuple[list[str], tuple[str, ...]]:
    try:
        doc = json.loads(data.decode("utf-8", errors="replace"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"bad JSON sidecar: {exc}") from exc
    if not isinstance(doc, dict):
        raise InvalidInputError("bad JSON sidecar: expected an object with captions/tags")
    captions = doc.get("captions", [])
    if isinstance(doc.get("caption"), str):
        captions = [doc["caption"], *captions] if isinstance(captions, list) else [doc["caption"]]
    if not isinstance(captions, list):
        raise InvalidInputError("bad JSON sidecar: captions must be a list of strings")
    tags = doc.get("tags", [])
    tag_list = tags if isinstance(tags, list) else []
    return [c for c in captions if isinstance(c, str)], clean_tags(tag_list)
