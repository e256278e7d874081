"""Editing an asset's captions and tags: the catalog first, then every version's points.

The edit is applied to the catalog in one transaction (captions renumbered in their new order,
tags cleaned as ingestion cleans them); then the asset's points are brought in line with it in
every version that embeds it, by the same check and repair that ``modalign check`` runs, limited
to this asset: new captions are encoded with each version's own encoder, removed ones deleted,
the image fields (tags) and positions rewritten, and the image points' keyword vectors (made of
the captions and tags) rewritten where they changed. A crash between the two leaves the catalog
edited and the store behind; ``modalign check --repair`` finishes it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset, Caption
from modalign.errors import InvalidInputError
from modalign.ingest.captions import clean_captions
from modalign.ingest.check import check
from modalign.ingest.keywords import refresh_image_keywords
from modalign.ingest.repair import RepairReport, repair_points
from modalign.ingest.resources import IngestResources
from modalign.ingest.sources.item import clean_tags
from modalign.search.editing import ListEdit


@dataclass(frozen=True)
class AssetUpdate:
    """An asset's captions and tags after an edit, and what the store needed."""

    asset_id: int
    captions: list[str]
    tags: list[str]
    store: RepairReport

    def as_dict(self) -> dict[str, Any]:
        return {"asset_id": self.asset_id, "captions": self.captions, "tags": self.tags,
                "store": self.store.as_dict()}


def update_asset(
    res: IngestResources,
    asset_id: int,
    *,
    captions: ListEdit = ListEdit(),
    tags: ListEdit = ListEdit(),
    max_caption_chars: int = 2000,
) -> AssetUpdate:
    """Apply the edits (see the module docstring); NotFoundError for an unknown asset,
    InvalidInputError for a caption or tag to remove that the asset does not have."""
    edits = {asset_id: AssetEdit(captions, tags)}
    [done] = update_assets(res, edits, max_caption_chars=max_caption_chars)
    return done


@dataclass(frozen=True)
class AssetEdit:
    """The edits of one asset."""

    captions: ListEdit = field(default_factory=ListEdit)
    tags: ListEdit = field(default_factory=ListEdit)


def update_assets(
    res: IngestResources, edits: Mapping[int, AssetEdit], *, max_caption_chars: int = 2000
) -> list[AssetUpdate]:
    """:func:`update_asset` for many assets: one catalog transaction for all (nothing changes
    if one edit is refused), then one check and repair of their points."""
    if not edits or not all(e.captions or e.tags for e in edits.values()):
        raise InvalidInputError("nothing to change: give captions or tags to set, add or remove")
    results: list[tuple[int, list[str], list[str]]] = []
    with session_scope(res.sessions) as session:
        for asset_id, edit in edits.items():
            asset = repo.get_asset(session=session, asset_id=asset_id)
            texts = _edit_captions(session, asset, edit.captions, max_caption_chars)
            results.append((asset_id, texts, _edit_tags(session, asset, edit.tags)))
    with res.store.use() as store:
        report = check(res.sessions, store, asset_ids=list(edits))
        done = repair_points(res, store, report)
        refresh_image_keywords(store, report.versions, res.keywords.get())
    return [AssetUpdate(asset_id, texts, labels, done) for asset_id, texts, labels in results]


def _edit_captions(
    session: Session, asset: Asset, edit: ListEdit, max_chars: int
) -> list[str]:
    current = [c.text for c in asset.captions]
    if not edit:
        return current
    wanted = _edited(current, edit, "caption", repo.caption_hash, max_chars)
    new_hashes = [repo.caption_hash(t) for t in wanted]
    gone = [c.id for c in asset.captions if c.text_hash not in set(new_hashes)]
    if gone:
        session.execute(delete(Caption).where(Caption.id.in_(gone)))
    repo.add_captions(session=session, asset_id=asset.id, texts=wanted)
    for position, digest in enumerate(new_hashes):
        stmt = update(Caption).where(Caption.asset_id == asset.id, Caption.text_hash == digest)
        session.execute(stmt.values(position=position))
    stmt_texts = select(Caption.text).where(Caption.asset_id == asset.id).order_by(Caption.position)
    return list(session.scalars(stmt_texts))


def _edit_tags(session: Session, asset: Asset, edit: ListEdit) -> list[str]:
    if not edit:
        return list(asset.tags)
    wanted = list(clean_tags(_edited(list(asset.tags), edit, "tag", _same, 100)))
    session.execute(update(Asset).where(Asset.id == asset.id).values(tags=wanted))
    return wanted


def _same(text: str) -> str:
    return text


def _edited(
    current: Sequence[str], edit: ListEdit, what: str, key: Any, max_chars: int
) -> list[str]:
    """The list after the edit, cleaned; refuses to remove what is not there."""
    base = list(edit.replace) if edit.replace is not None else list(current)
    known = {key(t) for t in base}
    missing = [t for t in edit.remove if key(t) not in known]
    if missing:
        raise InvalidInputError(f"the asset has no {what} {missing[0]!r}")
    dropped = {key(t) for t in edit.remove}
    kept = [t for t in base if key(t) not in dropped]
    return list(clean_captions([*kept, *edit.add], max_chars))
