"""The payload a catalogued image's points carry, built from the catalog, and relabelling them.

The catalog is the source of truth; a point's payload is a filterable copy of its asset's fields
(datasets from its memberships, tags, source, split, size). When those change without new
vectors (a membership recorded, tags edited, a dataset withdrawn from a shared image), every
model version that embeds the asset gets the new fields on its image point and caption points in
one write per collection (:meth:`~modalign.search.store.VectorStore.set_payload`).

Which points to relabel is read from the store (:func:`stale_versions`), not remembered from
the catalog write that changed the fields: a crash between that write and the relabel leaves
nothing changed for the retry to see in the catalog, only the points' old fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modalign.catalog import repo
from modalign.catalog.models import Asset, AssetEmbedding, ModelVersion
from modalign.search.filters import Filter, Match, MatchAny
from modalign.search.naming import Kind, image_point_id
from modalign.search.schema import IMAGE_FIELDS, CaptionPayload, ImagePayload
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


UNORDERED = ("dataset", "tags")  # list fields compared as sets
HASHES_PER_FILTER = 64


def normal(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A payload in a form two equal payloads share (list fields unordered, datetimes parsed)."""
    out = dict(payload)
    for name in UNORDERED:
        value = out.get(name)
        out[name] = sorted(value) if isinstance(value, list) else [value] if value else []
    created = out.get("created_at")
    if isinstance(created, str):
        out["created_at"] = datetime.fromisoformat(created.replace("Z", "+00:00"))
    return out


def stale_versions(
    store: VectorStore,
    payloads: Mapping[int, ImagePayload],
    versions: Mapping[str, set[int]],
) -> dict[str, set[int]]:
    """Of the assets ``versions`` embeds, those whose image or caption points there carry image
    fields other than ``payloads`` (versions the store does not hold are left out)."""
    present = set(store.versions())
    stale: dict[str, set[int]] = {}
    for version, asset_ids in versions.items():
        wanted = {payloads[a].content_hash: a for a in asset_ids if a in payloads}
        if version not in present or not wanted:
            continue
        found = _stale_in(store, version, wanted, payloads)
        if found:
            stale[version] = found
    return stale


def _stale_in(
    store: VectorStore, version: str, wanted: Mapping[str, int],
    payloads: Mapping[int, ImagePayload],
) -> set[int]:
    expected = {a: _image_fields(payloads[a].to_store()) for a in wanted.values()}
    hashes = sorted(wanted)
    stale: set[int] = set()
    for start in range(0, len(hashes), HASHES_PER_FILTER):
        chunk = hashes[start : start + HASHES_PER_FILTER]
        flt = Filter(must=[MatchAny(field="content_hash", values=chunk)])
        for kind in Kind:
            for record in store.scroll_all(kind, filter=flt, version=version):
                asset = wanted.get(str(record.payload.get("content_hash")))
                if asset is not None and _image_fields(record.payload) != expected[asset]:
                    stale.add(asset)
    return stale


def _image_fields(payload: Mapping[str, Any]) -> dict[str, Any]:
    return normal({k: v for k, v in payload.items() if k in IMAGE_FIELDS})
