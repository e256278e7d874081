"""Asset memberships: which file of which dataset an asset came from, and what it offered.

A membership is unique per (dataset, uri): the file at a uri of a dataset is one asset. Recording
the same (dataset, uri) again with another asset moves the membership (the file's content
changed); the asset it left is reported, since its datasets changed too. An asset's ``tags`` take
in every tag a membership brings; an asset's first membership names its ``dataset`` and ``uri``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from modalign.catalog.models import Asset, AssetMember, utcnow
from modalign.catalog.repo._sql import chunks, insert_ignoring_conflicts


def uri_hash(uri: str) -> str:
    """SHA-256 hex of a member's uri (the unique key beside its dataset)."""
    return hashlib.sha256(uri.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewMember:
    """An asset seen at ``uri`` in ``dataset``, with the captions and tags that entry offers."""

    asset_id: int
    dataset: str
    uri: str
    captions: Sequence[str] = ()
    tags: Sequence[str] = ()

    @property
    def key(self) -> tuple[str, str]:
        return self.dataset, uri_hash(self.uri)


@dataclass
class MemberChanges:
    """What recording memberships changed: assets whose datasets or tags are now different."""

    changed: set[int] = field(default_factory=set)
    left: set[int] = field(default_factory=set)  # assets a moved membership left
    added: int = 0
    moved: int = 0

    def __bool__(self) -> bool:
        return bool(self.changed)


@dataclass(frozen=True)
class MemberRow:
    """A membership's columns, read without building ORM objects (a sync reads thousands)."""

    id: int
    asset_id: int
    dataset: str
    uri: str
    captions: tuple[str, ...]
    tags: tuple[str, ...]


def record_members(*, session: Session, members: Sequence[NewMember]) -> MemberChanges:
    """Insert new memberships, move those whose file now holds another asset, refresh the
    offered captions and tags of the rest, and merge tags into the assets."""
    wanted = {m.key: m for m in members}
    changes = MemberChanges()
    if not wanted:
        return changes
    rows = [_row(m) for m in wanted.values()]
    for chunk in chunks(rows):
        inserted = insert_ignoring_conflicts(session, AssetMember).values(list(chunk))
        new_ids = list(session.execute(inserted.returning(AssetMember.asset_id)).scalars())
        changes.changed.update(new_ids)
        changes.added += len(new_ids)
    existing = _members_by_key(session, list(wanted))
    for key, member in wanted.items():
        _refresh(session, existing[key], member, changes)
    offered: dict[int, list[str]] = {}
    for member in wanted.values():
        offered.setdefault(member.asset_id, []).extend(member.tags)
    _merge_tags(session, offered, changes)
    refresh_primary(session=session, asset_ids=changes.left)
    return changes


def _row(member: NewMember) -> dict[str, Any]:
    dataset, digest = member.key
    now = utcnow()
    return {
        "asset_id": member.asset_id, "dataset": dataset, "uri": member.uri, "uri_hash": digest,
        "captions": list(member.captions), "tags": list(member.tags),
        "created_at": now, "updated_at": now,
    }


def _refresh(session: Session, row: MemberRow, member: NewMember, changes: MemberChanges) -> None:
    values: dict[str, Any] = {}
    if row.asset_id != member.asset_id:
        values["asset_id"] = member.asset_id
        changes.changed |= {row.asset_id, member.asset_id}
        changes.left.add(row.asset_id)
        changes.moved += 1
    if row.captions != tuple(member.captions):
        values["captions"] = list(member.captions)
    if row.tags != tuple(member.tags):
        values["tags"] = list(member.tags)
    if values:
        stmt = update(AssetMember).where(AssetMember.id == row.id)
        session.execute(stmt.values(updated_at=utcnow(), **values))


def _merge_tags(
    session: Session, offered: Mapping[int, Sequence[str]], changes: MemberChanges
) -> None:
    """Every offered tag becomes one of its asset's tags (an asset never loses one here)."""
    ids = [asset_id for asset_id, tags in offered.items() if tags]
    for chunk in chunks(ids):
        for asset_id, tags in session.execute(
            select(Asset.id, Asset.tags).where(Asset.id.in_(chunk))
        ):
            merged = list(dict.fromkeys([*tags, *offered[asset_id]]))
            if merged != list(tags):
                session.execute(update(Asset).where(Asset.id == asset_id).values(tags=merged))
                changes.changed.add(asset_id)


def _members_by_key(
    session: Session, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], MemberRow]:
    found: dict[tuple[str, str], MemberRow] = {}
    datasets = {dataset for dataset, _ in keys}
    for dataset in datasets:
        hashes = [digest for d, digest in keys if d == dataset]
        for chunk in chunks(hashes):
            stmt = select(AssetMember).where(
                AssetMember.dataset == dataset, AssetMember.uri_hash.in_(chunk)
            )
            for member in session.scalars(stmt):
                found[(member.dataset, member.uri_hash)] = _member_row(member)
    return found


def _member_row(member: AssetMember) -> MemberRow:
    return MemberRow(
        member.id, member.asset_id, member.dataset, member.uri,
        tuple(member.captions or ()), tuple(member.tags or ()),
    )


def members_of_dataset(*, session: Session, dataset: str) -> dict[str, MemberRow]:
    """Every membership of a dataset, by uri."""
    stmt = select(AssetMember).where(AssetMember.dataset == dataset).order_by(AssetMember.id)
    return {m.uri: _member_row(m) for m in session.scalars(stmt)}


def members_of_assets(*, session: Session, asset_ids: Iterable[int]) -> dict[int, list[MemberRow]]:
    """Each asset's memberships, oldest first (assets without one are absent)."""
    found: dict[int, list[MemberRow]] = {}
    for chunk in chunks(list(dict.fromkeys(asset_ids))):
        stmt = select(AssetMember).where(AssetMember.asset_id.in_(chunk)).order_by(AssetMember.id)
        for member in session.scalars(stmt):
            found.setdefault(member.asset_id, []).append(_member_row(member))
    return found


def datasets_of(*, session: Session, asset_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each asset's datasets, in the order it joined them (no repeats)."""
    return {
        asset_id: list(dict.fromkeys(m.dataset for m in rows))
        for asset_id, rows in members_of_assets(session=session, asset_ids=asset_ids).items()
    }


def refresh_primary(*, session: Session, asset_ids: Iterable[int]) -> None:
    """Give each asset the dataset and uri of its oldest remaining membership (an asset with
    none keeps what it had: it is listed under no dataset but stays in the catalog)."""
    firsts = members_of_assets(session=session, asset_ids=asset_ids)
    for asset_id, rows in firsts.items():
        first = rows[0]
        stmt = update(Asset).where(Asset.id == asset_id)
        session.execute(stmt.values(dataset=first.dataset, uri=first.uri))


def remove_members(*, session: Session, member_ids: Iterable[int]) -> int:
    """Delete memberships by id; returns how many went."""
    removed = 0
    for chunk in chunks(list(dict.fromkeys(member_ids))):
        result = session.connection().execute(
            delete(AssetMember).where(AssetMember.id.in_(chunk))
        )
        removed += max(result.rowcount, 0)
    return removed
