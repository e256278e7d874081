"""`modalign ingest` and `modalign jobs ...` in-process (the embedded default); an ingest process
killed, frozen or taken over mid-job, and `modalign jobs resume` finishing what it left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from modalign.catalog.db import make_engine, make_session_factory
from modalign.catalog.migrate import upgrade
from modalign.cli import app
from modalign.config import IngestSettings
from modalign.ingest.lease import LeaseKeeper
from modalign.ingest.owners import Owner, Role

from .helpers import TINY_MODEL, make_settings, register_tiny_model, store_counts


@pytest.fixture
def data_dir(tmp_path: Path, shared_cache: Path) -> Path:
    data = tmp_path / "data"
    settings = make_settings(data, f"sqlite:///{(data / 'catalog.db').resolve()}", shared_cache)
    upgrade(settings.database_url)
    register_tiny_model(settings, TINY_MODEL)
    return data


def _run(data_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_ingest_then_jobs_list_show_resume(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (20, 20), (i * 80, 0, 0)).save(folder / f"{i}.png")
    (folder / "0.txt").write_text("the first picture\n")
    (folder / "bad.jpg").write_text("not a picture")
    out = _run(data_dir, "ingest", str(folder), "--dataset", "pics", "--tag", "cli")
    assert "completed_with_errors: 4 items, 3 done, 0 skipped, 1 failed, 4 new points" in out
    assert "failed bad.jpg: not an image: content is text" in out
    listed = [json.loads(line) for line in _run(data_dir, "jobs", "list", "--json").splitlines()]
    assert [(j["id"], j["dataset"], j["processed"]) for j in listed] == [(1, "pics", 4)]
    shown = json.loads(_run(data_dir, "jobs", "show", "1", "--json"))
    assert shown["failures"] == [{"uri": "bad.jpg", "error": "not an image: content is text"}]
    assert "job 1 completed_with_errors" in _run(data_dir, "jobs", "resume", "1")
    again = _run(data_dir, "ingest", str(folder))
    assert "0 done, 3 skipped, 1 failed, 0 new points" in again


def test_ingest_reports_a_bad_source(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    result = CliRunner().invoke(
        app, ["--data-dir", str(data_dir), "ingest", str(tmp_path / "notes.txt")]
    )
    assert result.exit_code == 1 and "cannot tell what kind of source" in result.output


def test_ingest_a_folder_holding_a_name_of_255_bytes(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    long_name = "n" * 251 + ".png"  # its sidecar names (.json, 256 bytes) cannot exist
    Image.new("RGB", (20, 20), (0, 90, 0)).save(folder / long_name)
    Image.new("RGB", (20, 20), (90, 0, 0)).save(folder / "short.png")
    out = _run(data_dir, "ingest", str(folder))
    assert "completed: 2 items, 2 done, 0 skipped, 0 failed" in out
    assert "job 1 completed" in _run(data_dir, "jobs", "resume", "1")


def test_a_source_that_fails_while_planned_fails_its_job(data_dir: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.symlink_to("/proc/self/mem")  # opens as a regular file, reading it fails (EIO)
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), "ingest", str(manifest)])
    assert result.exit_code == 1 and "cannot read manifest" in result.output
    assert "Traceback" not in result.output
    job = json.loads(_run(data_dir, "jobs", "show", "1", "--json"))
    assert job["status"] == "failed" and "Input/output error" in job["error"]


# -- jobs whose process died, froze or was taken over (real processes, real signals) ---------

INTERRUPTED_IMAGES = 96


@pytest.fixture
def big_folder(tmp_path: Path) -> Path:
    """Enough small images (two per batch) that a job is caught half-way."""
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(INTERRUPTED_IMAGES):
        Image.new("RGB", (24, 24), (i % 256, (i * 7) % 256, (i * 13) % 256)).save(
            folder / f"{i:03d}.png"
        )
        (folder / f"{i:03d}.txt").write_text(f"picture {i}\n")
    return folder


def _env(lease: float, heartbeat: float) -> dict[str, str]:
    return dict(
        os.environ,
        MODALIGN_INGEST__BATCH_SIZE="2",
        MODALIGN_INGEST__LEASE_SECONDS=str(lease),
        MODALIGN_INGEST__HEARTBEAT_SECONDS=str(heartbeat),
        MODALIGN_ENCODERS__TORCH_THREADS="1",
        MODALIGN_ENCODERS__IMAGE_BACKEND="onnx",
    )


def _modalign(data_dir: Path, *args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "modalign"), "--data-dir", str(data_dir), *args]


@contextmanager
def _ingesting(
    data_dir: Path, folder: Path, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """`modalign ingest` in its own process group (encoder child included), frozen as soon as
    it has written a batch; killed at the end whatever happened."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            _modalign(data_dir, "ingest", str(folder)),
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        job = _wait_for_job(data_dir, lambda j: j["processed"] >= 2, "a batch written")
        os.killpg(process.pid, signal.SIGSTOP)
        assert _job(data_dir)["processed"] < INTERRUPTED_IMAGES, "the job ended before the stop"
        assert job["status"] == "running"
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _job(data_dir: Path) -> dict[str, Any]:
    """Job 1 as `jobs show --json` reports it ({} until it exists)."""
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), "jobs", "show", "1", "--json"])
    if result.exit_code != 0 and "job 1 not found" in result.output:
        return {}
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def _wait_for_job(
    data_dir: Path, condition: Callable[[dict[str, Any]], bool], what: str, timeout: float = 300
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _job(data_dir)
        if job and condition(job):
            return job
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: {_job(data_dir)}")


def _resume(data_dir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _modalign(data_dir, "jobs", "resume", "1"), env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )


def _assert_ingested_once(data_dir: Path, resumed: subprocess.CompletedProcess[str]) -> None:
    assert resumed.returncode == 0, resumed.stderr
    n = INTERRUPTED_IMAGES
    assert f"job 1 completed: {n} items, " in resumed.stdout
    final = _job(data_dir)
    assert (final["status"], final["done"] + final["skipped"], final["failed"]) == (
        "completed", n, 0
    )
    settings = make_settings(data_dir, f"sqlite:///{data_dir / 'catalog.db'}", data_dir / "cache")
    assert store_counts(settings, TINY_MODEL) == (n, n)


@pytest.mark.slow
def test_a_killed_ingest_is_interrupted_and_resume_finishes_it(
    data_dir: Path, big_folder: Path, tmp_path: Path
) -> None:
    env = _env(lease=120, heartbeat=1)  # a lease that cannot lapse during the test
    with _ingesting(data_dir, big_folder, env, tmp_path / "ingest.log") as ingest:
        refused = _resume(data_dir, env)  # frozen, not dead: its lease is live
        assert refused.returncode == 1
        assert f"held by modalign command, process {ingest.pid} on" in refused.stderr
        assert "modalign jobs resume 1 --force" in refused.stderr
        assert _job(data_dir)["status"] == "running"
        os.killpg(ingest.pid, signal.SIGKILL)
        ingest.wait()
        gone = _wait_for_job(data_dir, lambda j: j["status"] != "running", "the death seen")
    assert gone["status"] == "interrupted"  # at once, without waiting out the lease
    assert gone["resume_command"] == "modalign jobs resume 1"
    listed = json.loads(_run(data_dir, "jobs", "list", "--json", "--status", "interrupted"))
    assert listed["id"] == 1
    assert "resume with: modalign jobs resume 1" in _run(data_dir, "jobs", "list")
    assert "resume with: modalign jobs resume 1" in _run(data_dir, "jobs", "show", "1")
    _assert_ingested_once(data_dir, _resume(data_dir, env))


@pytest.mark.slow
def test_a_frozen_ingest_loses_its_lease_and_stops_once_taken_over(
    data_dir: Path, big_folder: Path, tmp_path: Path
) -> None:
    env = _env(lease=2, heartbeat=0.25)
    log = tmp_path / "ingest.log"
    with _ingesting(data_dir, big_folder, env, log) as ingest:
        lapsed = _wait_for_job(data_dir, lambda j: j["status"] == "interrupted", "the lapse")
        assert ingest.poll() is None and lapsed["holder"].startswith("modalign command")
        sessions = make_session_factory(make_engine(f"sqlite:///{data_dir / 'catalog.db'}"))
        taker = LeaseKeeper(sessions, Owner.this_process(Role.CLI), IngestSettings())
        try:
            # thawed first: frozen, it may hold the catalog's write lock. It renews its lease
            # at once, so taking the job over needs force, as a user's `--force` would
            os.killpg(ingest.pid, signal.SIGCONT)
            taker.take_over(1, force=True)
            assert ingest.wait(timeout=300) == 1  # it noticed at its next heartbeat and stopped
            refused = _resume(data_dir, env)
            assert refused.returncode == 1
            assert f"held by modalign command, process {os.getpid()} on" in refused.stderr
        finally:
            taker.close()
    assert f"job 1 was taken over by modalign command, process {os.getpid()}" in log.read_text()
    _assert_ingested_once(data_dir, _resume(data_dir, env))


def _pictures(folder: Path, count: int, offset: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", (20, 20), (40 * (i + offset) % 256, 90, 0)).save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(f"picture {i + offset}\n")
    return folder


def test_assets_show_update_delete_and_check(data_dir: Path, tmp_path: Path) -> None:
    _run(data_dir, "ingest", str(_pictures(tmp_path / "pics", 3)), "--dataset", "pics")
    _run(data_dir, "ingest", str(_pictures(tmp_path / "more", 2, offset=10)), "--dataset", "more")
    shown = json.loads(_run(data_dir, "assets", "show", "1", "--json"))
    assert shown["datasets"] == ["pics"] and shown["captions"][0]["text"] == "picture 0"
    updated = _run(data_dir, "assets", "update", "1", "--add-caption", "a red square",
                   "--add-tag", "red")
    assert "2 captions, tags red" in updated
    refused = CliRunner().invoke(app, ["--data-dir", str(data_dir), "assets", "delete"])
    assert refused.exit_code == 1 and "refused" in refused.output
    dry = _run(data_dir, "assets", "delete", "--dataset", "more", "--dry-run")
    assert "would delete 0 assets and 2 memberships" in dry
    withdrawn = _run(data_dir, "assets", "delete", "--dataset", "more")
    assert "job 3 completed: 2 items, 2 done" in withdrawn
    by_filter = _run(data_dir, "assets", "delete", "-f", "tags=red")
    assert "job 4 completed: 1 items, 1 done" in by_filter
    report = json.loads(_run(data_dir, "check", "--json"))
    [version] = report["check"]["versions"]
    assert report["check"]["clean"] and version["collections"][0]["catalog"] == 2
    gone = CliRunner().invoke(app, ["--data-dir", str(data_dir), "assets", "delete", "1"])
    assert gone.exit_code == 1 and "no such asset: 1" in gone.output


def test_ingest_sync_reports_what_changed(data_dir: Path, tmp_path: Path) -> None:
    folder = _pictures(tmp_path / "pics", 3)
    assert "sync: 3 added, 0 changed, 0 removed" in _run(data_dir, "ingest", str(folder), "--sync")
    (folder / "2.png").unlink()
    (folder / "0.txt").write_text("another caption\n")
    out = _run(data_dir, "ingest", str(folder), "--sync")
    assert "sync: 0 added, 1 changed, 1 removed, 1 unchanged" in out
    assert "sync: 0 added, 0 changed, 0 removed, 2 unchanged" in _run(
        data_dir, "ingest", str(folder), "--sync"
    )
    assert "clean" in _run(data_dir, "check")
