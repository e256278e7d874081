"""A job item's stored spec: what the planner read about an item, so any worker can run it.

Stored in ``job_items.spec`` as JSON: ``{"path", "captions", "tags", "meta"}``; the item's
``uri`` column holds the source key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modalign.ingest.sources import SourceItem


@dataclass(frozen=True)
class ItemSpec:
    """An item as a batch sees it."""

    key: str
    path: Path | None
    captions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)


def to_spec(item: SourceItem) -> dict[str, Any]:
    """The JSON stored for a source item."""
    return {
        "path": str(item.path) if item.path is not None else None,
        "captions": list(item.captions),
        "tags": list(item.tags),
        "meta": dict(item.meta),
    }


def from_spec(key: str, spec: Mapping[str, Any]) -> ItemSpec:
    """The stored JSON back as an :class:`ItemSpec` (tolerant of missing fields)."""
    path = spec.get("path")
    return ItemSpec(
        key=key,
        path=Path(path) if isinstance(path, str) else None,
        captions=tuple(str(c) for c in spec.get("captions") or ()),
        tags=tuple(str(t) for t in spec.get("tags") or ()),
        meta=dict(spec.get("meta") or {}),
    )
