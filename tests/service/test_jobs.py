"""Jobs through the API: start under the allow-list, watch, resume; the in-process runner; a
job whose service was killed shows interrupted, and resuming it is refused while a live process
holds it, unless forced."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from modalign.catalog.db import make_engine, make_session_factory
from modalign.config import Settings
from modalign.errors import JobLeaseError
from modalign.ingest.lease import LeaseKeeper
from modalign.ingest.owners import Owner, Role
from modalign.service.app import create_app

from .conftest import INDEXED_IMAGES
from .helpers import (
    LiveServer,
    make_images,
    make_settings,
    register_tiny_model,
    wait_for,
    wait_for_job,
)
from .test_serve import free_port


def test_the_shared_index_was_ingested_through_the_api(http: httpx.Client) -> None:
    jobs = http.get("/v1/jobs").json()["jobs"]
    first = jobs[-1]
    assert first["status"] == "completed"
    assert first["done_items"] == INDEXED_IMAGES
    assert first["progress"] == 1.0
    assert first["rate_items_per_s"] > 0
    models = http.get("/v1/models").json()
    images = next(c for c in models["models"][0]["collections"] if c["kind"] == "images")
    assert images["points"] >= INDEXED_IMAGES  # other tests add their own images


def test_a_source_outside_the_allow_list_is_refused(http: httpx.Client) -> None:
    for path in ("/etc", "/etc/passwd", "../../..", "sources/../../../"):
        response = http.post("/v1/jobs", json={"source": path})
        assert response.status_code == 403, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_a_missing_or_unknown_source_is_a_422(http: httpx.Client) -> None:
    assert http.post("/v1/jobs", json={"source": "sources/nothing-here"}).status_code == 422
    assert http.post("/v1/jobs", json={}).status_code == 422


def test_rerunning_a_source_adds_no_points_and_resume_is_harmless(
    http: httpx.Client, live: LiveServer
) -> None:
    job = http.post("/v1/jobs", json={"source": "sources/shapes"}).json()
    state = wait_for_job(http, job["id"])
    assert state["new_points"] == 0
    assert state["done_items"] + state["skipped_items"] == INDEXED_IMAGES
    resumed = http.post(f"/v1/jobs/{job['id']}/resume")
    assert resumed.status_code == 202
    assert wait_for_job(http, job["id"])["status"] == state["status"]


def test_failures_are_listed_with_their_reasons(http: httpx.Client, live: LiveServer) -> None:
    folder = live.app.state.settings.paths.data_dir / "sources" / "mixed"
    make_images(folder, 2, offset=500)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (folder / "page.jpg").write_text("<html><body>hi</body></html>")
    job = http.post("/v1/jobs", json={"source": "sources/mixed", "tags": ["mixed"]}).json()
    state = wait_for_job(http, job["id"])
    assert state["status"] == "completed_with_errors"
    assert (state["done_items"], state["failed_items"]) == (2, 2)
    reasons = {f["uri"]: f["error"] for f in state["failures"]}
    assert set(reasons) == {"broken.png", "page.jpg"}
    assert "HTML" in reasons["page.jpg"]


def test_unknown_jobs_are_404_problems(http: httpx.Client) -> None:
    for response in (http.get("/v1/jobs/999999"), http.post("/v1/jobs/999999/resume")):
        assert response.status_code == 404
        assert response.json()["title"] == "Not Found"


def test_a_source_whose_image_folder_leads_outside_is_refused(
    http: httpx.Client, live: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside-images")
    make_images(outside, 1, offset=900)
    folder = live.app.state.settings.paths.data_dir / "sources" / "flickr-escape"
    folder.mkdir(parents=True)
    (folder / "flickr30k-images").symlink_to(outside, target_is_directory=True)
    name = next(outside.glob("*.png")).name
    (folder / "results.token").write_text(f"{name}#0\ta planted caption\n")
    response = http.post("/v1/jobs", json={"source": "sources/flickr-escape/results.token"})
    assert response.status_code == 403, response.text
    assert "image folder" in response.json()["detail"]


DYING_IMAGES = 96


@pytest.fixture
def dying_settings(tmp_path: Path, tower_cache: Path) -> Settings:
    settings = make_settings(tmp_path / "data", tower_cache, ingest={"batch_size": 2})
    register_tiny_model(settings)
    make_images(settings.paths.data_dir / "sources" / "many", DYING_IMAGES)
    return settings


@contextmanager
def serving(settings: Settings, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`modalign serve` as a subprocess in its own process group; killed at the end."""
    port = free_port()
    env = dict(
        os.environ, MODALIGN_PATHS__DATA_DIR=str(settings.paths.data_dir),
        MODALIGN_INGEST__BATCH_SIZE="2", MODALIGN_ENCODERS__TORCH_THREADS="1",
        MODALIGN_ENCODERS__IMAGE_BACKEND="onnx",
    )
    command = [str(Path(sys.executable).parent / "modalign"), "serve", "--port", str(port)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url) or server.poll() is not None, 300, "the server")
        assert server.poll() is None, log.read_text()
        yield server, url
    finally:
        with suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_a_job_whose_service_died_is_interrupted_and_resumed_through_the_api(
    dying_settings: Settings, tmp_path: Path
) -> None:
    with serving(dying_settings, tmp_path / "serve.log") as (server, url):
        job_id = kill_mid_job(server, url)
    sessions = make_session_factory(make_engine(dying_settings.database_url))
    holder = LeaseKeeper(sessions, Owner.this_process(Role.CLI), dying_settings.ingest)
    restarted = LiveServer(create_app(dying_settings))
    try:
        with restarted.client() as http:
            job = http.get(f"/v1/jobs/{job_id}").json()
            assert job["status"] == "interrupted", job
            assert job["pending_items"] > 0 and job["resume_command"] == (
                f"modalign jobs resume {job_id}"
            )
            assert ids(http, "interrupted") == [job_id] and ids(http, "running") == []

            holder.take_over(job_id)  # a live process takes it, as `modalign jobs resume` does
            assert http.get(f"/v1/jobs/{job_id}").json()["status"] == "running"
            assert ids(http, "running") == [job_id] and ids(http, "interrupted") == []
            refused = http.post(f"/v1/jobs/{job_id}/resume")
            assert refused.status_code == 409, refused.text
            assert f"modalign command, process {os.getpid()}" in refused.json()["detail"]

            assert http.post(f"/v1/jobs/{job_id}/resume?force=true").status_code == 202
            final = wait_for_job(http, job_id)
            assert (final["status"], final["done_items"]) == ("completed", DYING_IMAGES), final
            assert final["owner"].startswith("api:") and final["resume_command"] is None
        holder.beat()
        with pytest.raises(JobLeaseError, match="taken over by the API service"):
            holder.check(job_id)
    finally:
        holder.close()
        restarted.stop()


def kill_mid_job(server: subprocess.Popen[bytes], url: str) -> int:
    """Start a job on the server, SIGKILL the server once a batch is written; the job's id."""
    with httpx.Client(base_url=url, timeout=60) as http:
        job_id = int(http.post("/v1/jobs", json={"source": "sources/many"}).json()["id"])
        assert http.get(f"/v1/jobs/{job_id}").json()["holder"].startswith("the API service")
        wait_for(
            lambda: http.get(f"/v1/jobs/{job_id}").json()["done_items"] >= 2, 300,
            "a batch written",
        )
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()
    return job_id


def ids(http: httpx.Client, status: str) -> list[int]:
    response = http.get("/v1/jobs", params={"status": status}).raise_for_status()
    return [job["id"] for job in response.json()["jobs"]]
