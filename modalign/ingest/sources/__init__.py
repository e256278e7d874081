"""Source readers: every kind of source streams :class:`SourceItem` entries.

``detect_source(path)`` names the kind; ``iter_source(spec, limits)`` reads it; ``source_root``
is the folder its entries resolve under (:mod:`~modalign.ingest.sources.paths` confines every
file read to it). A source that cannot be opened at all raises InvalidInputError; anything wrong
with one entry of it becomes a failed item.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from modalign.errors import InvalidInputError
from modalign.ingest.sources.coco import default_coco_root, read_coco
from modalign.ingest.sources.flickr import default_flickr_root, looks_like_flickr, read_flickr
from modalign.ingest.sources.folder import read_folder
from modalign.ingest.sources.item import SourceItem, SourceLimits, failed_item
from modalign.ingest.sources.manifest import read_jsonl_manifest
from modalign.ingest.sources.reading import first_line

SourceKind = Literal["folder", "manifest", "coco", "flickr"]
SOURCE_KINDS: tuple[str, ...] = get_args(SourceKind)

__all__ = [
    "SOURCE_KINDS",
    "SourceItem",
    "SourceKind",
    "SourceLimits",
    "SourceSpec",
    "detect_source",
    "failed_item",
    "iter_source",
    "source_root",
]


@dataclass(frozen=True)
class SourceSpec:
    """A source to read: its path, its kind and (COCO/Flickr) where its images live."""

    path: Path
    kind: SourceKind
    image_root: Path | None = None


def detect_source(path: Path) -> SourceKind:
    """The kind of source at ``path``, from what it is (folder) or its name and first line."""
    mode = _mode(path)
    if stat.S_ISDIR(mode):
        return "folder"
    if not stat.S_ISREG(mode):
        raise InvalidInputError(f"source {path} is not a folder or a regular file")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return "manifest"
    if suffix == ".json":
        return "coco"
    if suffix in (".token", ".csv") or (suffix == ".txt" and looks_like_flickr(first_line(path))):
        return "flickr"
    raise InvalidInputError(
        f"cannot tell what kind of source {path} is (expected a folder, .jsonl, COCO .json, "
        "or a Flickr .token/.csv/.txt captions file)"
    )


def _mode(path: Path) -> int:
    try:
        return os.stat(path).st_mode
    except FileNotFoundError:
        raise InvalidInputError(f"source not found: {path}") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot open source {path}: {exc.strerror or exc}") from exc


def source_root(spec: SourceSpec) -> Path:
    """The resolved folder the source's entries are relative to (and confined to)."""
    if spec.kind == "folder":
        return spec.path.resolve()
    if spec.image_root is not None and spec.kind in ("coco", "flickr"):
        return spec.image_root.resolve()
    if spec.kind == "coco":
        return default_coco_root(spec.path).resolve()
    if spec.kind == "flickr":
        return default_flickr_root(spec.path).resolve()
    return spec.path.resolve().parent


def iter_source(spec: SourceSpec, limits: SourceLimits) -> Iterator[SourceItem]:
    """Stream the items of a source."""
    root = source_root(spec)
    if spec.kind == "folder":
        return read_folder(root, limits=limits)
    if spec.kind == "manifest":
        return read_jsonl_manifest(spec.path, root=root, limits=limits)
    if spec.kind == "coco":
        return read_coco(spec.path, root=root, limits=limits)
    return read_flickr(spec.path, root=root, limits=limits)
