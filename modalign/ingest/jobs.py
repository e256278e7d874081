"""Jobs end to end: submit (create, plan, dispatch), resume, wait.

job_id = submit(settings, sessions, dispatcher, source, dataset="demo", tags=["x"])
resume(settings, sessions, dispatcher, job_id)      # re-sends every unfinished batch
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import JobItem, JobStatus
from modalign.config import Settings
from modalign.errors import TransientError
from modalign.ingest.dispatch import CeleryDispatcher, Dispatcher
from modalign.ingest.plan import create_ingest_job, plan_job
from modalign.ingest.progress import JobProgress, unfinished_batches, wait_for_job
from modalign.ingest.sources import SourceSpec

log = logging.getLogger(__name__)


def submit(
    settings: Settings,
    sessions: sessionmaker[Session],
    dispatcher: Dispatcher,
    source: SourceSpec,
    *,
    dataset: str | None = None,
    tags: Sequence[str] = (),
    model: str | None = None,
    sync: bool = False,
) -> int:
    """Create a job for ``source`` (a sync job with ``sync``), plan its items and dispatch its
    batches; returns its id."""
    job_id = create_ingest_job(
        sessions, source, dataset=dataset, tags=tags, model=model, sync=sync
    )
    resume(settings, sessions, dispatcher, job_id)
    return job_id


def resume(
    settings: Settings, sessions: sessionmaker[Session], dispatcher: Dispatcher, job_id: int
) -> list[int]:
    """Finish planning if it was cut short, then dispatch every batch with pending items;
    returns them.

    A job marked failed as a whole (e.g. its dispatcher crashed) that still has pending items
    is reopened first, so its batches run. A job with none is closed, and its last batch is
    dispatched again: finding nothing pending, it re-runs the job's finishing step (index build,
    active version), which a crash after the last batch's commit may have cut short.
    """
    plan_job(settings, sessions, job_id)
    batches = unfinished_batches(sessions, job_id)
    if batches:
        _reopen_if_failed(sessions, job_id)
        dispatcher.dispatch(job_id, batches)
        return batches
    with session_scope(sessions) as session:
        repo.finish_job_if_complete(session=session, job_id=job_id)
        last = session.scalar(select(func.max(JobItem.batch_no)).where(JobItem.job_id == job_id))
    if last is not None:
        dispatcher.dispatch(job_id, [last])
    return batches


def _reopen_if_failed(sessions: sessionmaker[Session], job_id: int) -> None:
    with session_scope(sessions) as session:
        job = repo.get_job(session=session, job_id=job_id)
        if job.status == JobStatus.FAILED.value:
            log.info("job %d: reopening a failed job that has pending items", job_id)
            job.status, job.finished_at = JobStatus.RUNNING.value, None


def wait_with_redelivery(
    settings: Settings,
    sessions: sessionmaker[Session],
    dispatcher: CeleryDispatcher,
    job_id: int,
    *,
    on_progress: Callable[[JobProgress], None] | None = None,
    poll: float = 0.5,
    timeout: float | None = None,
) -> JobProgress:
    """Wait for a Celery job; if the broker restarts meanwhile, re-send the unfinished batches.
    A catalog that stops answering for a while (a database restart) is waited for too."""

    def tick(progress: JobProgress) -> None:
        if on_progress is not None:
            on_progress(progress)
        if not progress.finished and dispatcher.watch.restarted():
            log.warning("broker restarted: re-sending the unfinished batches of job %d", job_id)
            dispatcher.dispatch(job_id, unfinished_batches(sessions, job_id))

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return wait_for_job(sessions, job_id, poll=poll, timeout=left, on_tick=tick)
        except TransientError as exc:
            if left == 0.0:
                raise
            log.warning("job %d: the catalog does not answer (%s); waiting on", job_id, exc)
            time.sleep(poll)
