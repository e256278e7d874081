"""Body caps on every endpoint, enforced while the body streams in: 413 problems, bodies unread.

Requests go straight to the ASGI app with a body the app pulls chunk by chunk, so each test sees
how much of it the service read; one test goes through real uvicorn over a socket.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modalign.config import Settings
from modalign.service.app import create_app
from modalign.service.limits import DEFAULT_BODY_BYTES, MAX_JSON_BYTES, body_cap

from .helpers import LiveServer, call_app, endless, make_settings

API_KEY = "w-key"
KEYED = [("x-api-key", API_KEY), ("content-type", "application/json")]
CHUNK = 16_384
READS_A_BODY = [
    "/v1/jobs", "/v1/search/similar", "/v1/search/images", "/v1/search/captions",
]
NO_BODY = [  # these never ask for a body, so none of it is read
    ("POST", "/v1/jobs/1/resume"),
    ("POST", "/v1/models/1/activate"),
    ("GET", "/v1/jobs"),
    ("POST", "/no/such/route"),
]


@pytest.fixture
def settings(tmp_path: Path, tower_cache: Path) -> Settings:
    return make_settings(
        tmp_path / "data", tower_cache,
        service={"api_key": API_KEY, "max_upload_bytes": 100_000},
    )


def json_chunks(size: int) -> Iterator[bytes]:
    """A JSON document of ``size`` bytes (a long string), in chunks."""
    data = json.dumps({"source": "x" * (size - 14)}).encode()
    assert len(data) == size
    return iter([data[i : i + CHUNK] for i in range(0, size, CHUNK)])


@pytest.mark.parametrize("path", READS_A_BODY)
def test_a_declared_length_above_the_cap_is_refused_without_reading(
    settings: Settings, path: str
) -> None:
    cap = body_cap(settings.service, path)
    headers = [*KEYED, ("content-length", str(cap + 1))]
    reply = call_app(create_app(settings), "POST", path, endless(), headers)
    assert reply.status == 413, reply
    assert reply.body["detail"] == f"request body above the limit of {cap} bytes"
    assert reply.chunks_read == 0


@pytest.mark.parametrize("path", READS_A_BODY)
def test_a_chunked_body_is_cut_off_at_the_cap(settings: Settings, path: str) -> None:
    cap = body_cap(settings.service, path)
    reply = call_app(create_app(settings), "POST", path, endless(), KEYED)
    assert reply.status == 413, reply
    assert reply.body["status"] == 413 and reply.body["title"] == "Request Entity Too Large"
    assert cap < reply.bytes_read <= cap + CHUNK


@pytest.mark.parametrize(("method", "path"), NO_BODY)
def test_routes_without_a_body_read_none(settings: Settings, method: str, path: str) -> None:
    reply = call_app(create_app(settings), method, path, endless(), KEYED)
    assert reply.status in (200, 404), reply
    assert reply.chunks_read == 0


def test_bodies_within_the_caps_are_read(settings: Settings) -> None:
    jobs = call_app(create_app(settings), "POST", "/v1/jobs",
                    json_chunks(DEFAULT_BODY_BYTES), KEYED)
    assert jobs.status == 422  # read and validated: that source is far too long a path
    assert jobs.bytes_read == DEFAULT_BODY_BYTES
    search = call_app(create_app(settings), "POST", "/v1/search/similar",
                      json_chunks(MAX_JSON_BYTES), KEYED)
    assert search.status == 422 and search.bytes_read == MAX_JSON_BYTES


def test_caps_follow_the_upload_setting(settings: Settings) -> None:
    assert body_cap(settings.service, "/v1/jobs") == DEFAULT_BODY_BYTES
    bigger = settings.service.model_copy(update={"max_upload_bytes": 50 * 1024 * 1024})
    assert body_cap(bigger, "/v1/search/images") > 50 * 1024 * 1024
    assert body_cap(settings.service, "/v1/search/images") == MAX_JSON_BYTES


def test_an_absurd_content_length_is_a_413_not_a_crash(settings: Settings) -> None:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for path in ("/v1/search/images", "/v1/jobs"):
            response = client.post(path, content=b"{}", headers={
                "content-type": "application/json", "x-api-key": API_KEY,
                "content-length": "9" * 5000,
            })
            assert response.status_code == 413, (path, response.text)


def test_uvicorn_answers_413_to_a_chunked_body_over_the_cap(settings: Settings) -> None:
    server = LiveServer(create_app(settings))
    try:
        head = (f"POST /v1/search/similar HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Transfer-Encoding: chunked\r\nX-API-Key: {API_KEY}\r\n\r\n").encode()
        chunk = f"{CHUNK:x}\r\n".encode() + b" " * CHUNK + b"\r\n"
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(head)
            for _ in range(MAX_JSON_BYTES // CHUNK + 2):
                sock.sendall(chunk)
            answer = sock.recv(65_536).decode(errors="replace")
    finally:
        server.stop()
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert "application/problem+json" in answer
