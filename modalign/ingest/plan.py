"""Plan a job: create its row, then stream the source into job items, batch by batch.

Items whose entry is bad (path outside the root, malformed line, missing file) are recorded as
failed at once with their reason. Planning commits one batch at a time and marks the job
``planned`` at the end; an interrupted plan continues where it stopped (sources are read in a
fixed order), so ``resume`` never plans an item twice.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import ItemStatus, JobKind, JobStatus
from modalign.config import Settings
from modalign.errors import ConfigError, InvalidInputError
from modalign.faults import fault_point
from modalign.ingest.sources import (
    SourceItem,
    SourceLimits,
    SourceSpec,
    iter_source,
    source_root,
)
from modalign.ingest.spec import CATALOG_SOURCE, RemovalEntry, to_spec
from modalign.ingest.sync import PlanEntry, SyncCounts, SyncSource, sync_entries

log = logging.getLogger(__name__)


def default_dataset(source: SourceSpec) -> str:
    """A dataset name from the source: the folder's name, else the file's folder or stem."""
    path = source.path.resolve()
    if source.kind == "folder":
        return path.name
    return path.parent.name if source.kind == "manifest" else path.stem


def model_version_id(session: Session, model: str | None) -> int:
    """The id of the named model version, else the active one; ConfigError if there is none."""
    if model is not None:
        return repo.get_model_version(session=session, ref=model).id
    active = repo.get_active_model_version(session=session)
    if active is None:
        raise ConfigError("no active model version: train one or pass --model")
    return active.id


def create_ingest_job(
    sessions: sessionmaker[Session],
    source: SourceSpec,
    *,
    dataset: str | None = None,
    tags: Sequence[str] = (),
    model: str | None = None,
    lease: repo.Lease | None = None,
    sync: bool = False,
) -> int:
    """A new pending ingest job for ``source`` (not planned yet), held under ``lease``; with
    ``sync``, a sync job (:mod:`modalign.ingest.sync`)."""
    spec: dict[str, Any] = {
        "kind": source.kind,
        "path": str(source.path.resolve()),
        "image_root": str(source.image_root.resolve()) if source.image_root else None,
        "root": str(source_root(source)),
        "planned": False,
        "sync": sync,
    }
    with session_scope(sessions) as session:
        job = repo.create_job(
            session=session,
            kind=JobKind.SYNC if sync else JobKind.INGEST,
            source_spec=spec,
            dataset=dataset or default_dataset(source),
            tags=list(dict.fromkeys(tags)),
            model_version_id=model_version_id(session, model),
            lease=lease,
        )
        return job.id


def source_of(source_spec: dict[str, Any]) -> SourceSpec:
    """The SourceSpec a job was created with."""
    root = source_spec.get("image_root")
    return SourceSpec(
        path=Path(source_spec["path"]),
        kind=source_spec["kind"],
        image_root=Path(root) if root else None,
    )


def job_root(source_spec: dict[str, Any]) -> Path | None:
    """The folder a job's files are confined to (None for the catalog's own assets)."""
    if source_spec.get("kind") == CATALOG_SOURCE:
        return None
    root = source_spec.get("root")
    return Path(root) if isinstance(root, str) else source_root(source_of(source_spec))


def plan_job(settings: Settings, sessions: sessionmaker[Session], job_id: int) -> int:
    """Stream the job's source into items (continuing an interrupted plan); returns total items."""
    with session_scope(sessions) as session:
        job = repo.get_job(session=session, job_id=job_id)
        spec, already, dataset = dict(job.source_spec), job.total_items, job.dataset
    if spec.get("planned"):
        return already
    try:
        total = _plan_items(settings, sessions, job_id, (spec, dataset), already)
    except InvalidInputError as exc:  # the source as a whole cannot be read: the job's error
        _fail_job(sessions, job_id, str(exc))
        raise
    with session_scope(sessions) as session:
        job = repo.get_job(session=session, job_id=job_id)
        job.source_spec = {**job.source_spec, "planned": True}
        repo.finish_job_if_complete(session=session, job_id=job_id)
    log.info("job %d planned: %d items in batches of %d", job_id, total, settings.ingest.batch_size)
    return total


def _plan_items(
    settings: Settings,
    sessions: sessionmaker[Session],
    job_id: int,
    source: tuple[dict[str, Any], str],
    already: int,
) -> int:
    """Add the source's items after the first ``already`` ones; returns the total planned. A
    sync compares the source with its dataset first (:mod:`modalign.ingest.sync`) and records
    the counts it found on the job."""
    spec, dataset = source
    size = settings.ingest.batch_size
    total = already
    counts = SyncCounts()
    items = _source_items(settings, sessions, spec, dataset, counts)
    for chunk in _chunks(itertools.islice(items, already, None), size):
        with session_scope(sessions) as session:
            _add_chunk(session, job_id, total, chunk, size)
            fault_point("plan.chunk")
        total += len(chunk)
    if spec.get("sync"):
        _record_counts(sessions, job_id, counts)
    return total


def _record_counts(sessions: sessionmaker[Session], job_id: int, counts: SyncCounts) -> None:
    log.info("job %d: sync found %s", job_id, counts.summary())
    with session_scope(sessions) as session:
        job = repo.get_job(session=session, job_id=job_id)
        job.source_spec = {**job.source_spec, "counts": counts.as_dict()}


def _fail_job(sessions: sessionmaker[Session], job_id: int, reason: str) -> None:
    log.error("job %d: %s", job_id, reason)
    with session_scope(sessions) as session:
        repo.set_job_status(session=session, job_id=job_id, status=JobStatus.FAILED, error=reason)


def _source_items(
    settings: Settings,
    sessions: sessionmaker[Session],
    spec: dict[str, Any],
    dataset: str,
    counts: SyncCounts,
) -> Iterator[PlanEntry]:
    from modalign.ingest.reindex import catalog_items

    if spec.get("kind") == CATALOG_SOURCE:
        return catalog_items(sessions, settings.paths)
    source, limits = source_of(spec), source_limits(settings)
    if spec.get("sync"):
        root = job_root(spec)
        assert root is not None
        sync = SyncSource(source, root, dataset, limits)
        return sync_entries(settings, sessions, sync, counts)
    return iter_source(source, limits)


def _key(entry: PlanEntry) -> str:
    return entry.uri if isinstance(entry, RemovalEntry) else entry.key


def source_limits(settings: Settings) -> SourceLimits:
    """What the readers cut and refuse, from the ingest settings."""
    ingest = settings.ingest
    return SourceLimits(ingest.max_caption_chars, ingest.max_sidecar_bytes)


def _chunks(items: Iterator[PlanEntry], size: int) -> Iterator[list[PlanEntry]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def _add_chunk(
    session: Session, job_id: int, start: int, chunk: Sequence[PlanEntry], size: int
) -> None:
    """Add items numbered from ``start``; record the source's bad entries as failed."""
    new = [repo.NewJobItem(_key(i), (start + n) // size, to_spec(i)) for n, i in enumerate(chunk)]
    repo.add_job_items(session=session, job_id=job_id, items=new)
    errors = {
        start + n: item.error
        for n, item in enumerate(chunk)
        if isinstance(item, SourceItem) and item.error is not None
    }
    if not errors:
        return
    batches = {(seq // size) for seq in errors}
    rows = [
        row
        for b in sorted(batches)
        for row in repo.pending_items(session=session, job_id=job_id, batch_no=b)
        if row.seq in errors
    ]
    updates = [repo.ItemUpdate(row.id, ItemStatus.FAILED, error=errors[row.seq]) for row in rows]
    changed = repo.mark_items(session=session, updates=updates)
    repo.increment_job_counters(session=session, job_id=job_id, failed=changed[ItemStatus.FAILED])
