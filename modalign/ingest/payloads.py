"""The payload a catalogued image's points carry, built from the catalog, and relabelling them.

The catalog is the source of truth; a point's payload is a filterable copy of its asset's fields
(datasets from its memberships, tags, source, split, size). When those change without new
vectors (a membership recorded, tags edited, a dataset withdrawn from a shared image), every
model version that embeds the asset gets the new fields on its image point and caption points in
one write per collection (:meth:`~modalign.search.store.VectorStore.set_payload`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from modalign.catalog import repo
from modalign.catalog.models import Asset, AssetEmbedding, ModelVersion
from modalign.search.filters import Filter, Match
from modalign.search.naming import Kind, image_point_id
from modalign.search.schema import CaptionPayload, ImagePayload
from modalign.search.store import PayloadUpdate, VectorStore


def image_payload(asset: Asset, datasets: Sequence[str]) -> ImagePayload:
    """The image fields of an asset's points."""
    return ImagePayload(
        asset_id=asset.id,
        content_hash=asset.content_hash,
        source=asset.source,
        dataset=list(datasets) or [asset.dataset],
        split=asset.split,
        tags=list(asset.tags),
        created_at=asset.created_at,
        width=asset.width,
        height=asset.height,
    )


def caption_payload(image: ImagePayload, text: str, position: int) -> CaptionPayload:
    """The payload of one caption point of an image: its image's fields and its own."""
    return CaptionPayload(
        **image.model_dump(), text=text, position=position,
        image_point_id=image_point_id(image.content_hash),
    )


def catalog_payloads(*, session: Session, asset_ids: Iterable[int]) -> dict[int, ImagePayload]:
    """Fresh image payloads of these assets, read from the catalog (missing ids left out)."""
    wanted = list(dict.fromkeys(asset_ids))
    if not wanted:
        return {}
    datasets = repo.datasets_of(session=session, asset_ids=wanted)
    stmt = select(Asset).where(Asset.id.in_(wanted)).execution_options(populate_existing=True)
    return {a.id: image_payload(a, datasets.get(a.id, ())) for a in session.scalars(stmt)}


def embedded_versions(*, session: Session, asset_ids: Iterable[int]) -> dict[str, set[int]]:
    """Model version name -> the given assets it embeds."""
    stmt = (
        select(ModelVersion.name, AssetEmbedding.asset_id)
        .join(ModelVersion, ModelVersion.id == AssetEmbedding.model_version_id)
        .where(AssetEmbedding.asset_id.in_(list(dict.fromkeys(asset_ids))))
    )
    found: dict[str, set[int]] = {}
    for name, asset_id in session.execute(stmt):
        found.setdefault(name, set()).add(asset_id)
    return found


def by_content(content_hash: str) -> Filter:
    """The points of one image: its image point and every caption point of it."""
    return Filter(must=[Match(field="content_hash", value=content_hash)])


def relabel(
    store: VectorStore,
    payloads: Mapping[int, ImagePayload],
    versions: Mapping[str, set[int]],
) -> int:
    """Write each asset's image fields on its points in every version embedding it (versions
    the store does not hold are skipped); returns the number of collection writes."""
    writes = 0
    present = set(store.versions())
    for version, asset_ids in versions.items():
        updates = [
            PayloadUpdate(by_content(payloads[a].content_hash), payloads[a])
            for a in sorted(asset_ids)
            if a in payloads
        ]
        if version not in present or not updates:
            continue
        for kind in Kind:
            store.set_payload(kind, updates, version=version)
            writes += 1
    return writes
