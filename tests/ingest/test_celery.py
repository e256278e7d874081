"""Celery end to end: real Redis, real `modalign worker` subprocesses, PostgreSQL catalog.

(a) kill -9 a worker in the middle of a job and start another: the job completes with exactly
    N assets and N image points (the stranded batch comes back after the visibility timeout).
(b) restart Redis (no persistence: queued messages are lost) in the middle of a job: waiting
    notices the restart and re-sends the unfinished batches; the job completes, exactly once.
(c) the bad-file corpus (tests/ingest/corpus.py, 20+ kinds) through a worker: every item is
    ingested or failed with its reason, and the job completes with errors, not as a failure.
(d) kill -9 the only worker: the job is reported interrupted (its batch would come back only
    after an hour's visibility timeout); resuming sends its batches again and it completes once.
(e) restart PostgreSQL (a private cluster: stopped at once, down for seconds) in the middle of a
    job: the workers' batches fail with transient errors and are retried, waiting for the job
    rides out the outage; the job completes, exactly once.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import func, select

from modalign.catalog.db import session_scope
from modalign.catalog.migrate import upgrade
from modalign.catalog.models import Asset, Caption, JobItem, JobState, JobStatus
from modalign.config import Settings
from modalign.ingest.progress import JobProgress
from modalign.ingest.runner import JobRunner
from modalign.ingest.sources import SourceSpec, detect_source

from .corpus import assert_items_as_expected
from .helpers import (
    TINY_MODEL,
    Worker,
    fresh_postgres,
    make_settings,
    register_tiny_model,
    store_counts,
)

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]

N_IMAGES = 32
BATCH = 4
RESTART_DOWN_S = 5.0


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pictures")
    for i in range(N_IMAGES):
        Image.new("RGB", (64, 48), (i * 5, 255 - i * 5, (i * 37) % 256)).save(
            folder / f"{i:03d}.png"
        )
        (folder / f"{i:03d}.txt").write_text(f"picture number {i}\n")
    return folder


def _celery_settings(data: Path, database_url: str, redis_url: str, cache: Path) -> Settings:
    settings = make_settings(data, database_url, cache, batch_size=BATCH)
    settings = settings.model_copy(
        update={
            "broker": settings.broker.model_copy(
                update={
                    "mode": "celery",
                    "url": f"{redis_url}/0",
                    "result_backend": f"{redis_url}/1",
                    "queue": "ingest-test",
                }
            )
        }
    )
    register_tiny_model(settings, TINY_MODEL)
    return settings


@pytest.fixture
def celery_settings(
    tmp_path: Path, redis_server: Any, shared_cache: Path
) -> Iterator[Settings]:
    with fresh_postgres() as url:
        yield _celery_settings(tmp_path / "data", url, redis_server.url, shared_cache)


@pytest.fixture
def private_pg_settings(
    tmp_path: Path, redis_server: Any, postgres_server: Any, shared_cache: Path
) -> Settings:
    """Celery settings whose catalog is on a PostgreSQL cluster of the test's own."""
    url = postgres_server.create_database("modalign")
    upgrade(url)
    return _celery_settings(tmp_path / "data", url, redis_server.url, shared_cache)


def _env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MODALIGN_PATHS__DATA_DIR": str(settings.paths.data_dir),
            "MODALIGN_DATABASE__URL": settings.database_url,
            "MODALIGN_BROKER__MODE": "celery",
            "MODALIGN_BROKER__URL": settings.broker.url,
            "MODALIGN_BROKER__RESULT_BACKEND": settings.broker.result_backend,
            "MODALIGN_BROKER__QUEUE": settings.broker.queue,
            "MODALIGN_ENCODERS__TORCH_THREADS": "1",
            "MODALIGN_INGEST__BATCH_SIZE": str(BATCH),
        }
    )
    return env


def _wait_until(runner: JobRunner, job_id: int, processed: int, timeout: float) -> JobProgress:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = runner.progress(job_id)
        if progress.processed >= processed or progress.finished:
            return progress
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} made no progress in {timeout}s: {runner.progress(job_id)}")


def _assert_exactly_once(runner: JobRunner, settings: Settings, progress: JobProgress) -> None:
    assert progress.status == JobStatus.COMPLETED.value, progress
    assert (progress.total, progress.done, progress.failed) == (N_IMAGES, N_IMAGES, 0)
    assert progress.new_points == 2 * N_IMAGES
    with session_scope(runner.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Asset)) == N_IMAGES
    assert store_counts(settings, TINY_MODEL) == (N_IMAGES, N_IMAGES)


def test_killed_worker_loses_and_duplicates_nothing(
    celery_settings: Settings, pictures: Path, tmp_path: Path
) -> None:
    runner = JobRunner(celery_settings)
    env, log = _env(celery_settings), tmp_path / "workers.log"
    first = Worker(env, log, "--visibility-timeout", "8")
    try:
        job_id = runner.create(SourceSpec(pictures, "folder"))
        assert len(runner.send(job_id)) == N_IMAGES // BATCH
        mid = _wait_until(runner, job_id, 2 * BATCH, timeout=120)
    finally:
        first.kill()
    assert not mid.finished and mid.processed < N_IMAGES, "the job ended before the kill"
    second = Worker(env, log, "--visibility-timeout", "8")
    _finish_with_another_worker(runner, celery_settings, job_id, second)


def _finish_with_another_worker(
    runner: JobRunner, settings: Settings, job_id: int, worker: Worker
) -> None:
    try:
        final = _wait_finished(runner, job_id, timeout=150)
    finally:
        worker.stop()
    _assert_exactly_once(runner, settings, final)


def _wait_finished(runner: JobRunner, job_id: int, timeout: float) -> JobProgress:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = runner.progress(job_id)
        if progress.finished:
            return progress
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s: {runner.progress(job_id)}")


def _through_a_restart(
    settings: Settings, pictures: Path, tmp_path: Path, restart: Callable[[], None]
) -> None:
    """Run a job with one worker, ``restart`` something in its middle while the CLI waits for
    it, and check it completed exactly once."""
    runner = JobRunner(settings)
    worker = Worker(_env(settings), tmp_path / "workers.log")
    try:
        job_id = runner.create(SourceSpec(pictures, "folder"))
        runner.send(job_id)
        mid = _wait_until(runner, job_id, 2 * BATCH, timeout=120)
        restarting = threading.Thread(target=restart)
        restarting.start()  # the wait below goes on through the restart
        final = runner.wait(job_id)
        restarting.join()
        assert not mid.finished, "the job ended before the restart"
    finally:
        worker.stop()
    _assert_exactly_once(runner, settings, final)


def test_redis_restart_mid_job_is_recovered_by_waiting(
    celery_settings: Settings, pictures: Path, redis_server: Any, tmp_path: Path
) -> None:
    _through_a_restart(celery_settings, pictures, tmp_path, redis_server.restart)


def test_postgres_restart_mid_job_is_retried_by_the_workers(
    private_pg_settings: Settings, pictures: Path, postgres_server: Any, tmp_path: Path
) -> None:
    _through_a_restart(
        private_pg_settings, pictures, tmp_path,
        lambda: postgres_server.restart(down_seconds=RESTART_DOWN_S),
    )
    assert "retry" in (tmp_path / "workers.log").read_text().lower()  # the restart was felt


def test_bad_file_corpus_through_a_worker(
    celery_settings: Settings, corpus: tuple[Path, dict[str, str | None]], tmp_path: Path
) -> None:
    root, expected = corpus
    manifest = root / "manifest.jsonl"
    runner = JobRunner(celery_settings)
    worker = Worker(_env(celery_settings), tmp_path / "workers.log")
    try:
        job_id = runner.create(SourceSpec(manifest, detect_source(manifest)))
        runner.send(job_id)
        final = _wait_finished(runner, job_id, timeout=150)
    finally:
        worker.stop()
    assert final.status == JobStatus.COMPLETED_WITH_ERRORS.value, final
    with session_scope(runner.sessions) as session:
        items = {i.uri: i for i in session.scalars(select(JobItem).where(JobItem.job_id == job_id))}
        assets = session.scalar(select(func.count()).select_from(Asset))
        captions = session.scalar(select(func.count()).select_from(Caption))
    assert_items_as_expected(items, expected)
    assert final.failed == sum(r is not None for r in expected.values())
    assert store_counts(celery_settings, TINY_MODEL) == (assets, captions)
    assert final.new_points == (assets or 0) + (captions or 0)


def test_a_job_whose_worker_died_is_interrupted_and_resume_sends_it_again(
    celery_settings: Settings, pictures: Path, tmp_path: Path
) -> None:
    runner = JobRunner(celery_settings)
    env = dict(
        _env(celery_settings), MODALIGN_INGEST__LEASE_SECONDS="3",
        MODALIGN_INGEST__HEARTBEAT_SECONDS="0.5",
    )
    log = tmp_path / "workers.log"
    first = Worker(env, log, "--visibility-timeout", "3600")  # its batch is not re-delivered
    try:
        job_id = runner.create(SourceSpec(pictures, "folder"))
        runner.send(job_id)
        assert runner.progress(job_id).holder.startswith("the Celery queue")
        mid = _wait_until(runner, job_id, 2 * BATCH, timeout=120)
        busy = runner.progress(job_id)
    finally:
        first.kill()
    assert not mid.finished, "the job ended before the kill"
    assert busy.status == JobState.RUNNING.value and busy.holder.startswith("Celery worker")
    stranded = _wait_for_state(runner, job_id, JobState.INTERRUPTED, timeout=60)
    assert stranded.resume_command == f"modalign jobs resume {job_id}"
    runner.send(job_id)  # what `modalign jobs resume` does in Celery mode
    second = Worker(env, log, "--visibility-timeout", "3600")
    _finish_with_another_worker(runner, celery_settings, job_id, second)


def _wait_for_state(runner: JobRunner, job_id: int, state: JobState, timeout: float) -> JobProgress:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = runner.progress(job_id)
        if progress.status == state.value:
            return progress
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not {state} in {timeout}s: {runner.progress(job_id)}")
