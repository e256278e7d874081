"""Fixtures of the service tests.

``live`` is the one index shared by the session: a data directory with a tiny real model version
and 24 images ingested through ``POST /v1/jobs``, served by real uvicorn on an ephemeral port. The
embedded store is owned by one process, so every test that needs that index talks to this server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modalign.config import Settings
from modalign.service.app import create_app

from .helpers import LiveServer, make_images, make_settings, register_tiny_model, wait_for_job

INDEXED_IMAGES = 24
MAX_UPLOAD_BYTES = 300_000
MAX_PIXELS = 4_000_000


@pytest.fixture(scope="session")
def tower_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Image-tower ONNX export shared by every data dir of the session (exported once)."""
    return tmp_path_factory.mktemp("tower-cache")


@pytest.fixture(scope="session")
def live_settings(tmp_path_factory: pytest.TempPathFactory, tower_cache: Path) -> Settings:
    data = tmp_path_factory.mktemp("live") / "data"
    settings = make_settings(
        data, tower_cache, service={"max_upload_bytes": MAX_UPLOAD_BYTES},
        ingest={"batch_size": 8, "max_image_pixels": MAX_PIXELS},
    )
    register_tiny_model(settings)
    make_images(data / "sources" / "shapes", INDEXED_IMAGES)
    return settings


@pytest.fixture(scope="session")
def live(live_settings: Settings) -> Iterator[LiveServer]:
    """The session's server, with the shapes folder ingested."""
    server = LiveServer(create_app(live_settings))
    try:
        with server.client() as client:
            job = client.post("/v1/jobs", json={"source": "sources/shapes", "dataset": "shapes"})
            assert job.status_code == 202, job.text
            state = wait_for_job(client, job.json()["id"])
            assert state["done_items"] == INDEXED_IMAGES, state
        yield server
    finally:
        server.stop()


@pytest.fixture
def http(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        yield client
