"""Reading a job's state: counters, rate, failures, holder, and which batches still have work.

``status`` is the state the job is reported in (:func:`modalign.ingest.owners.reported_state`):
its stored status, or ``interrupted`` when it is open and no live process holds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import ItemStatus, Job, JobItem, JobState, utcnow
from modalign.ingest.owners import describe_owner, jobs_in_state, reported_state, resume_command


@dataclass(frozen=True)
class JobProgress:
    """A snapshot of one job."""

    id: int
    kind: str
    status: str
    dataset: str
    source: str
    planned: bool
    total: int
    done: int
    failed: int
    skipped: int
    new_points: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    owner: str | None = None
    heartbeat_at: datetime | None = None
    lease_expires_at: datetime | None = None
    counts: dict[str, int] | None = None  # what a sync found (added, changed, removed, ...)

    @property
    def processed(self) -> int:
        return self.done + self.failed + self.skipped

    @property
    def finished(self) -> bool:
        return JobState(self.status).terminal

    @property
    def interrupted(self) -> bool:
        return self.status == JobState.INTERRUPTED.value

    @property
    def resume_command(self) -> str | None:
        """The command that finishes an interrupted job."""
        return resume_command(self.id) if self.interrupted else None

    @property
    def holder(self) -> str:
        """Who holds (or last held) the job, in words."""
        return describe_owner(self.owner)

    @property
    def elapsed(self) -> float:
        """Seconds since the first batch started (until it finished)."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at or datetime.now(UTC)
        return max((end - self.started_at).total_seconds(), 0.0)

    @property
    def rate(self) -> float:
        """Items processed per second so far."""
        return self.processed / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data.update(
            processed=self.processed, rate=round(self.rate, 3), holder=self.holder,
            resume_command=self.resume_command,
        )
        return data


def _progress(job: Job, now: datetime) -> JobProgress:
    return JobProgress(
        id=job.id,
        kind=job.kind,
        status=reported_state(job, now).value,
        dataset=job.dataset,
        source=str(job.source_spec.get("path", "")),
        planned=bool(job.source_spec.get("planned")),
        total=job.total_items,
        done=job.done_items,
        failed=job.failed_items,
        skipped=job.skipped_items,
        new_points=job.new_points,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        error=job.error,
        owner=job.owner,
        heartbeat_at=job.heartbeat_at,
        lease_expires_at=job.lease_expires_at,
        counts=job.source_spec.get("counts"),
    )


def job_progress(sessions: sessionmaker[Session], job_id: int) -> JobProgress:
    """The job's current counters; NotFoundError if there is no such job."""
    with session_scope(sessions) as session:
        return _progress(repo.get_job(session=session, job_id=job_id), utcnow())


def list_progress(
    sessions: sessionmaker[Session], limit: int = 20, state: JobState | None = None
) -> list[JobProgress]:
    """The newest jobs (only those reported in ``state``, if given)."""
    with session_scope(sessions) as session:
        jobs = jobs_in_state(session=session, state=state, limit=limit)
        now = utcnow()
        return [_progress(job, now) for job in jobs]


def job_failures(
    sessions: sessionmaker[Session], job_id: int, limit: int = 100
) -> list[tuple[str, str]]:
    """(item uri, reason) of the job's failed items, in job order."""
    with session_scope(sessions) as session:
        rows = repo.list_failures(session=session, job_id=job_id, limit=limit)
        return [(row.uri, row.error or "") for row in rows]


def unfinished_batches(sessions: sessionmaker[Session], job_id: int) -> list[int]:
    """Batch numbers that still have pending items."""
    stmt = (
        select(JobItem.batch_no)
        .where(JobItem.job_id == job_id, JobItem.status == ItemStatus.PENDING.value)
        .distinct()
        .order_by(JobItem.batch_no)
    )
    with session_scope(sessions) as session:
        return list(session.scalars(stmt))


def wait_for_job(
    sessions: sessionmaker[Session],
    job_id: int,
    *,
    poll: float = 0.5,
    timeout: float | None = None,
    on_tick: Callable[[JobProgress], None] | None = None,
) -> JobProgress:
    """Poll until the job finishes (or ``timeout`` passes); ``on_tick(progress)`` each poll."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        progress = job_progress(sessions, job_id)
        if on_tick is not None:
            on_tick(progress)
        if progress.finished or (deadline is not None and time.monotonic() > deadline):
            return progress
        time.sleep(poll)
