"""Concurrent workers: counters stay exact, the same image upserted at once gives one row.

Threads with one session each stand in for worker processes: every thread has its own connection
and transactions, which is what the database sees from separate processes too.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import db, repo
from modalign.catalog.models import Asset, Caption, JobKind
from modalign.catalog.repo import ItemStatus, ItemUpdate, NewJobItem

T = TypeVar("T")
THREADS = 4


def in_threads(work: Callable[[int], T], threads: int = THREADS) -> list[T]:
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(work, range(threads)))


def test_counter_increments_are_exact(session_factory: sessionmaker[Session]) -> None:
    with db.session_scope(session_factory) as session:
        job = repo.create_job(session=session, kind=JobKind.INGEST, source_spec={}, dataset="d")

    def worker(_: int) -> None:
        for _ in range(200):
            with db.session_scope(session_factory) as session:
                repo.increment_job_counters(
                    session=session, job_id=job.id, done=1, skipped=2, new_points=3
                )

    in_threads(worker)
    with db.session_scope(session_factory) as session:
        final = repo.get_job(session=session, job_id=job.id)
    assert (final.done_items, final.skipped_items, final.new_points) == (800, 1600, 2400)


def test_same_asset_upserted_at_once_is_one_row(session_factory: sessionmaker[Session]) -> None:
    def worker(_: int) -> list[bool]:
        created = []
        for i in range(25):
            with db.session_scope(session_factory) as session:
                asset = repo.upsert_asset(
                    session=session, content_hash=repo.content_hash(f"img{i}".encode()),
                    uri=f"/img{i}.png", width=8, height=8, mime="image/png", size_bytes=1,
                    source="folder", dataset="d",
                )
                repo.add_captions(session=session, asset_id=asset.asset.id, texts=["x", "y"])
                created.append(asset.created)
        return created

    results = in_threads(worker)
    with db.session_scope(session_factory) as session:
        assets = session.scalar(select(func.count()).select_from(Asset))
        captions = session.scalar(select(func.count()).select_from(Caption))
    assert [sum(column) for column in zip(*results, strict=True)] == [1] * 25
    assert (assets, captions) == (25, 50)


def test_redelivered_batches_count_once(session_factory: sessionmaker[Session]) -> None:
    """Each thread delivers every batch; mark + increment in one transaction counts items once."""
    with db.session_scope(session_factory) as session:
        job = repo.create_job(session=session, kind=JobKind.INGEST, source_spec={}, dataset="d")
        planned = [NewJobItem(uri=f"/{i}", batch_no=i // 10) for i in range(40)]
        repo.add_job_items(session=session, job_id=job.id, items=planned)
        items = repo.pending_items(session=session, job_id=job.id)

    def worker(_: int) -> int:
        closed = 0
        for batch in range(4):
            updates = [ItemUpdate(i.id, ItemStatus.DONE) for i in items if i.batch_no == batch]
            with db.session_scope(session_factory) as session:
                changed = repo.mark_items(session=session, updates=updates)
                repo.increment_job_counters(
                    session=session, job_id=job.id, done=changed[ItemStatus.DONE]
                )
                closed += repo.finish_job_if_complete(session=session, job_id=job.id)
        return closed

    closed_by = in_threads(worker)
    with db.session_scope(session_factory) as session:
        final = repo.get_job(session=session, job_id=job.id)
    assert (final.done_items, final.status) == (40, "completed")
    assert sum(closed_by) == 1
