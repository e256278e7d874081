"""Catalog metadata for search hits: one catalog call per search, never one per hit.

Near-duplicate groups come from the catalog too (:mod:`modalign.catalog.repo.duplicates`),
not from a payload field on the image points: the catalog is where relations are recorded and
where deleting an asset drops them, in the same transaction; a payload copy would have to be
rewritten on every point of a group when its first asset is deleted, and a crash between the
two writes would leave a collapse grouping by a relation the catalog no longer has. Collapsing
needs one more lookup per search, over the hits' asset ids only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset
from modalign.errors import NotFoundError
from modalign.search.results import AssetInfo, CaptionInfo


class AssetLookup(Protocol):
    """Anything that returns catalog metadata for a batch of asset ids (missing ids left out)."""

    def assets(self, ids: Sequence[int]) -> Mapping[int, AssetInfo]: ...


@runtime_checkable
class GroupLookup(Protocol):
    """Anything that names the near-duplicate group of each of a batch of assets in a model
    version (asset id -> its group's first asset; assets in no group left out)."""

    def groups(self, ids: Sequence[int], version: str) -> Mapping[int, int]: ...


class CatalogLookup:
    """:class:`AssetLookup` and :class:`GroupLookup` over the SQL catalog: ``repo.get_assets``
    in one short transaction (the assets and their captions in two statements, whatever the
    number of hits), ``repo.groups_of`` in another."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory

    def assets(self, ids: Sequence[int]) -> dict[int, AssetInfo]:
        if not ids:
            return {}
        with session_scope(self._factory) as session:
            found = repo.get_assets(session=session, ids=ids)
            return {asset_id: asset_info(asset) for asset_id, asset in found.items()}

    def groups(self, ids: Sequence[int], version: str) -> dict[int, int]:
        if not ids:
            return {}
        with session_scope(self._factory) as session:
            try:
                version_id = repo.get_model_version(session=session, ref=version).id
            except NotFoundError:  # a collection the catalog has no version for: no groups
                return {}
            return repo.groups_of(session=session, model_version_id=version_id, asset_ids=ids)


def asset_info(asset: Asset) -> AssetInfo:
    """Detached, immutable copy of a catalog asset and its captions."""
    return AssetInfo(
        asset_id=asset.id,
        uri=asset.uri,
        width=asset.width,
        height=asset.height,
        source=asset.source,
        dataset=asset.dataset,
        split=asset.split,
        tags=tuple(asset.tags or ()),
        created_at=asset.created_at,
        content_hash=asset.content_hash,
        captions=tuple(CaptionInfo(text=c.text, position=c.position) for c in asset.captions),
        datasets=tuple(dict.fromkeys(m.dataset for m in asset.members)) or (asset.dataset,),
    )
