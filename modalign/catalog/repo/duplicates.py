"""Near-duplicate relations: per model version, an asset, its original (the nearest asset already
indexed when it was ingested), the group it joined and their cosine.

A group is named by its first asset: an asset recorded as a near-duplicate of an original joins
the original's group, or starts one named by the original. Ingestion only ever adds an asset to
one existing group, so groups never need merging. Rows go with either asset (the foreign keys
cascade), so deleting an asset drops its relations both ways.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, aliased

from modalign.catalog.models import AssetMember, NearDuplicate
from modalign.catalog.repo._sql import chunks


@dataclass(frozen=True)
class NewNearDuplicate:
    """``asset_id`` was found within the threshold of ``original_asset_id`` at ``cosine``."""

    asset_id: int
    original_asset_id: int
    cosine: float


@dataclass(frozen=True)
class NearDuplicateRow:
    """A recorded relation, as the listing reads it."""

    asset_id: int
    original_asset_id: int
    group_asset_id: int
    cosine: float


def record_near_duplicates(
    *, session: Session, model_version_id: int, pairs: Sequence[NewNearDuplicate]
) -> list[NearDuplicateRow]:
    """Record the pairs in order (a later pair may name an earlier one's asset as its original),
    replacing what an earlier run recorded for their assets; returns the rows written."""
    if not pairs:
        return []
    assets = [p.asset_id for p in pairs]
    for chunk in chunks(assets):
        session.execute(delete(NearDuplicate).where(
            NearDuplicate.model_version_id == model_version_id,
            NearDuplicate.asset_id.in_(chunk),
        ))
    groups = groups_of(
        session=session, model_version_id=model_version_id,
        asset_ids=[p.original_asset_id for p in pairs],
    )
    rows: list[NearDuplicateRow] = []
    for pair in pairs:
        if pair.asset_id == pair.original_asset_id:
            continue
        group = groups.get(pair.original_asset_id, pair.original_asset_id)
        groups[pair.asset_id] = group
        rows.append(NearDuplicateRow(pair.asset_id, pair.original_asset_id, group, pair.cosine))
    session.add_all(NearDuplicate(
        asset_id=r.asset_id, model_version_id=model_version_id,
        original_asset_id=r.original_asset_id, group_asset_id=r.group_asset_id,
        cosine=float(r.cosine),
    ) for r in rows)
    session.flush()
    return rows


def groups_of(
    *, session: Session, model_version_id: int, asset_ids: Iterable[int]
) -> dict[int, int]:
    """Asset id -> its group's first asset, for the given assets recorded as near-duplicates in
    the version (an asset absent from the result is in no group, or is a group's first)."""
    wanted = list(dict.fromkeys(asset_ids))
    found: dict[int, int] = {}
    for chunk in chunks(wanted):
        stmt = select(NearDuplicate.asset_id, NearDuplicate.group_asset_id).where(
            NearDuplicate.model_version_id == model_version_id,
            NearDuplicate.asset_id.in_(chunk),
        )
        found.update({a: g for a, g in session.execute(stmt)})
    return found


def near_duplicate_pairs(
    *,
    session: Session,
    model_version_id: int,
    dataset: str | None = None,
    min_cosine: float | None = None,
) -> list[NearDuplicateRow]:
    """The version's recorded relations (both assets in ``dataset`` when given, cosine at least
    ``min_cosine`` when given), by asset id."""
    stmt = select(
        NearDuplicate.asset_id, NearDuplicate.original_asset_id,
        NearDuplicate.group_asset_id, NearDuplicate.cosine,
    ).where(NearDuplicate.model_version_id == model_version_id)
    if min_cosine is not None:
        stmt = stmt.where(NearDuplicate.cosine >= min_cosine)
    if dataset is not None:
        mine, theirs = aliased(AssetMember), aliased(AssetMember)
        stmt = (
            stmt.join(mine, mine.asset_id == NearDuplicate.asset_id)
            .join(theirs, theirs.asset_id == NearDuplicate.original_asset_id)
            .where(mine.dataset == dataset, theirs.dataset == dataset)
            .distinct()
        )
    rows = session.execute(stmt.order_by(NearDuplicate.asset_id))
    return [NearDuplicateRow(a, o, g, float(c)) for a, o, g, c in rows]
