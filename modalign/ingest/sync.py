"""Sync: make a dataset follow its folder or manifest, changing only what changed.

The planner walks the source and compares each entry with the dataset's membership under the
same uri: an entry with no membership is **added**; one whose file's content hash differs, or
whose captions or tags differ from what it offered, is **changed**; the rest are **unchanged**
and become no item at all (their files are read and hashed, never decoded or encoded). Every
membership of the dataset whose entry is gone (the file vanished or the manifest dropped it)
is **removed**: a removal item (:mod:`modalign.ingest.removals`). Added and changed entries are
ordinary ingest items: the writer moves a changed file's membership to its new image (deleting
the old one if nothing else holds it) and takes back what an entry stopped offering. A sync of
a source that did not change plans nothing and writes no asset, point or membership.

An entry the walk could not read is planned as a failed item, and its membership, if any, is
kept: a file that cannot be read now has not vanished.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset, AssetMember
from modalign.config import Settings
from modalign.errors import InvalidInputError
from modalign.ingest.sources import SourceItem, SourceLimits, SourceSpec, iter_source
from modalign.ingest.sources.paths import read_under
from modalign.ingest.spec import Removal, RemovalEntry, entry_uri

PlanEntry = SourceItem | RemovalEntry


@dataclass(frozen=True)
class SyncSource:
    """What a sync compares: a source, the root its entries resolve under, and its dataset."""

    source: SourceSpec
    root: Path
    dataset: str
    limits: SourceLimits


@dataclass
class SyncCounts:
    """What a sync found."""

    added: int = 0
    changed: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))

    def summary(self) -> str:
        return (f"{self.added} added, {self.changed} changed, {self.removed} removed, "
                f"{self.unchanged} unchanged, {self.failed} unreadable")


@dataclass(frozen=True)
class Known:
    """A membership of the dataset, with its image's content hash."""

    member: repo.MemberRow
    content_hash: str


def sync_entries(
    settings: Settings, sessions: sessionmaker[Session], sync: SyncSource, counts: SyncCounts
) -> Iterator[PlanEntry]:
    """The items a sync plans, in a fixed order: the source's added, changed and unreadable
    entries as it lists them, then the removals; ``counts`` is filled as they go."""
    known = _known(sessions, sync.dataset)
    seen: set[str] = set()
    for item in iter_source(sync.source, sync.limits):
        uri = entry_uri(settings.paths, sync.root, item.key)
        seen.add(uri)
        state = _state(settings, sync.root, item, known.get(uri))
        setattr(counts, state, getattr(counts, state) + 1)
        if state != "unchanged":
            yield item
    for uri, entry in known.items():
        if uri not in seen:
            counts.removed += 1
            member = entry.member
            yield RemovalEntry(uri, Removal(member.asset_id, entry.content_hash, member.id))


def _known(sessions: sessionmaker[Session], dataset: str) -> dict[str, Known]:
    stmt = (
        select(AssetMember, Asset.content_hash)
        .join(Asset, Asset.id == AssetMember.asset_id)
        .where(AssetMember.dataset == dataset)
        .order_by(AssetMember.id)
    )
    with session_scope(sessions) as session:
        return {
            member.uri: Known(repo.member_row(member), digest)
            for member, digest in session.execute(stmt)
        }


def _state(settings: Settings, root: Path, item: SourceItem, known: Known | None) -> str:
    """added | changed | unchanged | failed."""
    if item.error is not None:
        return "failed"
    if known is None:
        return "added"
    member = known.member
    if member.captions != item.captions or member.tags != item.tags:
        return "changed"
    return "unchanged" if _content_hash(settings, root, item) == known.content_hash else "changed"


def _content_hash(settings: Settings, root: Path, item: SourceItem) -> str | None:
    """The file's SHA-256, read under the root's rule (None when it cannot be read now: the
    batch will record why)."""
    if item.path is None:
        return None
    try:
        data = read_under(root, item.path, max_bytes=settings.ingest.max_image_bytes)
    except InvalidInputError:
        return None
    return hashlib.sha256(data).hexdigest()
