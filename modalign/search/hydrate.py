"""Catalog metadata for search hits: one catalog call per search, never one per hit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset
from modalign.search.results import AssetInfo, CaptionInfo


class AssetLookup(Protocol):
    """Anything that returns catalog metadata for a batch of asset ids (missing ids left out)."""

    def assets(self, ids: Sequence[int]) -> Mapping[int, AssetInfo]: ...


class CatalogLookup:
    """:class:`AssetLookup` over the SQL catalog: ``repo.get_assets`` in one short transaction
    (the assets and their captions in two statements, whatever the number of hits)."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory

    def assets(self, ids: Sequence[int]) -> dict[int, AssetInfo]:
        if not ids:
            return {}
        with session_scope(self._factory) as session:
            found = repo.get_assets(session=session, ids=ids)
            return {asset_id: asset_info(asset) for asset_id, asset in found.items()}


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
