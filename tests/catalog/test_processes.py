"""Several processes at once, as Celery workers and API processes will be."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import db, migrate, repo
from modalign.catalog.models import JobKind

from . import workers

PROCESSES = 3


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fresh.db'}"
    return str(request.getfixturevalue("empty_postgres_url"))


def test_concurrent_upgrades_of_a_fresh_database(
    pool: ProcessPoolExecutor, unmigrated_url: str
) -> None:
    results = list(pool.map(workers.upgrade, [unmigrated_url] * PROCESSES))
    assert results == [",".join(migrate.heads())] * PROCESSES
    migrate.check(unmigrated_url)


def test_counters_from_several_processes(
    pool: ProcessPoolExecutor, catalog_url: str, session_factory: sessionmaker[Session]
) -> None:
    with db.session_scope(session_factory) as session:
        job = repo.create_job(session=session, kind=JobKind.INGEST, source_spec={}, dataset="d")
    futures = [pool.submit(workers.increment, catalog_url, job.id, 100) for _ in range(PROCESSES)]
    for future in futures:
        future.result()
    with db.session_scope(session_factory) as session:
        final = repo.get_job(session=session, job_id=job.id)
    assert (final.done_items, final.new_points) == (100 * PROCESSES, 200 * PROCESSES)
