"""A job item's stored spec: what the planner read about an item, so any worker can run it.

Stored in ``job_items.spec`` as JSON. An item to ingest holds ``{"path", "captions", "tags",
"meta"}``; an item that removes holds ``{"remove": {"asset_id", "content_hash", "member_id"}}``
(one membership, or the whole asset when ``member_id`` is null: see
:mod:`modalign.ingest.removals`). The item's ``uri`` column holds the source key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modalign.config import PathsSettings
from modalign.ingest.sources import SourceItem

CATALOG_SOURCE = "catalog"  # the source kind of a reindex job: the catalog's own assets


@dataclass(frozen=True)
class Removal:
    """What a removal item takes away: one membership of an asset, or the whole asset."""

    asset_id: int
    content_hash: str
    member_id: int | None = None

    def to_spec(self) -> dict[str, Any]:
        return {"remove": {"asset_id": self.asset_id, "content_hash": self.content_hash,
                           "member_id": self.member_id}}


@dataclass(frozen=True)
class RemovalEntry:
    """A removal a planner found (a synced source's vanished file), under the uri it names."""

    uri: str
    removal: Removal


@dataclass(frozen=True)
class ItemSpec:
    """An item as a batch sees it."""

    key: str
    path: Path | None
    captions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    removal: Removal | None = None


def entry_uri(paths: PathsSettings, root: Path | None, key: str) -> str:
    """The uri an entry is recorded under: its name under the source root (a symlink inside the
    root is its own entry, not its target's), stored as the catalog stores paths; a catalogued
    asset's own uri (no root) as it is."""
    return paths.to_stored(root / key) if root is not None else key


def to_spec(item: SourceItem | RemovalEntry) -> dict[str, Any]:
    """The JSON stored for a source item or a removal."""
    if isinstance(item, RemovalEntry):
        return item.removal.to_spec()
    return {
        "path": str(item.path) if item.path is not None else None,
        "captions": list(item.captions),
        "tags": list(item.tags),
        "meta": dict(item.meta),
    }


def from_spec(key: str, spec: Mapping[str, Any]) -> ItemSpec:
    """The stored JSON back as an :class:`ItemSpec` (tolerant of missing fields)."""
    remove = spec.get("remove")
    if isinstance(remove, Mapping):
        member = remove.get("member_id")
        removal = Removal(int(remove["asset_id"]), str(remove["content_hash"]),
                          int(member) if member is not None else None)
        return ItemSpec(key=key, path=None, removal=removal)
    path = spec.get("path")
    return ItemSpec(
        key=key,
        path=Path(path) if isinstance(path, str) else None,
        captions=tuple(str(c) for c in spec.get("captions") or ()),
        tags=tuple(str(t) for t in spec.get("tags") or ()),
        meta=dict(spec.get("meta") or {}),
    )
