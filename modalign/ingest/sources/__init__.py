"""Source readers: every kind of source streams :class:`SourceItem` entries.

``detect_source(path)`` names the kind; ``iter_source(spec, max_caption_chars=...)`` reads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from modalign.errors import InvalidInputError
from modalign.ingest.sources.coco import read_coco
from modalign.ingest.sources.flickr import looks_like_flickr, read_flickr
from modalign.ingest.sources.folder import read_folder
from modalign.ingest.sources.item import SourceItem, failed_item
from modalign.ingest.sources.manifest import read_jsonl_manifest

SourceKind = Literal["folder", "manifest", "coco", "flickr"]
SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)

__all__ = [
    "SOURCE_KINDS",
    "SourceItem",
    "SourceKind",
    "SourceSpec",
    "detect_source",
    "failed_item",
    "iter_source",
]


@dataclass(frozen=True)
class SourceSpec:
    """A source to read: its path, its kind and (COCO/Flickr) where its images live."""

    path: Path
    kind: SourceKind
    image_root: Path | None = None


def detect_source(path: Path) -> SourceKind:
    """The kind of source at ``path``, from what it is (folder) or its name and first line."""
    if path.is_dir():
        return "folder"
    if not path.is_file():
        raise InvalidInputError(f"source not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "manifest"
    if suffix == ".json":
        return "coco"
    if suffix in (".token", ".csv") or (suffix == ".txt" and looks_like_flickr(_first_line(path))):
        return "flickr"
    raise InvalidInputError(
        f"cannot tell what kind of source {path} is (expected a folder, .jsonl, COCO .json, "
        "or a Flickr .token/.csv/.txt captions file)"
    )


def iter_source(spec: SourceSpec, *, max_caption_chars: int) -> Iterator[SourceItem]:
    """Stream the items of a source."""
    if spec.kind == "folder":
        return read_folder(spec.path, max_caption_chars=max_caption_chars)
    if spec.kind == "manifest":
        return read_jsonl_manifest(spec.path, max_caption_chars=max_caption_chars)
    if spec.kind == "coco":
        return read_coco(spec.path, image_root=spec.image_root, max_caption_chars=max_caption_chars)
    return read_flickr(spec.path, image_root=spec.image_root, max_caption_chars=max_caption_chars)


def _first_line(path: Path) -> str:
    with path.open("rb") as fh:
        return fh.readline(4096).decode("utf-8", errors="replace")
