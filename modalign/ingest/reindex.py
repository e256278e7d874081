"""Re-indexing: embed every catalogued asset into another model version, then switch to it.

A reindex job's items are the catalog's assets (by id, so an interrupted plan continues where it
stopped); its batches run through the same pipeline as ingestion, so assets already embedded in
the target version are skipped and searches keep using the active version meanwhile. When the
last batch commits, the target version becomes active in the catalog and in the store (both
collections' aliases move together).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset, Job, JobKind, JobStatus
from modalign.config import PathsSettings
from modalign.ingest.resources import IngestResources
from modalign.ingest.sources import SourceItem
from modalign.ingest.spec import CATALOG_SOURCE

log = logging.getLogger(__name__)

PAGE = 500


def reindex_job(sessions: sessionmaker[Session], model: str) -> int:
    """The open reindex job into ``model`` if there is one (to resume), else a new one."""
    with session_scope(sessions) as session:
        version = repo.get_model_version(session=session, ref=model)
        stmt = select(Job.id).where(
            Job.kind == JobKind.REINDEX.value,
            Job.model_version_id == version.id,
            Job.status.in_([JobStatus.PENDING.value, JobStatus.RUNNING.value]),
        )
        open_job = session.scalars(stmt.order_by(Job.id.desc())).first()
        if open_job is not None:
            return open_job
        job = repo.create_job(
            session=session,
            kind=JobKind.REINDEX,
            source_spec={"kind": CATALOG_SOURCE, "path": "catalog", "planned": False},
            dataset="*",
            model_version_id=version.id,
        )
        return job.id


def catalog_items(sessions: sessionmaker[Session], paths: PathsSettings) -> Iterator[SourceItem]:
    """Every asset as a source item (file, captions, expected hash), in id order."""
    last = 0
    while True:
        with session_scope(sessions) as session:
            ids = list(
                session.scalars(
                    select(Asset.id).where(Asset.id > last).order_by(Asset.id).limit(PAGE)
                )
            )
            assets = repo.get_assets(session=session, ids=ids)
            items = [_item(assets[i], paths) for i in ids if i in assets]
        if not ids:
            return
        last = ids[-1]
        yield from items


def _item(asset: Asset, paths: PathsSettings) -> SourceItem:
    return SourceItem(
        key=asset.uri,
        path=paths.from_stored(asset.uri),
        captions=tuple(c.text for c in asset.captions),
        meta={"source": asset.source, "split": asset.split, "sha256": asset.content_hash},
    )


def sync_active_version(res: IngestResources, job_id: int) -> str | None:
    """After a job finished: the store's active version follows the catalog's.

    A finished (not failed) reindex job first makes its version active in the catalog; then,
    for any job, if the job's version is the catalog's active one, the store's aliases are moved
    to it (the first ingest into a fresh store sets them). Returns the version switched to.
    """
    with session_scope(res.sessions) as session:
        job = repo.get_job(session=session, job_id=job_id)
        if job.model_version_id is None:
            return None
        if job.kind == JobKind.REINDEX.value and job.status != JobStatus.FAILED.value:
            repo.activate_model_version(session=session, ref=job.model_version_id)
        active = repo.get_active_model_version(session=session)
        if active is None or active.id != job.model_version_id:
            return None
        with res.store.use() as store:
            if store.active_version() == active.name:
                return None
            store.set_active_version(active.name)
    log.info("job %d: %s is now the store's active version", job_id, active.name)
    return active.name
