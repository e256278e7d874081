"""Asset memberships: which file of which dataset an asset came from, and what it offered.

A membership is unique per (dataset, uri): the file at a uri of a dataset is one asset. Recording
the same (dataset, uri) again with another asset moves the membership (the file's content
changed); the asset it left is reported, since its datasets changed too. An asset's ``tags`` take
in every tag a membership brings; an asset's first membership names its ``dataset`` and ``uri``.

What a membership offered is what it can take back: when an entry stops offering a caption or a
tag (its sidecar was edited, its file now holds another image, it was removed), the asset loses
it unless another of its memberships still offers it (:func:`retractable`). Captions and tags
given by hand (``modalign assets update``) and a job's ``--tag`` belong to no membership and
stay.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from modalign.catalog.models import Asset, AssetMember, Caption, utcnow
from modalign.catalog.repo._sql import chunks, insert_ignoring_conflicts
from modalign.catalog.repo.assets import caption_hash


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
    retracted: list[tuple[int, str]] = field(default_factory=list)  # (asset id, caption hash)
    added: int = 0
    moved: int = 0
    withdrawn: dict[int, Offer] = field(default_factory=dict)  # what entries stopped offering

    def __bool__(self) -> bool:
        return bool(self.changed)


@dataclass(frozen=True)
class Offer:
    """Caption hashes and tags one or more entries offer an asset."""

    captions: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()

    @classmethod
    def of(cls, captions: Iterable[str], tags: Iterable[str]) -> Offer:
        return cls(frozenset(caption_hash(t) for t in captions), frozenset(tags))

    def __or__(self, other: Offer) -> Offer:
        return Offer(self.captions | other.captions, self.tags | other.tags)

    def __sub__(self, other: Offer) -> Offer:
        return Offer(self.captions - other.captions, self.tags - other.tags)

    def __bool__(self) -> bool:
        return bool(self.captions or self.tags)


@dataclass(frozen=True)
class MemberRow:
    """A membership's columns, read without building ORM objects (a sync reads thousands)."""

    id: int
    asset_id: int
    dataset: str
    uri: str
    captions: tuple[str, ...]
    tags: tuple[str, ...]


def record_members(
    *, session: Session, members: Sequence[NewMember], tags: Sequence[str] = ()
) -> MemberChanges:
    """Insert new memberships, move those whose file now holds another asset, refresh the
    offered captions and tags of the rest, and merge tags into the assets: each membership's
    own, and ``tags`` (a job's ``--tag``: given to every asset, taken back by none)."""
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
    _take_back(session, changes)
    offered: dict[int, list[str]] = {}
    for member in wanted.values():
        offered.setdefault(member.asset_id, []).extend([*member.tags, *tags])
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
    old = Offer.of(row.captions, row.tags)
    if row.asset_id != member.asset_id:
        values["asset_id"] = member.asset_id
        changes.changed |= {row.asset_id, member.asset_id}
        changes.left.add(row.asset_id)
        changes.moved += 1
        _withdraw(changes, row.asset_id, old)
    else:
        _withdraw(changes, row.asset_id, old - Offer.of(member.captions, member.tags))
    if row.captions != tuple(member.captions):
        values["captions"] = list(member.captions)
    if row.tags != tuple(member.tags):
        values["tags"] = list(member.tags)
    if values:
        stmt = update(AssetMember).where(AssetMember.id == row.id)
        session.execute(stmt.values(updated_at=utcnow(), **values))


def _withdraw(changes: MemberChanges, asset_id: int, offer: Offer) -> None:
    if offer:
        changes.withdrawn[asset_id] = changes.withdrawn.get(asset_id, Offer()) | offer


def _take_back(session: Session, changes: MemberChanges) -> None:
    """Retract what entries stopped offering, unless another membership still offers it."""
    if not changes.withdrawn:
        return
    remaining = members_of_assets(session=session, asset_ids=changes.withdrawn)
    for asset_id, offer in changes.withdrawn.items():
        gone = retractable(offer, remaining.get(asset_id, []))
        if gone:
            changes.retracted += retract(session=session, asset_id=asset_id, offer=gone)
            changes.changed.add(asset_id)


def retractable(withdrawn: Offer, remaining: Iterable[MemberRow]) -> Offer:
    """What an asset loses of ``withdrawn``: what none of its ``remaining`` memberships offers."""
    kept = Offer()
    for member in remaining:
        kept = kept | Offer.of(member.captions, member.tags)
    return withdrawn - kept


def retract(*, session: Session, asset_id: int, offer: Offer) -> list[tuple[int, str]]:
    """Delete the asset's captions and tags named by ``offer``; returns the captions deleted
    as (asset id, caption hash), so their points can go too."""
    gone: list[tuple[int, str]] = []
    if offer.captions:
        stmt = delete(Caption).where(
            Caption.asset_id == asset_id, Caption.text_hash.in_(sorted(offer.captions))
        ).returning(Caption.text_hash)
        gone = [(asset_id, digest) for digest in session.execute(stmt).scalars()]
    if offer.tags:
        tags = session.scalar(select(Asset.tags).where(Asset.id == asset_id)) or []
        kept = [t for t in tags if t not in offer.tags]
        if kept != list(tags):
            session.execute(update(Asset).where(Asset.id == asset_id).values(tags=kept))
    return gone


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
                found[(member.dataset, member.uri_hash)] = member_row(member)
    return found


def member_row(member: AssetMember) -> MemberRow:
    """A membership's columns, detached from the session."""
    return MemberRow(
        member.id, member.asset_id, member.dataset, member.uri,
        tuple(member.captions or ()), tuple(member.tags or ()),
    )


def members_of_dataset(*, session: Session, dataset: str) -> dict[str, MemberRow]:
    """Every membership of a dataset, by uri."""
    stmt = select(AssetMember).where(AssetMember.dataset == dataset).order_by(AssetMember.id)
    return {m.uri: member_row(m) for m in session.scalars(stmt)}


def members_of_assets(*, session: Session, asset_ids: Iterable[int]) -> dict[int, list[MemberRow]]:
    """Each asset's memberships, oldest first (assets without one are absent)."""
    found: dict[int, list[MemberRow]] = {}
    for chunk in chunks(list(dict.fromkeys(asset_ids))):
        stmt = select(AssetMember).where(AssetMember.asset_id.in_(chunk)).order_by(AssetMember.id)
        for member in session.scalars(stmt):
            found.setdefault(member.asset_id, []).append(member_row(member))
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
