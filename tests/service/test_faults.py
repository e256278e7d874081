"""The API under faults: searches while a job writes, and readiness when a dependency goes away.

Each test serves its own data directory (real uvicorn on an ephemeral port, a tiny real model):
searches keep answering while an in-process job writes to the same store; ``/readyz`` turns 503
within 5 s of losing its PostgreSQL catalog or its Redis broker (private servers of the test,
stopped for real) and 200 again once they are back.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modalign.config import Settings
from modalign.service.app import create_app

from .helpers import LiveServer, make_images, make_settings, register_tiny_model, wait_for_job

pytestmark = pytest.mark.slow

READY_WITHIN_S = 5.0
RECOVER_WITHIN_S = 30.0
JOB_IMAGES = 64


@pytest.fixture
def server(tmp_path: Path, tower_cache: Path) -> Iterator[LiveServer]:
    """In-process jobs on a SQLite catalog, with a first folder and a bigger second one."""
    data = tmp_path / "data"
    settings = make_settings(data, tower_cache, ingest={"batch_size": 4})
    register_tiny_model(settings)
    make_images(data / "sources" / "first", 8)
    make_images(data / "sources" / "more", JOB_IMAGES, offset=8)
    live = LiveServer(create_app(settings))
    yield live
    live.stop()


def _status(client: httpx.Client, job_id: int) -> str:
    return str(client.get(f"/v1/jobs/{job_id}").raise_for_status().json()["status"])


def test_searches_answer_while_a_job_writes(server: LiveServer) -> None:
    with server.client() as client:
        first = client.post("/v1/jobs", json={"source": "sources/first"}).json()
        wait_for_job(client, first["id"])
        job_id = client.post("/v1/jobs", json={"source": "sources/more"}).json()["id"]
        during, status = 0, "pending"
        while status in ("pending", "running"):
            before = _status(client, job_id)
            found = client.post("/v1/search/images", json={"text": "a red circle", "limit": 5})
            assert found.status_code == 200 and len(found.json()["hits"]) == 5, found.text
            status = _status(client, job_id)
            during += before == status == "running"
        assert during >= 3, f"only {during} searches ran while the job was running"
        assert wait_for_job(client, job_id)["done_items"] == JOB_IMAGES


@pytest.fixture
def celery_settings(
    tmp_path: Path, tower_cache: Path, postgres_server: Any, redis_server: Any
) -> Settings:
    """Jobs go to Celery through the test's Redis; the catalog is on its PostgreSQL."""
    settings = make_settings(
        tmp_path / "data", tower_cache,
        database={"url": postgres_server.create_database("modalign")},
        broker={"mode": "celery", "url": f"{redis_server.url}/0",
                "result_backend": f"{redis_server.url}/1", "queue": "readyz-test"},
    )
    register_tiny_model(settings)
    return settings


def _wait_ready(client: httpx.Client, ready: bool, within: float) -> tuple[float, dict[str, Any]]:
    """Seconds until /readyz says ``ready`` (failing after ``within``), and its body."""
    start = time.monotonic()
    while True:
        response = client.get("/readyz")
        if (response.status_code == 200) == ready:
            return time.monotonic() - start, response.json()
        assert time.monotonic() - start < within, f"readyz still {response.status_code}"
        time.sleep(0.1)


@pytest.mark.parametrize("dependency", ["database", "broker"])
def test_readyz_reports_a_lost_dependency_and_its_return(
    dependency: str, celery_settings: Settings, postgres_server: Any, redis_server: Any
) -> None:
    lost = postgres_server if dependency == "database" else redis_server
    live = LiveServer(create_app(celery_settings))
    try:
        with live.client() as client:
            _wait_ready(client, True, RECOVER_WITHIN_S)
            lost.stop()
            _, body = _wait_ready(client, False, READY_WITHIN_S)
            assert not body["checks"][dependency]["ok"], body
            assert [n for n, c in body["checks"].items() if not c["ok"]] == [dependency], body
            lost.start()
            _wait_ready(client, True, RECOVER_WITHIN_S)
    finally:
        live.stop()
