"""Catalog rows and store facts turned into the API's response bodies."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from modalign.catalog.models import Asset, Job, JobItem, JobState, ModelVersion, utcnow
from modalign.errors import ModalignError
from modalign.ingest.owners import describe_owner, reported_state, resume_command
from modalign.search.naming import Kind
from modalign.search.store import VectorStore
from modalign.service.redact import FULL_PATHS, PathView
from modalign.service.schemas import (
    AssetView,
    CaptionView,
    CollectionView,
    FailureView,
    JobDetail,
    JobView,
    ModelView,
)

log = logging.getLogger(__name__)


def job_view(job: Job, now: datetime | None = None, paths: PathView = FULL_PATHS) -> JobView:
    """A job with derived state (interrupted when no live process holds it), progress, rate
    and ETA; host paths shown as ``paths`` allows."""
    now = now or utcnow()
    finished = job.done_items + job.failed_items + job.skipped_items
    pending = max(job.total_items - finished, 0)
    rate = _rate(job, finished, now)
    state = reported_state(job, now)
    running = state is JobState.RUNNING
    return JobView(
        id=job.id, kind=job.kind, status=state.value, dataset=job.dataset, tags=list(job.tags),
        source=paths.tree(dict(job.source_spec)), total_items=job.total_items,
        done_items=job.done_items, failed_items=job.failed_items,
        skipped_items=job.skipped_items, pending_items=pending,
        new_points=job.new_points,
        progress=round(finished / job.total_items, 4) if job.total_items else 0.0,
        rate_items_per_s=rate,
        eta_s=round(pending / rate, 1) if rate and running else None,
        created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
        updated_at=job.updated_at, model_version_id=job.model_version_id,
        error=None if job.error is None else paths.text(job.error),
        owner=job.owner, holder=describe_owner(job.owner), heartbeat_at=job.heartbeat_at,
        lease_expires_at=job.lease_expires_at,
        resume_command=resume_command(job.id) if state is JobState.INTERRUPTED else None,
    )


def _rate(job: Job, finished: int, now: datetime) -> float | None:
    if job.started_at is None or finished == 0:
        return None
    seconds = ((job.finished_at or now) - job.started_at).total_seconds()
    return round(finished / seconds, 2) if seconds > 0 else None


def job_detail(
    job: Job, failures: Sequence[JobItem], paths: PathView = FULL_PATHS
) -> JobDetail:
    """A job with its failed items."""
    failed = [
        FailureView(seq=i.seq, uri=paths.uri(i.uri),
                    error=None if i.error is None else paths.text(i.error), attempts=i.attempts)
        for i in failures
    ]
    return JobDetail(**job_view(job, paths=paths).model_dump(), failures=failed)


def asset_view(asset: Asset, paths: PathView = FULL_PATHS) -> AssetView:
    """An asset and its captions, with the URL of its thumbnail."""
    captions = [CaptionView(id=c.id, text=c.text, position=c.position) for c in asset.captions]
    return AssetView(
        id=asset.id, content_hash=asset.content_hash, uri=paths.uri(asset.uri), width=asset.width,
        height=asset.height, mime=asset.mime, size_bytes=asset.size_bytes, source=asset.source,
        dataset=asset.dataset, datasets=list(dict.fromkeys(m.dataset for m in asset.members))
        or [asset.dataset], split=asset.split, tags=list(asset.tags),
        created_at=asset.created_at, thumbnail_url=f"/v1/assets/{asset.id}/thumbnail",
        captions=captions,
    )


def model_view(
    row: ModelVersion, store: VectorStore | None, paths: PathView = FULL_PATHS
) -> ModelView:
    """A model version with its collections' state (empty when it has none in the store)."""
    return ModelView(
        id=row.id, name=row.name, dims=row.dims, active=row.active, created_at=row.created_at,
        metrics=dict(row.metrics), card=paths.tree(dict(row.card)),
        collections=collections_of(store, row.name) if store is not None else [],
    )


def collections_of(store: VectorStore, version: str) -> list[CollectionView]:
    """Both collections of ``version``; none if the store does not hold it."""
    views = []
    for kind in Kind:
        try:
            info = store.info(kind, version=version)
        except ModalignError as exc:
            log.debug("no %s collection for %s: %s", kind.value, version, exc)
            continue
        views.append(CollectionView(
            name=info.name, kind=kind.value, points=info.points,
            indexed_points=info.indexed_points, segments=info.segments, status=info.status,
            quantization=info.quantization,
        ))
    return views
