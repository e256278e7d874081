"""JSONL manifests (the demo's format): one JSON object per line, paths relative to the file.

Each line is parsed on its own, so a malformed line becomes a failed item and the rest of the
manifest is read as usual. Invalid UTF-8 is kept as surrogate escapes: a path holding it names
the file it means (and is refused as not UTF-8), captions and metadata get U+FFFD. Fields:
``path`` (required), ``captions`` (list) or ``caption``,
``tags``; every other field (source, license, split, group, sha256, width, height, ...) is kept
as metadata. A manifest that cannot be opened or read is the job's error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from modalign.errors import InvalidInputError
from modalign.ingest.captions import clean_captions
from modalign.ingest.sources.item import (
    SourceItem,
    SourceLimits,
    clean_meta,
    clean_tags,
    failed_item,
)
from modalign.ingest.sources.paths import printable_name, resolve_under
from modalign.ingest.sources.reading import source_lines

_CAPTION_FIELDS = ("captions", "caption")


def read_jsonl_manifest(
    manifest: Path, *, root: Path, limits: SourceLimits
) -> Iterator[SourceItem]:
    """Every entry of a JSONL manifest, one item per non-blank line, resolved under ``root``
    (the manifest's folder unless the job says otherwise)."""
    for lineno, raw in enumerate(source_lines(manifest, "manifest"), start=1):
        line = raw.decode("utf-8", errors="surrogateescape").strip()
        if line:
            yield _line_item(root, line, lineno, limits)


def _line_item(root: Path, line: str, lineno: int, limits: SourceLimits) -> SourceItem:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as exc:
        return failed_item(f"line {lineno}", f"malformed JSON on line {lineno}: {exc.msg}")
    except RecursionError:
        return failed_item(f"line {lineno}", f"line {lineno} is nested too deeply")
    if not isinstance(entry, dict):
        return failed_item(f"line {lineno}", f"line {lineno} is not a JSON object")
    relative = entry.get("path")
    if not isinstance(relative, str) or not relative.strip():
        return failed_item(f"line {lineno}", f"line {lineno} has no 'path' string")
    return entry_item(root, relative, entry, limits)


def entry_item(
    root: Path, relative: str, entry: Mapping[str, Any], limits: SourceLimits
) -> SourceItem:
    """An item from a manifest-like entry whose file is ``relative`` under ``root``."""
    skipped = ("path", "tags", *_CAPTION_FIELDS)
    meta = clean_meta({k: v for k, v in entry.items() if k not in skipped})
    try:
        path = resolve_under(root, relative)
    except InvalidInputError as exc:
        return failed_item(printable_name(relative), str(exc), meta)
    captions = clean_captions(_raw_captions(entry), limits.max_caption_chars)
    tags = entry.get("tags")
    return SourceItem(
        key=relative,
        path=path,
        captions=captions,
        tags=clean_tags(tags if isinstance(tags, list) else []),
        meta=meta,
    )


def _raw_captions(entry: Mapping[str, Any]) -> list[str]:
    captions = entry.get("captions")
    found = [c for c in captions if isinstance(c, str)] if isinstance(captions, list) else []
    single = entry.get("caption")
    return [single, *found] if isinstance(single, str) else found
