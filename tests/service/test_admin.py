"""Backups through the API, on a server of its own that keeps ingesting and searching meanwhile.

The server owns the embedded store, so `modalign backup` asks it; it pauses the job runner between
batches and the store's writes for the copy, and searches keep answering.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from modalign.backup import restore_backup
from modalign.backup.manifest import read_manifest
from modalign.cli import app
from modalign.config import PathsSettings, Settings
from modalign.search.naming import Kind, collection_name
from modalign.service.app import create_app
from modalign.service.state import ServiceState

from .helpers import (
    TINY_MODEL,
    LiveServer,
    make_images,
    make_settings,
    register_tiny_model,
    wait_for,
    wait_for_job,
)

KEY = "admin-test-key"
FIRST = 16
PAUSE_WATCHED_S = 3.0  # several batches' time: a runner that did not pause would progress
IMAGES = collection_name("modalign", TINY_MODEL, Kind.IMAGES)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, tower_cache: Path
) -> Iterator[tuple[LiveServer, Settings]]:
    data = tmp_path_factory.mktemp("admin") / "data"
    settings = make_settings(data, tower_cache, service={"api_key": KEY})
    register_tiny_model(settings)
    make_images(data / "sources" / "first", FIRST)
    live = LiveServer(create_app(settings))
    try:
        with _client(live) as http:
            job = http.post("/v1/jobs", json={"source": "sources/first"}).json()
            wait_for_job(http, job["id"])
        yield live, settings
    finally:
        live.stop()


def _client(live: LiveServer) -> httpx.Client:
    return live.client(headers={"X-API-Key": KEY})


class Searches:
    """Text searches sent one after another from a thread: (start, end, status) of each."""

    def __init__(self, live: LiveServer) -> None:
        self.done: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(live,), daemon=True)
        self._thread.start()

    def _loop(self, live: LiveServer) -> None:
        with live.client() as http:
            while not self._stop.is_set():
                began = time.monotonic()
                status = http.post("/v1/search/images", json={"text": "a red circle"}).status_code
                self.done.append((began, time.monotonic(), status))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def test_a_backup_during_a_job_is_consistent_and_searches_keep_answering(
    server: tuple[LiveServer, Settings], tmp_path: Path, tower_cache: Path
) -> None:
    live, settings = server
    make_images(settings.paths.data_dir / "sources" / "second", 40, offset=FIRST)
    with _client(live) as http:
        job = http.post("/v1/jobs", json={"source": "sources/second"}).json()
        wait_for(lambda: http.get(f"/v1/jobs/{job['id']}").json()["done_items"] > 0, 300,
                 "the second job's first batch")
        searches = Searches(live)
        try:
            wait_for(lambda: bool(searches.done), 60, "a first search")
            began = time.monotonic()
            response = http.post("/v1/admin/backups", json={"name": "mid-job"})
            ended = time.monotonic()
        finally:
            searches.stop()
        finished = wait_for_job(http, job["id"])
    assert response.status_code == 201, response.text
    body = response.json()
    during = [status for start, end, status in searches.done if start >= began and end <= ended]
    assert during and set(during) == {200}, (len(searches.done), ended - began)
    assert {status for *_, status in searches.done} == {200}
    assert finished["done_items"] == 40 and finished["status"] == "completed"
    assert body["points"][IMAGES] == body["rows"]["asset_embeddings"] == body["rows"]["assets"]
    backup = Path(body["path"])
    assert backup == settings.paths.backups_dir / "mid-job"
    target = settings.model_copy(update={"paths": PathsSettings(data_dir=tmp_path / "restored")})
    restored = restore_backup(target, backup)
    assert restored.points == body["points"] == read_manifest(backup).store.points


def test_the_job_runner_stops_between_batches_while_paused(
    server: tuple[LiveServer, Settings],
) -> None:
    live, settings = server
    make_images(settings.paths.data_dir / "sources" / "third", 40, offset=FIRST + 40)
    state = live.app.state.modalign
    assert isinstance(state, ServiceState) and state.jobs is not None
    with _client(live) as http:
        job = http.post("/v1/jobs", json={"source": "sources/third"}).json()
        url = f"/v1/jobs/{job['id']}"
        wait_for(lambda: http.get(url).json()["done_items"] > 0, 300, "the job's first batch")
        with state.jobs.pause():
            paused = http.get(url).json()
            time.sleep(PAUSE_WATCHED_S)
            later = http.get(url).json()
        finished = wait_for_job(http, job["id"])
    assert later["done_items"] == paused["done_items"] and later["pending_items"] > 0
    assert finished["done_items"] == 40


def test_the_command_line_asks_the_running_service(
    server: tuple[LiveServer, Settings], tmp_path: Path
) -> None:
    live, settings = server
    port = live.url.rsplit(":", 1)[1]
    env = {"MODALIGN_SERVICE__API_KEY": KEY, "MODALIGN_SERVICE__PORT": port}
    args = ["--data-dir", str(settings.paths.data_dir), "backup", str(tmp_path / "from-cli")]
    result = CliRunner(env=env).invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert f"backup written to {tmp_path / 'from-cli'}" in result.stdout
    assert read_manifest(tmp_path / "from-cli").store.points[IMAGES] > 0
    assert not (settings.paths.backups_dir / "from-cli").exists()  # moved where it was asked


def test_without_a_service_to_ask_the_command_line_says_so(
    server: tuple[LiveServer, Settings], tmp_path: Path
) -> None:
    settings = server[1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = str(probe.getsockname()[1])
    args = ["--data-dir", str(settings.paths.data_dir), "backup", str(tmp_path / "nowhere")]
    result = CliRunner(env={"MODALIGN_SERVICE__PORT": free}).invoke(app, args)
    assert result.exit_code == 1
    assert "owned by another process and no modalign service answered" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_backups_need_the_key_a_new_plain_name_and_one_at_a_time(
    server: tuple[LiveServer, Settings],
) -> None:
    live, settings = server
    with live.client() as anonymous:
        assert anonymous.post("/v1/admin/backups", json={"name": "x"}).status_code == 401
    with _client(live) as http:
        for name in ("../escape", ".hidden", "a/b", "", "x" * 101):
            assert http.post("/v1/admin/backups", json={"name": name}).status_code == 422, name
        assert http.post("/v1/admin/backups", json={"name": "once"}).status_code == 201
        again = http.post("/v1/admin/backups", json={"name": "once"})
        assert again.status_code == 409 and "exists" in again.json()["detail"]
        state = live.app.state.modalign
        assert isinstance(state, ServiceState)
        with state.backing_up:
            busy = http.post("/v1/admin/backups", json={"name": "twice"})
        assert busy.status_code == 409 and "running" in busy.json()["detail"]
    names = {p.name for p in settings.paths.backups_dir.iterdir()}
    assert "once" in names and "twice" not in names and "x" not in names
