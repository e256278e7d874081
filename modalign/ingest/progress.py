"""Reading a job's state: counters, rate, failures, and which batches still have work."""

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
from modalign.catalog.models import ItemStatus, Job, JobItem, JobStatus


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

    @property
    def processed(self) -> int:
        return self.done + self.failed + self.skipped

    @property
    def finished(self) -> bool:
        return JobStatus(self.status).terminal

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
        data.update(processed=self.processed, rate=round(self.rate, 3))
        return data


def _progress(job: Job) -> JobProgress:
    return JobProgress(
        id=job.id,
        kind=job.kind,
        status=job.status,
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
    )


def job_progress(sessions: sessionmaker[Session], job_id: int) -> JobProgress:
    """The job's current counters; NotFoundError if there is no such job."""
    with session_scope(sessions) as session:
        return _progress(repo.get_job(session=session, job_id=job_id))


def list_progress(sessions: sessionmaker[Session], limit: int = 20) -> list[JobProgress]:
    """The newest jobs."""
    with session_scope(sessions) as session:
        return [_progress(job) for job in repo.list_jobs(session=session, limit=limit)]


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
