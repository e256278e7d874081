"""A disk that fills during ingestion: the data dir (catalog and store) on a small disk.

`modalign ingest` stops itself (SIGSTOP at a fault point) after some batches; the disk is filled
to the last byte; the process continues. It must stop the job with an error naming the disk,
not crash (qdrant-edge's memory maps would die of SIGBUS on a full disk) nor print a traceback;
what was committed stays; once space is freed, `modalign jobs resume` finishes the job.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modalign.catalog.db import make_engine, make_session_factory
from modalign.ingest.consistency import check_job

from .conftest import copy_template
from .faults import (
    assert_finished,
    assert_intact,
    cli_env,
    finish,
    run_cli,
    settings_of,
    start_cli,
    wait_stopped,
)

pytestmark = pytest.mark.slow

DISK_MB = 160
# a reserve the small disk can hold; no encoder child (quicker to start; the writes are the same)
SETTINGS = {"MODALIGN_STORE__MIN_FREE_MB": "32", "MODALIGN_INGEST__ENCODER_PROCESS": "false"}


def _processed(data: Path) -> int:
    engine = make_engine(settings_of(data).database_url)
    try:
        job = check_job(make_session_factory(engine), 1)
    finally:
        engine.dispose()
    return sum(n for status, n in job.counted.items())


@pytest.mark.parametrize(
    "stop_at", ["catalog.outcome.committed:2", "catalog.assets.committed:3"],
    ids=["after-an-outcome", "before-an-upsert"],
)
def test_a_full_disk_stops_the_job_and_resume_finishes_it(
    stop_at: str, small_disk: Callable[[int], Any], template: Path, source: Path
) -> None:
    disk = small_disk(DISK_MB)
    data = copy_template(template, disk.path / "data")
    process = start_cli(cli_env(data, f"{stop_at}:stop", **SETTINGS), "ingest", str(source))
    wait_stopped(process)
    committed = _processed(data)
    disk.fill()
    os.kill(process.pid, signal.SIGCONT)
    run = finish(process, ("ingest", str(source)))
    assert run.returncode == 1, run.describe()
    assert f"error: no space left on the disk holding {data}" in run.log, run.describe()
    assert f"(mounted at {disk.path}, 0.0 MB free)" in run.log, run.describe()
    assert "Traceback" not in run.log, run.describe()
    disk.free()
    assert _processed(data) >= committed > 0
    assert_intact(settings_of(data))
    last = run_cli(cli_env(data, **SETTINGS), "jobs", "resume", "1")
    assert last.returncode == 0, last.describe()
    assert_finished(settings_of(data))
