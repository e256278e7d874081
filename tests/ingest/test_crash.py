"""kill -9 of the embedded ingest, at named fault points and at random times.

Each chain starts `modalign ingest` armed with one fault point (see modalign.faults), then
`modalign jobs resume 1` armed with the next, and so on; a last resume runs unarmed. Every armed
process must die by SIGKILL at its point (or, for the encoder child's point, stop with an
error), take its encoder child with it, and leave the catalog and the store agreeing; the last
resume finishes the job with every image embedded exactly once and search working. The same for
`modalign serve` running a job posted to its API.
"""

from __future__ import annotations

import json
import random
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from modalign.catalog.db import make_engine, make_session_factory
from modalign.config import Settings
from modalign.ingest.progress import unfinished_batches

from .faults import (
    DISTINCT,
    Run,
    assert_finished,
    assert_gone,
    assert_intact,
    cli_env,
    consistency,
    finish,
    run_cli,
    start_cli,
)
from .faults import settings_of as data_settings
from .helpers import free_port

pytestmark = pytest.mark.slow

SEQUENTIAL = {"MODALIGN_INGEST__ENCODER_PROCESS": "false"}  # no encoder child: quicker to start

# name -> (settings, faults): the first fault arms `modalign ingest`, each next one a `jobs
# resume`; a hit of "last" is the last batch left when that process starts
CHAINS = {
    "planning": (SEQUENTIAL, [
        "plan.chunk:3", "plan.chunk:2", "catalog.assets:1", "store.upsert:2",
        "catalog.outcome.committed:last", "store.optimize:1", "store.state:1",
    ]),
    "store": (SEQUENTIAL, [
        "store.state:1", "store.flush:1", "store.upsert:3:kill:3", "catalog.outcome:1",
        "store.flush:4:kill:5",
    ]),
    "encoder": ({}, [
        "encode:2:kill:300", "encoder.child:1", "catalog.assets:2:kill:5",
        "catalog.outcome.committed:1:kill:3",
    ]),
}


def _command(step: int, source: Path) -> tuple[str, ...]:
    return ("ingest", str(source)) if step == 0 else ("jobs", "resume", "1")


def _assert_died_at(run: Run, fault: str) -> None:
    point, hit = fault.split(":")[:2]
    if point == "encoder.child":  # the child dies; the parent stops the job with an error
        assert run.returncode == 1 and "encoder process exited" in run.log, run.describe()
    else:
        assert run.killed, run.describe()
    assert f"fault point {point} (hit {hit})" in run.log, run.describe()


def _resolved(fault: str, settings: Settings) -> str:
    if ":last" not in fault:
        return fault
    engine = make_engine(settings.database_url)
    try:
        left = len(unfinished_batches(make_session_factory(engine), 1))
    finally:
        engine.dispose()
    return fault.replace(":last", f":{left}")


@pytest.mark.parametrize("chain", list(CHAINS))
def test_kill_points_then_resume(chain: str, crash_data: Path, source: Path) -> None:
    settings, (extra, faults) = data_settings(crash_data), CHAINS[chain]
    for step, armed in enumerate(faults):
        fault = _resolved(armed, settings)
        run = run_cli(cli_env(crash_data, fault, **extra), *_command(step, source))
        _assert_died_at(run, fault)
        assert_gone(run.encoder_pids)
        assert_intact(settings)
    last = run_cli(cli_env(crash_data, **extra), "jobs", "resume", "1")
    assert last.returncode == 0, last.describe()
    assert_finished(settings)


def test_random_time_kills_then_resume(crash_data: Path, source: Path) -> None:
    settings, rng = data_settings(crash_data), random.Random(20)
    delays = [rng.uniform(4.0, 12.0), rng.uniform(4.0, 10.0)]
    for step, delay in enumerate(delays):
        run = run_cli(cli_env(crash_data), *_command(step, source), kill_after=delay)
        assert run.killed or run.returncode == 0, run.describe()
        assert_gone(run.encoder_pids)
        assert_intact(settings)
    last = run_cli(cli_env(crash_data), "jobs", "resume", "1")
    assert last.returncode == 0, last.describe()
    assert_finished(settings)


@pytest.mark.parametrize("fault", ["store.flush:3", "catalog.assets.committed:2"])
def test_killed_server_job_is_resumed_from_the_cli(
    fault: str, crash_data: Path, source: Path
) -> None:
    """`modalign serve` runs a job posted to the API and dies at a fault point mid-job."""
    settings, port = data_settings(crash_data), free_port()
    roots = json.dumps([str(source.parent)])
    env = cli_env(crash_data, fault, MODALIGN_SERVICE__SOURCE_ROOTS=roots)
    server = start_cli(env, "serve", "--port", str(port), "--log-level", "warning")
    try:
        _wait_until_serving(server, port)
        job = httpx.post(f"http://127.0.0.1:{port}/v1/jobs", json={"source": str(source)})
        assert job.status_code == 202, job.text
    except BaseException:
        server.kill()
        raise
    finally:
        run = finish(server, ("serve",))
    _assert_died_at(run, fault)
    assert_intact(settings)
    last = run_cli(cli_env(crash_data), "jobs", "resume", str(job.json()["id"]))
    assert last.returncode == 0, last.describe()
    assert_finished(settings, job.json()["id"])


def _wait_until_serving(server: subprocess.Popen[str], port: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"`modalign serve` did not start (exit code {server.poll()})")


def test_a_second_dataset_reaches_every_point_after_a_kill(crash_data: Path, source: Path) -> None:
    """Ingested again under another dataset, the images only change labels; killed after that
    change is recorded in the catalog and before the points are relabelled, the resumed job
    still relabels them."""
    settings = data_settings(crash_data)
    first = run_cli(cli_env(crash_data, **SEQUENTIAL), "ingest", str(source), "--dataset", "one")
    assert first.returncode == 0, first.describe()
    fault = "catalog.assets.committed:2"
    again = ("ingest", str(source), "--dataset", "two", "--tag", "again")
    _assert_died_at(run_cli(cli_env(crash_data, fault, **SEQUENTIAL), *again), fault)
    assert assert_intact(settings).pending > 0  # points the relabel has not reached
    last = run_cli(cli_env(crash_data, **SEQUENTIAL), "jobs", "resume", "2")
    assert last.returncode == 0, last.describe()
    found = consistency(settings)
    assert found.complete and found.image_points == DISTINCT, found
