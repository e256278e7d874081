"""Jobs and job items: planning, progress under concurrent workers, failures.

Counters are only ever changed by ``UPDATE jobs SET x = x + :n``, never read-modify-write, so
workers in several processes can report progress at once. ``mark_items`` only moves items that are
still pending and reports how many it moved, so a batch the broker delivers twice is counted once
when the caller passes those numbers to ``increment_job_counters`` in the same transaction.

Leases (``owner``, ``heartbeat_at``, ``lease_expires_at``) are changed by single conditional
UPDATEs: taking a job over is a compare-and-set on the lease as the caller read it, so of two
processes taking over the same job one wins. Lease writes leave ``updated_at`` alone: it says
when the job's progress last changed, and a heartbeat is no progress.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from modalign.catalog.models import ItemStatus, Job, JobItem, JobKind, JobStatus, utcnow
from modalign.errors import NotFoundError

_OPEN = (JobStatus.PENDING.value, JobStatus.RUNNING.value)
JOBS = cast(Table, Job.__table__)
ITEMS = cast(Table, JobItem.__table__)


@dataclass(frozen=True)
class Lease:
    """A claim on jobs: who holds them, and for how many seconds after each renewal."""

    owner: str
    seconds: float

    def values(self, now: datetime) -> dict[str, Any]:
        """The job columns that record this lease renewed at ``now``."""
        return {
            "owner": self.owner,
            "heartbeat_at": now,
            "lease_expires_at": now + timedelta(seconds=self.seconds),
        }


@dataclass(frozen=True)
class NewJobItem:
    """An item the planner found: where it is, its batch, and what it read about it."""

    uri: str
    batch_no: int = 0
    spec: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemUpdate:
    """The outcome of one attempt at an item (status ``pending`` = will be retried)."""

    item_id: int
    status: ItemStatus
    error: str | None = None
    asset_id: int | None = None


def create_job(
    *,
    session: Session,
    kind: JobKind,
    source_spec: Mapping[str, Any],
    dataset: str,
    tags: Sequence[str] = (),
    model_version_id: int | None = None,
    lease: Lease | None = None,
) -> Job:
    """A new pending job with no items yet (held under ``lease`` from the start, if given)."""
    job = Job(
        kind=JobKind(kind).value, source_spec=dict(source_spec), dataset=dataset,
        tags=list(tags), model_version_id=model_version_id, status=JobStatus.PENDING.value,
        **(lease.values(utcnow()) if lease is not None else {}),
    )
    session.add(job)
    session.flush()
    return job


def get_job(*, session: Session, job_id: int) -> Job:
    """The job with this id, freshly read; NotFoundError if none."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    return job


def list_jobs(
    *, session: Session, status: JobStatus | None = None, limit: int = 50, offset: int = 0
) -> list[Job]:
    """Jobs, newest first."""
    stmt = select(Job).order_by(Job.id.desc()).limit(limit).offset(offset)
    if status is not None:
        stmt = stmt.where(Job.status == JobStatus(status).value)
    return list(session.scalars(stmt))


def open_jobs(*, session: Session) -> list[Job]:
    """Every pending or running job, newest first (few: the others are finished)."""
    stmt = select(Job).where(Job.status.in_(_OPEN)).order_by(Job.id.desc())
    return list(session.scalars(stmt))


def add_job_items(*, session: Session, job_id: int, items: Sequence[NewJobItem]) -> int:
    """Append items to a job (seq continues after existing items); total_items grows to match."""
    if not items:
        return 0
    last = session.scalar(select(func.max(JobItem.seq)).where(JobItem.job_id == job_id))
    start = 0 if last is None else last + 1
    now = utcnow()
    rows = [
        {"job_id": job_id, "seq": start + i, "batch_no": item.batch_no, "uri": item.uri,
         "spec": dict(item.spec), "status": ItemStatus.PENDING.value, "attempts": 0,
         "updated_at": now}
        for i, item in enumerate(items)
    ]
    session.execute(ITEMS.insert(), rows)
    _bump(session, job_id, {"total_items": len(rows)})
    return len(rows)


def pending_items(
    *, session: Session, job_id: int, batch_no: int | None = None, limit: int | None = None
) -> list[JobItem]:
    """Items still pending, in job order; optionally of one batch only."""
    stmt = (
        select(JobItem)
        .where(JobItem.job_id == job_id, JobItem.status == ItemStatus.PENDING.value)
        .order_by(JobItem.seq)
        .limit(limit)
    )
    if batch_no is not None:
        stmt = stmt.where(JobItem.batch_no == batch_no)
    return list(session.scalars(stmt))


def mark_items(*, session: Session, updates: Iterable[ItemUpdate]) -> dict[ItemStatus, int]:
    """Record attempts (attempts + 1) on items that are still pending.

    Returns, per new status, how many items were actually changed; items already done, failed
    or skipped (e.g. by an earlier delivery of the same batch) are left alone and not counted.
    Rows are updated in a fixed order (status, then id) so concurrent deliveries cannot deadlock.
    """
    grouped: dict[ItemStatus, list[dict[str, Any]]] = defaultdict(list)
    for u in sorted(updates, key=lambda u: u.item_id):
        grouped[ItemStatus(u.status)].append(
            {"b_id": u.item_id, "b_error": u.error, "b_asset_id": u.asset_id}
        )
    table = ITEMS
    changed = dict.fromkeys(ItemStatus, 0)
    for status in ItemStatus:
        params = grouped.get(status)
        if not params:
            continue
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.status == ItemStatus.PENDING.value)
            .values(
                status=status.value, error=bindparam("b_error"),
                asset_id=func.coalesce(bindparam("b_asset_id"), table.c.asset_id),
                attempts=table.c.attempts + 1, updated_at=utcnow(),
            )
        )
        result = session.connection().execute(stmt, params)
        changed[status] = max(result.rowcount, 0)
    return changed


def increment_job_counters(
    *,
    session: Session,
    job_id: int,
    done: int = 0,
    failed: int = 0,
    skipped: int = 0,
    new_points: int = 0,
) -> None:
    """Add to the job's counters atomically (safe under concurrent workers)."""
    deltas = {"done_items": done, "failed_items": failed, "skipped_items": skipped,
              "new_points": new_points}
    _bump(session, job_id, {k: v for k, v in deltas.items() if v})


def _bump(session: Session, job_id: int, deltas: Mapping[str, int]) -> None:
    if not deltas:
        return
    table = JOBS
    values: dict[str, Any] = {name: table.c[name] + n for name, n in deltas.items()}
    stmt = update(table).where(table.c.id == job_id).values(updated_at=utcnow(), **values)
    if session.connection().execute(stmt).rowcount == 0:
        raise NotFoundError(f"job {job_id} not found")


def set_job_status(
    *, session: Session, job_id: int, status: JobStatus, error: str | None = None
) -> bool:
    """Move a job that is not yet finished to ``status``; False if it had already finished.

    Sets started_at on the first move to running and finished_at on a terminal status.
    """
    status = JobStatus(status)
    table = JOBS
    now = utcnow()
    values: dict[str, Any] = {"status": status.value, "updated_at": now}
    if status is JobStatus.RUNNING:
        values["started_at"] = func.coalesce(table.c.started_at, now)
    if status.terminal:
        values["finished_at"] = now
    if error is not None:
        values["error"] = error
    stmt = update(table).where(table.c.id == job_id, table.c.status.in_(_OPEN)).values(values)
    return bool(session.connection().execute(stmt).rowcount)


def finish_job_if_complete(*, session: Session, job_id: int) -> bool:
    """Close the job when every item is accounted for; True only for the caller that closed it.

    Status: failed if nothing succeeded and something failed, completed_with_errors if some items
    failed, else completed.
    """
    c = JOBS.c
    final = case(
        ((c.failed_items > 0) & (c.done_items + c.skipped_items == 0), JobStatus.FAILED.value),
        (c.failed_items > 0, JobStatus.COMPLETED_WITH_ERRORS.value),
        else_=JobStatus.COMPLETED.value,
    )
    now = utcnow()
    stmt = (
        update(JOBS)
        .where(c.id == job_id, c.status.in_(_OPEN))
        .where(c.done_items + c.failed_items + c.skipped_items >= c.total_items)
        .values(status=final, finished_at=now, updated_at=now,
                started_at=func.coalesce(c.started_at, now))
    )
    return bool(session.connection().execute(stmt).rowcount)


def list_failures(
    *, session: Session, job_id: int, limit: int = 100, offset: int = 0
) -> list[JobItem]:
    """The job's failed items in job order."""
    stmt = (
        select(JobItem)
        .where(JobItem.job_id == job_id, JobItem.status == ItemStatus.FAILED.value)
        .order_by(JobItem.seq)
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(stmt))


def job_item_status_counts(*, session: Session, job_id: int) -> dict[ItemStatus, int]:
    """How many of the job's items are in each status (every status present, zeros included)."""
    stmt = (
        select(JobItem.status, func.count())
        .where(JobItem.job_id == job_id)
        .group_by(JobItem.status)
    )
    counts = dict.fromkeys(ItemStatus, 0)
    for status, n in session.execute(stmt):
        counts[ItemStatus(status)] = n
    return counts


def take_over_job(
    *,
    session: Session,
    job_id: int,
    lease: Lease,
    holder: str | None,
    expires: datetime | None,
) -> bool:
    """Give the job to ``lease`` if its lease is still as the caller read it (``holder`` and
    ``expires``); False if another process changed it meanwhile."""
    c = JOBS.c
    stmt = (
        update(JOBS)
        .where(c.id == job_id, c.owner.is_not_distinct_from(holder))
        .where(c.lease_expires_at.is_not_distinct_from(expires))
        .values(updated_at=c.updated_at, **lease.values(utcnow()))
    )
    return bool(session.connection().execute(stmt).rowcount)


def hand_over_job(*, session: Session, job_id: int, holder: str, lease: Lease) -> bool:
    """Pass the job from ``holder`` to ``lease``; False if ``holder`` no longer holds it."""
    c = JOBS.c
    stmt = (
        update(JOBS)
        .where(c.id == job_id, c.owner == holder)
        .values(updated_at=c.updated_at, **lease.values(utcnow()))
    )
    return bool(session.connection().execute(stmt).rowcount)


def renew_leases(
    *, session: Session, lease: Lease, job_ids: Iterable[int], claim: bool = False
) -> set[int]:
    """Renew the lease on these jobs; returns the ids renewed.

    Without ``claim`` only jobs ``lease.owner`` still holds are renewed, so a holder learns
    which of its jobs another process took over. With ``claim`` every open job among them is
    taken, whoever held it (Celery workers share a job's batches).
    """
    ids = sorted(set(job_ids))
    if not ids:
        return set()
    c = JOBS.c
    holds = c.status.in_(_OPEN) if claim else c.owner == lease.owner
    stmt = (
        update(JOBS)
        .where(c.id.in_(ids), holds)
        .values(updated_at=c.updated_at, **lease.values(utcnow()))
        .returning(c.id)
    )
    return set(session.connection().execute(stmt).scalars())


def release_leases(*, session: Session, owner: str, job_ids: Iterable[int]) -> None:
    """End ``owner``'s lease on these jobs now (an unfinished one is then interrupted)."""
    ids = sorted(set(job_ids))
    if not ids:
        return
    c = JOBS.c
    stmt = (
        update(JOBS)
        .where(c.id.in_(ids), c.owner == owner)
        .values(lease_expires_at=utcnow(), updated_at=c.updated_at)
    )
    session.connection().execute(stmt)
