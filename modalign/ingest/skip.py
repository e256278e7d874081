"""Decide what a batch must embed: skip what the catalog already holds for the model version.

Items are grouped by content hash (duplicates inside a batch become one asset). An asset already
embedded in the version needs only its captions that are new to the catalog; any other asset
needs its image and every caption it has, those already in the catalog included (so a model
version's caption collection is complete even for assets first ingested under another version).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset
from modalign.ingest.validate import Prepared


@dataclass
class AssetWork:
    """One distinct image of the batch and what must be written for it."""

    content_hash: str
    items: list[Prepared]
    captions: list[str]
    embed_image: bool
    embed_captions: list[str]
    asset_id: int | None = None  # known when the catalog already has the asset
    error: str | None = None
    image_vector: np.ndarray | None = None
    caption_vectors: list[np.ndarray] = field(default_factory=list)

    @property
    def first(self) -> Prepared:
        return self.items[0]

    @property
    def writes_points(self) -> bool:
        return self.embed_image or bool(self.embed_captions)


def plan_work(
    sessions: sessionmaker[Session], version_id: int, valid: Sequence[Prepared]
) -> list[AssetWork]:
    """The work per distinct content hash, in first-seen order."""
    groups: dict[str, list[Prepared]] = {}
    for prepared in valid:
        groups.setdefault(prepared.image.sha256, []).append(prepared)
    if not groups:
        return []
    with session_scope(sessions) as session:
        embedded = repo.embedded_hashes(
            session=session, model_version_id=version_id, hashes=list(groups)
        )
        known = _known_captions(session, list(groups))
    works = []
    for digest, items in groups.items():
        asset_id, captions = known.get(digest, (None, {}))
        work = _asset_work(digest, items, digest in embedded, captions)
        work.asset_id = asset_id
        works.append(work)
    return works


def _known_captions(
    session: Session, hashes: Sequence[str]
) -> dict[str, tuple[int, dict[str, str]]]:
    """content hash -> (asset id, {caption hash: text}) for the hashes the catalog has."""
    ids = {
        asset_id: digest
        for asset_id, digest in session.execute(
            select(Asset.id, Asset.content_hash).where(Asset.content_hash.in_(hashes))
        )
    }
    assets = repo.get_assets(session=session, ids=list(ids))
    return {
        ids[asset_id]: (asset_id, {c.text_hash: c.text for c in asset.captions})
        for asset_id, asset in assets.items()
    }


def _asset_work(
    digest: str, items: list[Prepared], embedded: bool, known: Mapping[str, str]
) -> AssetWork:
    offered: dict[str, str] = {}
    for prepared in items:
        for text in prepared.spec.captions:
            offered.setdefault(repo.caption_hash(text), text)
    if embedded:
        new = [text for h, text in offered.items() if h not in known]
        return AssetWork(digest, items, list(offered.values()), False, new)
    every = {**known, **offered}
    return AssetWork(digest, items, list(offered.values()), True, list(every.values()))
