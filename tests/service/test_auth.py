"""API keys: the write key checked before any of the body is read; the optional read key for
search, assets, jobs, models and the dashboard JSON, whose holders see no host paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from modalign.config import ServiceSettings, Settings
from modalign.service.app import create_app

from .helpers import call_app, make_images, make_settings, register_tiny_model, wait_for_job

WRITE_KEY = "write-key"
READ_KEY = "read-key"
WRITES = [
    ("POST", "/v1/jobs"),
    ("POST", "/v1/jobs/1/resume"),
    ("POST", "/v1/models/1/activate"),
]
READS = [
    ("GET", "/v1/jobs"),
    ("GET", "/v1/jobs/1"),
    ("GET", "/v1/models"),
    ("GET", "/v1/assets/1"),
    ("GET", "/v1/assets/1/thumbnail"),
    ("GET", "/v1/dashboard"),
    ("POST", "/v1/search/images"),
    ("POST", "/v1/search/captions"),
    ("POST", "/v1/search/similar"),
]
OPEN = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/", "/static/dashboard.js"]


def big_body(chunks: int = 64, size: int = 65_536) -> Iterator[bytes]:
    """Megabytes of JSON-looking bytes (finite, so a service that reads it all still answers)."""
    yield b'{"source": "'
    for _ in range(chunks):
        yield b"x" * size


@pytest.fixture
def keyed_settings(tmp_path: Path, tower_cache: Path) -> Settings:
    return make_settings(
        tmp_path / "data", tower_cache,
        service={"api_key": WRITE_KEY, "read_api_key": READ_KEY},
    )


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_writes_without_the_key_are_refused_before_the_body_is_read(
    keyed_settings: Settings, method: str, path: str
) -> None:
    app = create_app(keyed_settings)
    for headers in ([], [("x-api-key", READ_KEY)], [("x-api-key", "nope")]):
        reply = call_app(app, method, path, big_body(),
                         [*headers, ("content-type", "application/json")])
        assert reply.status == 401, (headers, reply)
        assert reply.chunks_read == 0, headers


@pytest.mark.parametrize(("method", "path"), [*WRITES, *READS])
def test_a_malformed_body_without_a_key_is_a_401_not_a_422(
    keyed_settings: Settings, method: str, path: str
) -> None:
    with TestClient(create_app(keyed_settings), raise_server_exceptions=False) as client:
        response = client.request(method, path, content=b"{not json",
                                  headers={"content-type": "application/json"})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "X-API-Key"
    assert response.headers["content-type"] == "application/problem+json"


def test_reads_take_either_key_and_health_stays_open(keyed_settings: Settings) -> None:
    with TestClient(create_app(keyed_settings), raise_server_exceptions=False) as client:
        for method, path in READS:
            body = {"asset_id": 1} if path.endswith("similar") else {"vector": [1.0, 0.0]}
            send = {"json": body} if method == "POST" else {}
            assert client.request(method, path, **send).status_code == 401, path
            wrong = client.request(method, path, headers={"x-api-key": "nope"}, **send)
            assert wrong.status_code == 401, path
            for key in (READ_KEY, WRITE_KEY):
                answer = client.request(method, path, headers={"x-api-key": key}, **send)
                assert answer.status_code not in (401, 403, 500), (path, key, answer.text)
        for path in OPEN:
            assert client.get(path).status_code == 200, path


def test_writes_refuse_the_read_key(keyed_settings: Settings) -> None:
    with TestClient(create_app(keyed_settings), raise_server_exceptions=False) as client:
        for method, path in WRITES:
            body = {"source": "x"} if path == "/v1/jobs" else None
            refused = client.request(method, path, json=body, headers={"x-api-key": READ_KEY})
            assert refused.status_code == 401, path
            allowed = client.request(method, path, json=body, headers={"x-api-key": WRITE_KEY})
            assert allowed.status_code not in (401, 403, 500), (path, allowed.text)


def test_a_read_key_needs_a_different_write_key() -> None:
    with pytest.raises(ValidationError, match=r"needs service\.api_key"):
        ServiceSettings(read_api_key=READ_KEY)
    with pytest.raises(ValidationError, match="must differ"):
        ServiceSettings(read_api_key=READ_KEY, api_key=READ_KEY)


def test_the_openapi_document_names_the_key_of_each_endpoint(keyed_settings: Settings) -> None:
    with TestClient(create_app(keyed_settings)) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert paths["/v1/jobs"]["post"]["security"] == [{"APIKeyHeader": []}]
    for method, path in READS:
        path = path.replace("/1", "/{job_id}" if "jobs" in path else "/{asset_id}")
        assert paths[path][method.lower()]["security"] == [{"ReadKeyHeader": []}], path
    assert "security" not in paths["/healthz"]["get"]


@pytest.fixture
def ingested(tmp_path: Path, tower_cache: Path) -> Iterator[tuple[TestClient, Path]]:
    """A keyed service with a source folder outside the data dir, ingested (one file broken)."""
    photos = tmp_path / "host" / "photos"
    make_images(photos, 4)
    (photos / "broken.png").write_bytes(b"<html>not an image</html>")
    settings = make_settings(
        tmp_path / "data", tower_cache,
        service={"api_key": WRITE_KEY, "read_api_key": READ_KEY, "source_roots": [photos]},
    )
    register_tiny_model(settings)
    make_images(settings.paths.data_dir / "sources" / "inside", 2, offset=10)
    with TestClient(create_app(settings)) as client:
        client.headers["x-api-key"] = WRITE_KEY
        for source in (str(photos), "sources/inside"):
            job = client.post("/v1/jobs", json={"source": source}).raise_for_status().json()
            wait_for_job(client, job["id"])
        yield client, tmp_path


def read_everything(client: TestClient, key: str) -> dict[str, str]:
    """Every read endpoint's answer, as text, for a caller holding ``key``."""
    headers = {"x-api-key": key}
    search = client.post("/v1/search/images", json={"text": "a red circle", "limit": 6},
                         headers=headers).raise_for_status()
    asset_ids = [hit["asset_id"] for hit in search.json()["hits"]]
    jobs = client.get("/v1/jobs", headers=headers).raise_for_status()
    answers = {"search": search.text, "jobs": jobs.text}
    for job in jobs.json()["jobs"]:
        answers[f"job {job['id']}"] = client.get(f"/v1/jobs/{job['id']}", headers=headers).text
    for asset_id in asset_ids:
        answers[f"asset {asset_id}"] = client.get(f"/v1/assets/{asset_id}", headers=headers).text
    answers["similar"] = client.post("/v1/search/similar", json={"asset_id": asset_ids[0]},
                                     headers=headers).text
    answers["captions"] = client.post("/v1/search/captions", json={"text": "a square"},
                                      headers=headers).text
    answers["models"] = client.get("/v1/models", headers=headers).text
    answers["dashboard"] = client.get("/v1/dashboard", headers=headers).text
    return answers


def test_read_key_callers_see_no_host_paths(ingested: tuple[TestClient, Path]) -> None:
    client, host = ingested
    as_reader = read_everything(client, READ_KEY)
    for name, text in as_reader.items():
        assert str(host) not in text, name
    as_writer = read_everything(client, WRITE_KEY)
    assert str(host) in as_writer["search"] and str(host) in as_writer["jobs"]

    inside, photos = json.loads(as_reader["jobs"])["jobs"]  # newest first
    assert photos["source"]["path"] == "photos"  # a source root, by its name
    assert inside["source"]["path"] == "sources/inside"  # under the data dir
    broken = json.loads(as_reader[f"job {photos['id']}"])["failures"]
    assert [f["uri"] for f in broken] == ["broken.png"]
    uris = {hit["asset"]["uri"] for hit in json.loads(as_reader["search"])["hits"]}
    assert uris == {"img0000.png", "img0001.png", "img0002.png", "img0003.png",
                    "sources/inside/img0010.png", "sources/inside/img0011.png"}
