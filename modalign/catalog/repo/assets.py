"""Assets, their captions, and which assets are embedded in which model version.

Inserts use ``ON CONFLICT DO NOTHING`` so that concurrent workers upserting the same image or
caption never fail: one wins, the others read the winner's row.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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
    values = {
        "content_hash": content_hash, "uri": uri, "width": width, "height": height, "mime": mime,
        "size_bytes": size_bytes, "source": source, "dataset": dataset, "split": split,
        "tags": list(dict.fromkeys(tags)),
    }
    stmt = insert_ignoring_conflicts(session, Asset).values(**values).returning(Asset.id)
    new_id = session.execute(stmt).scalar_one_or_none()
    asset = get_asset_by_hash(session=session, content_hash=content_hash)
    if asset is None:  # pragma: no cover - only if deleted between the two statements
        raise NotFoundError(f"asset {content_hash} vanished during upsert")
    return UpsertedAsset(asset=asset, created=new_id is not None)


def add_captions(*, session: Session, asset_id: int, texts: Iterable[str]) -> list[Caption]:
    """Add the texts not already captions of the asset (compared normalised).

    Returns the asset's caption rows for the given texts, new or existing, in the order given,
    without duplicates; blank texts are ignored. New captions get positions after the existing ones.
    """
    wanted: dict[str, str] = {}
    for text in texts:
        if normalise_caption(text):
            wanted.setdefault(caption_hash(text), _SPACES.sub(" ", text).strip())
    if not wanted:
        return []
    existing = _captions_by_hash(session, asset_id)
    new = [(digest, text) for digest, text in wanted.items() if digest not in existing]
    if new:
        start = max((c.position for c in existing.values()), default=-1) + 1
        rows = [
            {"asset_id": asset_id, "text": text, "text_hash": digest, "position": start + i}
            for i, (digest, text) in enumerate(new)
        ]
        session.execute(insert_ignoring_conflicts(session, Caption), rows)
        existing = _captions_by_hash(session, asset_id)
    return [existing[digest] for digest in wanted if digest in existing]


def _captions_by_hash(session: Session, asset_id: int) -> dict[str, Caption]:
    stmt = select(Caption).where(Caption.asset_id == asset_id)
    return {caption.text_hash: caption for caption in session.scalars(stmt)}


def get_assets(*, session: Session, ids: Iterable[int]) -> dict[int, Asset]:
    """Assets by id with captions eager-loaded (two statements whatever the count); missing ids
    are absent from the result."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    stmt = select(Asset).where(Asset.id.in_(wanted)).options(selectinload(Asset.captions))
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
