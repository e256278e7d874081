"""One batch, the same function for every dispatcher (in-process, Celery worker).

reader (pending items of the batch from the catalog, images decoded and validated) -> skip (what
the catalog already holds for the job's model version) -> mapper (encode images and captions) ->
writer (assets and captions, then both collections upserted durably, then embedded marks, item
outcomes and job counters in one transaction; see :mod:`modalign.ingest.write`). A bad item is
marked failed with its reason and the batch goes on; a batch delivered twice finds no pending
items the second time, or re-writes the same points and counts nothing. The batch that finishes
the job then builds the index and moves the store's active version; a batch of a job already
finished does that again (both are idempotent), since a crash may have cut it short. Each
stage's wall time is logged per batch and returned in :attr:`BatchResult.seconds`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import JobStatus
from modalign.errors import ConfigError
from modalign.faults import fault_point
from modalign.ingest.encode import encode_work
from modalign.ingest.plan import job_root
from modalign.ingest.resources import IngestResources
from modalign.ingest.skip import AssetWork, plan_work
from modalign.ingest.spec import ItemSpec, Removal, from_spec
from modalign.ingest.timing import StageTimer
from modalign.ingest.validate import Failure, Prepared, validate_items
from modalign.ingest.write import BatchTarget, write_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchResult:
    """What one run of a batch did (zeros when it found nothing pending)."""

    job_id: int
    batch_no: int
    items: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    new_points: int = 0
    finished_job: bool = False
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class StagedBatch:
    """A batch between stages: read (items decoded), then mapped (works encoded)."""

    job_id: int
    batch_no: int
    target: BatchTarget | None = None
    items: int = 0
    valid: list[Prepared] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    works: list[AssetWork] = field(default_factory=list)
    removals: list[tuple[int, Removal]] = field(default_factory=list)
    timer: StageTimer = field(default_factory=StageTimer)
    job_finished: bool = False  # the job was finished when the batch was read


def run_batch(res: IngestResources, job_id: int, batch_no: int) -> BatchResult:
    """Run the pending items of one batch of a job (see the module docstring)."""
    return write_stage(res, map_stage(res, read_stage(res, job_id, batch_no)))


def read_stage(res: IngestResources, job_id: int, batch_no: int) -> StagedBatch:
    """Reader: the batch's pending items from the catalog, decoded and validated."""
    staged = StagedBatch(job_id, batch_no)
    with staged.timer.stage("read"):
        target, items, staged.job_finished = load_batch(res, job_id, batch_no)
        staged.target, staged.items = target, len(items)
        staged.removals = [(i, spec.removal) for i, spec in items if spec.removal is not None]
        to_read = [(i, spec) for i, spec in items if spec.removal is None]
        staged.valid, staged.failures = validate_items(to_read, res.settings, target.root)
    return staged


def map_stage(res: IngestResources, staged: StagedBatch) -> StagedBatch:
    """Mapper: skip what the catalog holds for the version, encode the rest."""
    if staged.target is None or not staged.items:
        return staged
    skip_stage(res, staged)
    if staged.works:  # a batch of removals (or of bad files) needs no encoder
        with staged.timer.stage("encode"):
            fault_point("encode")
            encode_work(res.encoder(staged.target.version), staged.works)
    return staged


def skip_stage(res: IngestResources, staged: StagedBatch) -> StagedBatch:
    """The works of a read batch: what the catalog does not hold yet for the version."""
    if staged.target is not None and staged.items:
        with staged.timer.stage("skip"):
            staged.works = plan_work(res.sessions, staged.target.version_id, staged.valid)
    return staged


def write_stage(res: IngestResources, staged: StagedBatch) -> BatchResult:
    """Writer: catalog rows and points (see :mod:`~modalign.ingest.write`; ``upsert``, the
    store's share of ``write``, is timed on its own); the last batch finishes the job."""
    target, timer = staged.target, staged.timer
    if target is None or not staged.items:
        if target is not None and staged.job_finished:
            _on_finish(res, target, timer)
        return BatchResult(staged.job_id, staged.batch_no)
    with timer.stage("write"):
        outcome = write_batch(
            res, target, staged.works, staged.failures, timer, staged.removals
        )
    if outcome.finished_job:
        _on_finish(res, target, timer)
    log.debug(
        "job %d batch %d: %d items, %d done, %d failed, %d skipped, %d new points; %s",
        staged.job_id,
        staged.batch_no,
        staged.items,
        outcome.done,
        outcome.failed,
        outcome.skipped,
        outcome.new_points,
        timer.summary(),
    )
    return BatchResult(
        staged.job_id,
        staged.batch_no,
        staged.items,
        outcome.done,
        outcome.failed,
        outcome.skipped,
        outcome.new_points,
        outcome.finished_job,
        dict(timer.seconds),
    )


def _on_finish(res: IngestResources, target: BatchTarget, timer: StageTimer) -> None:
    """The batch that completed the job builds the index and syncs the active version."""
    from modalign.ingest.reindex import sync_active_version

    with timer.stage("optimize"), res.store.use() as store:
        store.optimize(version=target.version)
    sync_active_version(res, target.job_id)


def job_version(res: IngestResources, job_id: int) -> str:
    """The name of the model version a job embeds into."""
    with session_scope(res.sessions) as session:
        job = repo.get_job(session=session, job_id=job_id)
        if job.model_version_id is None:
            raise ConfigError(f"job {job_id} has no model version")
        return repo.get_model_version(session=session, ref=job.model_version_id).name


def load_batch(
    res: IngestResources, job_id: int, batch_no: int
) -> tuple[BatchTarget, list[tuple[int, ItemSpec]], bool]:
    """The batch's target, its pending items and whether the job is finished (then none are
    pending)."""
    with session_scope(res.sessions) as session:
        job = repo.get_job(session=session, job_id=job_id)
        if job.model_version_id is None:
            raise ConfigError(f"job {job_id} has no model version")
        version = repo.get_model_version(session=session, ref=job.model_version_id)
        target = BatchTarget(
            job_id=job.id,
            dataset=job.dataset,
            tags=tuple(job.tags),
            source_kind=str(job.source_spec.get("kind", "source")),
            version=version.name,
            version_id=version.id,
            dim=version.dims,
            root=job_root(job.source_spec),
        )
        if JobStatus(job.status).terminal:
            return target, [], True
        rows = repo.pending_items(session=session, job_id=job_id, batch_no=batch_no)
        if rows:
            repo.set_job_status(session=session, job_id=job_id, status=JobStatus.RUNNING)
        return target, [(row.id, from_spec(row.uri, row.spec)) for row in rows], False
