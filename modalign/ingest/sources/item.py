"""What every source reader yields: one :class:`SourceItem` per image entry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modalign.ingest.captions import clean_caption, clean_text

MAX_TAG_CHARS = 100
MAX_SIDECAR_BYTES = 1 << 20


@dataclass(frozen=True)
class SourceLimits:
    """What a reader cuts or refuses: caption length, and the size of a caption sidecar."""

    max_caption_chars: int = 2000
    max_sidecar_bytes: int = MAX_SIDECAR_BYTES


@dataclass(frozen=True)
class SourceItem:
    """One image entry of a source.

    ``key`` names the entry inside its source (the path as written, relative to the root) and is
    the item's identity in a job; ``path`` is the resolved file, or None when the entry itself is
    bad, in which case ``error`` says why.
    """

    key: str
    path: Path | None
    captions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def failed_item(key: str, reason: str, meta: Mapping[str, Any] | None = None) -> SourceItem:
    """An entry that cannot be ingested, with its reason."""
    return SourceItem(key=key, path=None, meta=clean_meta(meta or {}), error=reason)


def clean_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """A source entry's metadata fit to store as JSON text: lone surrogates (from ``\\udXXX``
    escapes in JSON) and NUL characters become U+FFFD in every string value."""
    return {_clean_value(str(k)): _clean_value(v) for k, v in meta.items()}


def _clean_value(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value).replace("\x00", "\ufffd")
    if isinstance(value, Mapping):
        return clean_meta(value)
    if isinstance(value, list):
        return [_clean_value(v) for v in value]
    return value


def clean_tags(raws: Iterable[object]) -> tuple[str, ...]:
    """Tags as strings: stripped, cut to 100 characters, empty ones and repeats dropped."""
    seen: dict[str, None] = {}
    for raw in raws:
        if isinstance(raw, str | int | float) and not isinstance(raw, bool):
            tag = clean_caption(str(raw), MAX_TAG_CHARS)
            if tag:
                seen.setdefault(tag, None)
    return tuple(seen)
