"""Do the catalog and the vector store agree on what a model version holds?

The write order (:mod:`modalign.ingest.write`) promises that, whatever crashes when:

- every asset marked embedded in the version has its image point (id ``image_point_id`` of its
  content hash) and one caption point per catalogued caption: nothing acknowledged is *lost*;
- every point in the version's collections is accounted for by a catalogued asset or caption,
  and the catalog holds one asset per content hash and one caption per (asset, text): nothing
  is *duplicated*;
- only while a batch is unfinished (a crash between its catalog rows and its outcome leaves
  them, its retry clears them): assets not marked embedded (*unmarked*), and points of new
  captions of an embedded asset whose rows are recorded with the outcome (*unrecorded*).

:func:`check_consistency` measures all three, and :func:`check_job` whether a job's counters
match its items (each item counted once), for the crash tests and ``bench/faults.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset, AssetEmbedding, Caption, ItemStatus, JobItem
from modalign.search.naming import Kind, caption_point_id, image_point_id
from modalign.search.store import VectorStore


@dataclass(frozen=True)
class Consistency:
    """Counts of one version, and what is missing or extra on either side."""

    assets: int
    embedded: int
    captions: int
    image_points: int
    caption_points: int
    missing_images: int
    missing_captions: int
    extra_images: int
    extra_captions: int
    unmarked_assets: int
    unrecorded_captions: int
    duplicate_assets: int
    duplicate_captions: int

    @property
    def lost(self) -> int:
        """Points of embedded assets (or of their captions) the store does not hold."""
        return self.missing_images + self.missing_captions

    @property
    def duplicated(self) -> int:
        """Points nothing in the catalog accounts for, and catalog rows held twice."""
        return (
            self.extra_images + self.extra_captions + self.duplicate_assets
            + self.duplicate_captions
        )

    @property
    def complete(self) -> bool:
        """Nothing lost, nothing duplicated, nothing unfinished: a finished state."""
        unfinished = self.unmarked_assets + self.unrecorded_captions
        return self.lost == 0 and self.duplicated == 0 and unfinished == 0


@dataclass(frozen=True)
class _CatalogView:
    hashes: set[str]  # content hashes of every asset
    images: set[str]  # expected image point ids of every asset
    captions: set[str]  # expected caption point ids of every caption
    embedded_images: set[str]
    embedded_captions: set[str]
    duplicate_assets: int
    duplicate_captions: int


def check_consistency(
    sessions: sessionmaker[Session], store: VectorStore, version: str
) -> Consistency:
    """Compare the catalog's assets and captions with the version's points (see the module)."""
    view = _catalog_view(sessions, version)
    images = set(_points(store, Kind.IMAGES, version))
    captions = _points(store, Kind.CAPTIONS, version)
    unlisted = {pid for pid in captions if pid not in view.captions}
    unrecorded = {pid for pid in unlisted if captions[pid] in view.hashes}
    return Consistency(
        assets=len(view.images),
        embedded=len(view.embedded_images),
        captions=len(view.captions),
        image_points=len(images),
        caption_points=len(captions),
        missing_images=len(view.embedded_images - images),
        missing_captions=len(view.embedded_captions - captions.keys()),
        extra_images=len(images - view.images),
        extra_captions=len(unlisted - unrecorded),
        unmarked_assets=len(view.images - view.embedded_images),
        unrecorded_captions=len(unrecorded),
        duplicate_assets=view.duplicate_assets,
        duplicate_captions=view.duplicate_captions,
    )


def _catalog_view(sessions: sessionmaker[Session], version: str) -> _CatalogView:
    with session_scope(sessions) as session:
        version_id = repo.get_model_version(session=session, ref=version).id
        marked = set(
            session.scalars(
                select(AssetEmbedding.asset_id).where(
                    AssetEmbedding.model_version_id == version_id
                )
            )
        )
        assets = session.execute(select(Asset.id, Asset.content_hash)).all()
        rows = session.execute(
            select(Caption.asset_id, Asset.content_hash, Caption.text_hash).join(Asset)
        ).all()
    return _CatalogView(
        hashes={h for _, h in assets},
        images={image_point_id(h) for _, h in assets},
        captions={caption_point_id(h, t) for _, h, t in rows},
        embedded_images={image_point_id(h) for a, h in assets if a in marked},
        embedded_captions={caption_point_id(h, t) for a, h, t in rows if a in marked},
        duplicate_assets=len(assets) - len({h for _, h in assets}),
        duplicate_captions=len(rows) - len({(a, t) for a, _, t in rows}),
    )


def _points(store: VectorStore, kind: Kind, version: str) -> dict[str, str]:
    """Point id -> the content hash of the image it belongs to, for every point."""
    if version not in store.versions():
        return {}
    total = store.count(kind, version=version)
    records = store.scroll(kind, limit=total + 1, version=version)
    return {record.id: str(record.payload.get("content_hash")) for record in records}


@dataclass(frozen=True)
class JobCheck:
    """A job's status and counters beside the statuses its items hold."""

    status: str
    total: int
    counted: dict[ItemStatus, int]  # the job's done / failed / skipped counters
    items: dict[ItemStatus, int]  # its items by status
    new_points: int

    @property
    def counters_agree(self) -> bool:
        """Every finished item counted once, and the total is the number of items."""
        finished = {s: n for s, n in self.items.items() if s is not ItemStatus.PENDING}
        return self.counted == finished and self.total == sum(self.items.values())


def check_job(sessions: sessionmaker[Session], job_id: int) -> JobCheck:
    """The job's counters and its items' statuses (see :class:`JobCheck`)."""
    with session_scope(sessions) as session:
        job = repo.get_job(session=session, job_id=job_id)
        rows = session.execute(
            select(JobItem.status, func.count())
            .where(JobItem.job_id == job_id)
            .group_by(JobItem.status)
        ).all()
        items = {status: 0 for status in ItemStatus}
        items.update({ItemStatus(status): int(n) for status, n in rows})
        counted = {
            ItemStatus.DONE: job.done_items,
            ItemStatus.FAILED: job.failed_items,
            ItemStatus.SKIPPED: job.skipped_items,
        }
        return JobCheck(job.status, job.total_items, counted, items, job.new_points)
