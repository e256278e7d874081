"""A folder of images, walked recursively; captions come from sidecar files when present.

Sidecars sit beside the image with the same stem: ``cat.txt`` (one caption per line) and/or
``cat.json`` (``{"captions": [...], "tags": [...]}``). Hidden files and files whose extension is
not an image type are skipped (sidecars, READMEs, manifests); symlinks are followed only when
they stay inside the folder (:mod:`~modalign.ingest.sources.paths`), and symlinked folders are
not descended into, so the walk cannot loop.

The walk is item-safe: a subfolder that cannot be listed (permission denied, vanished, I/O
error) and a name that is not valid UTF-8 each become a failed item with the reason; only a root
that cannot be listed fails the job.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from modalign.errors import InvalidInputError
from modalign.images import IMAGE_EXTENSIONS
from modalign.ingest.captions import clean_captions
from modalign.ingest.sources.item import SourceItem, SourceLimits, clean_tags, failed_item
from modalign.ingest.sources.paths import (
    check_encodable,
    printable_name,
    read_optional_under,
    resolve_under,
)

log = logging.getLogger(__name__)


def read_folder(folder: Path, *, limits: SourceLimits) -> Iterator[SourceItem]:
    """Every image under ``folder`` (sorted, depth first), one item each."""
    root = folder.resolve()
    for relative, error in _image_files(root):
        if error is not None:
            yield failed_item(printable_name(relative), error)
        else:
            yield _folder_item(root, relative, limits)


def _image_files(root: Path) -> Iterator[tuple[str, str | None]]:
    """(relative name, None) per image file; (relative folder, reason) per unlistable folder."""
    errors: list[OSError] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=errors.append):
        yield from _listing_errors(root, errors)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath).relative_to(root)
        for name in sorted(filenames):
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                yield (base / name).as_posix(), None
    yield from _listing_errors(root, errors)


def _listing_errors(root: Path, errors: list[OSError]) -> Iterator[tuple[str, str]]:
    """The folders the walk could not list, as failed entries; the root's is the job's error."""
    while errors:
        exc = errors.pop(0)
        where = Path(os.fsdecode(exc.filename or root))
        reason = exc.strerror or str(exc)
        if where == root:
            raise InvalidInputError(f"cannot list source folder {root}: {reason}")
        yield f"{where.relative_to(root).as_posix()}/", f"cannot list folder: {reason}"


def _folder_item(root: Path, relative: str, limits: SourceLimits) -> SourceItem:
    try:
        check_encodable(relative)
        path = resolve_under(root, relative)
        captions, tags = read_sidecars(root, relative, limits)
    except InvalidInputError as exc:
        return failed_item(printable_name(relative), str(exc))
    return SourceItem(key=relative, path=path, captions=captions, tags=tags)


def read_sidecars(
    root: Path, relative: str, limits: SourceLimits
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Captions and tags from ``<stem>.txt`` and ``<stem>.json`` beside the image ``relative``
    (each read under the root's confinement rule; absent ones are no captions)."""
    image = PurePosixPath(relative)
    raw: list[str | bytes] = []
    tags: tuple[str, ...] = ()
    text = _read_sidecar(root, image.with_suffix(".txt"), limits)
    if text is not None:
        raw.extend(text.splitlines())
    doc = _read_sidecar(root, image.with_suffix(".json"), limits)
    if doc is not None:
        captions, tags = _parse_json_sidecar(doc)
        raw.extend(captions)
    return clean_captions(raw, limits.max_caption_chars), tags


def _read_sidecar(root: Path, relative: PurePosixPath, limits: SourceLimits) -> bytes | None:
    what = f"sidecar {relative.name}"
    return read_optional_under(
        root, root.joinpath(*relative.parts), max_bytes=limits.max_sidecar_bytes, what=what
    )


def _parse_json_sidecar(data: bytes) -> tuple[list[str], tuple[str, ...]]:
    try:
        doc = json.loads(data.decode("utf-8", errors="replace"))
    except (json.JSONDecodeError, RecursionError) as exc:
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
