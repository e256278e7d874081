"""Assets, their captions, and which assets are embedded in which model version.

Inserts use ``ON CONFLICT DO NOTHING`` so that concurrent workers upserting the same image or
caption never fail: one wins, the others read the winner's row.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from modalign.catalog.models import Asset, AssetEmbedding, Caption
from modalign.catalog.repo._sql import chunks, insert_ignoring_conflicts
from modalign.errors import NotFoundError

_SPACES = re.compile(r"\s+")


def normalise_caption(text: str) -> str:
    """NFKC, casefold, collapse whitespace, strip: the form captions are compared in."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def caption_hash(text: str) -> str:
    """SHA-256 hex of the normalised caption."""
    return hashlib.sha256(normalise_caption(text).encode("utf-8")).hexdigest()


def content_hash(data: bytes) -> str:
    """SHA-256 hex of a file's bytes: an asset's identity."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class UpsertedAsset:
    asset: Asset
    created: bool


@dataclass(frozen=True)
class NewAsset:
    """The column values of an asset to insert (its content hash is its identity)."""

    content_hash: str
    uri: str
    width: int
    height: int
    mime: str
    size_bytes: int
    source: str
    dataset: str
    split: str | None = None
    tags: Sequence[str] = ()

    def values(self) -> dict[str, Any]:
        return {
            "content_hash": self.content_hash, "uri": self.uri, "width": self.width,
            "height": self.height, "mime": self.mime, "size_bytes": self.size_bytes,
            "source": self.source, "dataset": self.dataset, "split": self.split,
            "tags": list(dict.fromkeys(self.tags)),
        }


@dataclass(frozen=True)
class CaptionRow:
    """A caption's columns, read without building an ORM object (a batch reads hundreds)."""

    asset_id: int
    text: str
    text_hash: str
    position: int


def upsert_asset(
    *,
    session: Session,
    content_hash: str,
    uri: str,
    width: int,
    height: int,
    mime: str,
    size_bytes: int,
    source: str,
    dataset: str,
    split: str | None = None,
    tags: Sequence[str] = (),
) -> UpsertedAsset:
    """Insert the asset unless one with this content hash exists; the existing row is kept as is."""
    new = NewAsset(content_hash, uri, width, height, mime, size_bytes, source, dataset, split, tags)
    return upsert_assets(session=session, assets=[new])[content_hash]


def upsert_assets(*, session: Session, assets: Sequence[NewAsset]) -> dict[str, UpsertedAsset]:
    """Insert the assets whose content hash is new (an existing row is kept as is, and of one
    hash given twice the first wins); returns every given hash's row. Two statements per 500
    assets, whatever the count: a batch costs no more round trips than one asset."""
    rows: dict[str, dict[str, Any]] = {}
    for asset in assets:
        rows.setdefault(asset.content_hash, asset.values())
    created: set[str] = set()
    for chunk in chunks(list(rows.values())):
        stmt = insert_ignoring_conflicts(session, Asset).values(list(chunk))
        created.update(session.scalars(stmt.returning(Asset.content_hash)))
    found: dict[str, Asset] = {}
    for hashes in chunks(list(rows)):
        stmt_select = select(Asset).where(Asset.content_hash.in_(hashes))
        found.update((asset.content_hash, asset) for asset in session.scalars(stmt_select))
    missing = rows.keys() - found.keys()
    if missing:  # pragma: no cover - only if deleted between the two statements
        raise NotFoundError(f"assets {sorted(missing)[:3]} vanished during upsert")
    return {digest: UpsertedAsset(found[digest], digest in created) for digest in rows}


def add_captions(*, session: Session, asset_id: int, texts: Iterable[str]) -> list[CaptionRow]:
    """Add the texts not already captions of the asset (compared normalised).

    Returns the asset's caption rows for the given texts, new or existing, in the order given,
    without duplicates; blank texts are ignored. New captions get positions after the existing ones.
    """
    return add_captions_to_assets(session=session, texts_by_asset={asset_id: texts})[asset_id]


def add_captions_to_assets(
    *, session: Session, texts_by_asset: Mapping[int, Iterable[str]]
) -> dict[int, list[CaptionRow]]:
    """``add_captions`` for many assets at once, in at most three statements per 500 assets."""
    wanted = {asset_id: _wanted_captions(texts) for asset_id, texts in texts_by_asset.items()}
    existing = _captions_by_hash(session, [a for a, texts in wanted.items() if texts])
    rows = [row for asset_id, texts in wanted.items()
            for row in _new_caption_rows(asset_id, texts, existing.get(asset_id, {}))]
    if rows:
        for chunk in chunks(rows):
            session.execute(insert_ignoring_conflicts(session, Caption), list(chunk))
        existing.update(_captions_by_hash(session, list({row["asset_id"] for row in rows})))
    return {
        asset_id: [existing[asset_id][d] for d in texts if d in existing.get(asset_id, {})]
        for asset_id, texts in wanted.items()
    }


def plan_captions(
    *, session: Session, texts_by_asset: Mapping[int, Iterable[str]]
) -> dict[int, list[CaptionRow]]:
    """What ``add_captions_to_assets`` would return, inserting nothing: the existing rows, and
    the new ones with the positions they would get now."""
    wanted = {asset_id: _wanted_captions(texts) for asset_id, texts in texts_by_asset.items()}
    existing = _captions_by_hash(session, [a for a, texts in wanted.items() if texts])
    planned: dict[int, dict[str, CaptionRow]] = {}
    for asset_id, texts in wanted.items():
        rows = planned[asset_id] = dict(existing.get(asset_id, {}))
        for row in _new_caption_rows(asset_id, texts, rows):
            rows[row["text_hash"]] = CaptionRow(**row)
    return {a: [planned[a][d] for d in texts] for a, texts in wanted.items()}


def _wanted_captions(texts: Iterable[str]) -> dict[str, str]:
    """Caption hash -> whitespace-collapsed text, first of each, blank texts left out."""
    wanted: dict[str, str] = {}
    for text in texts:
        if normalise_caption(text):
            wanted.setdefault(caption_hash(text), _SPACES.sub(" ", text).strip())
    return wanted


def _new_caption_rows(
    asset_id: int, wanted: dict[str, str], existing: dict[str, CaptionRow]
) -> list[dict[str, Any]]:
    """Rows of the wanted captions the asset lacks, positioned after its existing ones."""
    new = [(digest, text) for digest, text in wanted.items() if digest not in existing]
    start = max((c.position for c in existing.values()), default=-1) + 1
    return [
        {"asset_id": asset_id, "text": text, "text_hash": digest, "position": start + i}
        for i, (digest, text) in enumerate(new)
    ]


def _captions_by_hash(
    session: Session, asset_ids: Sequence[int]
) -> dict[int, dict[str, CaptionRow]]:
    """Each asset's captions by text hash."""
    found: dict[int, dict[str, CaptionRow]] = {}
    columns = (Caption.asset_id, Caption.text, Caption.text_hash, Caption.position)
    for chunk in chunks(asset_ids):
        for row in session.execute(select(*columns).where(Caption.asset_id.in_(chunk))):
            found.setdefault(row.asset_id, {})[row.text_hash] = CaptionRow(*row)
    return found


def get_assets(*, session: Session, ids: Iterable[int]) -> dict[int, Asset]:
    """Assets by id with captions and memberships eager-loaded (three statements whatever the
    count); missing ids are absent from the result."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    stmt = (
        select(Asset)
        .where(Asset.id.in_(wanted))
        .options(selectinload(Asset.captions), selectinload(Asset.members))
    )
    return {asset.id: asset for asset in session.scalars(stmt)}


def get_asset(*, session: Session, asset_id: int) -> Asset:
    """The asset with this id; NotFoundError if there is none."""
    asset = session.get(Asset, asset_id)
    if asset is None:
        raise NotFoundError(f"asset {asset_id} not found")
    return asset


def get_asset_by_hash(*, session: Session, content_hash: str) -> Asset | None:
    """The asset with this content hash, or None."""
    return session.scalars(select(Asset).where(Asset.content_hash == content_hash)).one_or_none()


def record_embedded(*, session: Session, asset_ids: Iterable[int], model_version_id: int) -> int:
    """Mark assets as embedded in a model version (idempotent); returns how many were new."""
    rows = [{"asset_id": a, "model_version_id": model_version_id} for a in dict.fromkeys(asset_ids)]
    added = 0
    for chunk in chunks(rows):
        stmt = insert_ignoring_conflicts(session, AssetEmbedding).values(chunk)
        added += len(session.execute(stmt.returning(AssetEmbedding.asset_id)).all())
    return added


def embedded_hashes(
    *, session: Session, model_version_id: int, hashes: Iterable[str]
) -> set[str]:
    """Which of these content hashes are already embedded in the model version."""
    found: set[str] = set()
    for chunk in chunks(list(dict.fromkeys(hashes))):
        stmt = (
            select(Asset.content_hash)
            .join(AssetEmbedding, AssetEmbedding.asset_id == Asset.id)
            .where(AssetEmbedding.model_version_id == model_version_id)
            .where(Asset.content_hash.in_(chunk))
        )
        found.update(session.scalars(stmt))
    return found
