"""Read-only catalog queries the dashboard and metrics need beyond the repo functions.

Portable SQL (SQLite and PostgreSQL): totals from the jobs' counters, and items finished per
minute over the last minutes as one query of CASE sums (no dialect-specific date bucketing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from modalign.catalog.models import ItemStatus, Job, JobItem, utcnow


@dataclass(frozen=True)
class MinuteCount:
    """Items finished (done, failed or skipped) during the minute starting at ``start``."""

    start: datetime
    items: int


def item_totals(*, session: Session) -> dict[str, int]:
    """Job items by status over every job, from the jobs' counters (cheap at any size)."""
    row = session.execute(
        select(
            func.coalesce(func.sum(Job.total_items), 0),
            func.coalesce(func.sum(Job.done_items), 0),
            func.coalesce(func.sum(Job.failed_items), 0),
            func.coalesce(func.sum(Job.skipped_items), 0),
        )
    ).one()
    total, done, failed, skipped = (int(v) for v in row)
    return {
        ItemStatus.PENDING.value: max(total - done - failed - skipped, 0),
        ItemStatus.DONE.value: done,
        ItemStatus.FAILED.value: failed,
        ItemStatus.SKIPPED.value: skipped,
    }


def throughput(
    *, session: Session, minutes: int = 10, now: datetime | None = None
) -> list[MinuteCount]:
    """Items finished per minute over the last ``minutes`` minutes, oldest first."""
    end = (now or utcnow()).replace(second=0, microsecond=0) + timedelta(minutes=1)
    starts = [end - timedelta(minutes=minutes - i) for i in range(minutes)]
    finished = JobItem.status != ItemStatus.PENDING.value
    sums = [func.coalesce(func.sum(case((_within(s), 1), else_=0)), 0) for s in starts]
    stmt = select(*sums).where(finished, JobItem.updated_at >= starts[0])
    row = session.execute(stmt).one()
    return [MinuteCount(start, int(n)) for start, n in zip(starts, row, strict=True)]


def _within(start: datetime) -> ColumnElement[bool]:
    return and_(JobItem.updated_at >= start, JobItem.updated_at < start + timedelta(minutes=1))
