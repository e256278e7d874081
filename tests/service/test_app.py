"""The app without the shared index: problem details, API key, readiness, metrics, OpenAPI."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from modalign.config import Settings
from modalign.service.app import create_app

from .helpers import LiveServer, make_settings

API_KEY = "s3cret-key"


@pytest.fixture
def bare_settings(tmp_path: Path, tower_cache: Path) -> Settings:
    """A fresh catalog and store, no model version, an API key."""
    return make_settings(tmp_path / "data", tower_cache, service={"api_key": API_KEY})


@pytest.fixture
def bare(bare_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(bare_settings), raise_server_exceptions=False) as client:
        yield client


def test_health_and_readiness_without_a_model(bare: TestClient) -> None:
    assert bare.get("/healthz").json() == {"status": "ok"}
    ready = bare.get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] and checks["store"]["ok"] and checks["broker"]["ok"]
    assert "none loaded" in checks["encoder"]["detail"]


def test_text_search_without_a_model_is_a_503_problem(bare: TestClient) -> None:
    response = bare.post("/v1/search/images", json={"text": "a cat"})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "no model version" in response.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/jobs", {"source": "anything"}),
        ("post", "/v1/jobs/1/resume", None),
        ("post", "/v1/models/1/activate", None),
    ],
)
def test_write_endpoints_need_the_api_key(
    bare: TestClient, method: str, path: str, body: object
) -> None:
    missing = bare.request(method, path, json=body)
    assert missing.status_code == 401
    assert missing.json()["detail"].startswith("this endpoint needs the X-API-Key")
    wrong = bare.request(method, path, json=body, headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401
    right = bare.request(method, path, json=body, headers={"X-API-Key": API_KEY})
    assert right.status_code not in (401, 403, 500), right.text


def test_reads_need_no_key(bare: TestClient) -> None:
    for path in ("/v1/jobs", "/v1/models", "/v1/dashboard", "/", "/metrics"):
        assert bare.get(path).status_code == 200, path


def test_errors_are_problem_details_never_tracebacks(bare: TestClient) -> None:
    cases = [
        bare.get("/no/such/page"),
        bare.delete("/v1/jobs"),
        bare.get("/v1/jobs/abc"),
        bare.get("/v1/jobs", params={"status": "sleeping"}),
        bare.get("/v1/assets/5"),
        bare.get("/v1/assets/5/thumbnail"),
    ]
    assert [r.status_code for r in cases] == [404, 405, 422, 422, 404, 404]
    for response in cases:
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert {"type", "title", "status"} <= problem.keys()
        assert "Traceback" not in response.text


def test_metrics_use_route_templates_and_per_app_registries(bare_settings: Settings) -> None:
    with TestClient(create_app(bare_settings)) as one:
        for asset_id in (11, 12, 13):
            one.get(f"/v1/assets/{asset_id}")
        one.get("/definitely/unmatched")
        text = one.get("/metrics").text
    assert 'route="/v1/assets/{asset_id}",status="404"} 3.0' in text
    assert 'route="unmatched"' in text
    assert "/v1/assets/11" not in text
    assert "modalign_http_request_duration_seconds_bucket" in text
    assert 'modalign_job_items{status="done"} 0.0' in text
    fresh = create_app(bare_settings).state.metrics.render()[0].decode()
    assert "/v1/assets/{asset_id}" not in fresh


def test_openapi_is_complete_with_examples(bare: TestClient) -> None:
    schema = bare.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    expected = {
        ("post", "/v1/search/images"), ("post", "/v1/search/captions"),
        ("post", "/v1/search/similar"), ("get", "/v1/assets/{asset_id}"),
        ("get", "/v1/assets/{asset_id}/thumbnail"), ("post", "/v1/jobs"), ("get", "/v1/jobs"),
        ("get", "/v1/jobs/{job_id}"), ("post", "/v1/jobs/{job_id}/resume"),
        ("get", "/v1/models"), ("post", "/v1/models/{model_id}/activate"),
        ("get", "/healthz"), ("get", "/readyz"), ("get", "/metrics"), ("get", "/v1/dashboard"),
        ("post", "/v1/admin/backups"),
    }
    found = {(m, p) for p, ops in schema["paths"].items() for m in ops}
    assert expected <= found
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            assert op.get("description") or op.get("summary"), (method, path)
            bodies = op.get("requestBody", {}).get("content", {}).values()
            responses = [c for r in op["responses"].values() for c in r.get("content", {}).values()]
            for content in [*bodies, *responses]:
                ref = content.get("schema", {}).get("$ref", "")
                if ref:
                    name = ref.rsplit("/", 1)[-1]
                    assert "examples" in components[name] or "example" in content, name
    secured = schema["paths"]["/v1/jobs"]["post"]["security"]
    assert secured == [{"APIKeyHeader": []}]


@pytest.mark.redis
def test_celery_mode_checks_redis_and_reports_queue_depth(
    tmp_path: Path, tower_cache: Path
) -> None:
    queue = f"modalign-test-{uuid.uuid4().hex[:8]}"
    settings = make_settings(
        tmp_path / "data", tower_cache, broker={"mode": "celery", "queue": queue}
    )
    probe = redis.Redis.from_url(settings.broker.url)
    try:
        probe.rpush(queue, b"a", b"b", b"c")
        with TestClient(create_app(settings)) as client:
            ready = client.get("/readyz").json()
            assert ready["checks"]["broker"] == {"ok": True, "detail": "redis answered"}
            assert client.get("/v1/dashboard").json()["queue_depth"] == 3
            assert re.search(r"^modalign_queue_depth 3\.0$", client.get("/metrics").text, re.M)
    finally:
        probe.delete(queue)
        probe.close()


def test_readiness_fails_when_the_broker_is_down(tmp_path: Path, tower_cache: Path) -> None:
    settings = make_settings(
        tmp_path / "data", tower_cache,
        broker={"mode": "celery", "url": "redis://127.0.0.1:1/0"},
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["broker"]["ok"] is False
        assert client.get("/metrics").status_code == 200


def test_live_metrics_count_items_and_points(live: LiveServer) -> None:
    with live.client() as client:
        text = client.get("/metrics").text
    done = re.search(r'^modalign_job_items\{status="done"\} (\d+)', text, re.M)
    assert done and int(done.group(1)) >= 24
    points = re.search(r'^modalign_collection_points\{collection="[^"]*__images"\} (\d+)', text,
                       re.M)
    assert points and int(points.group(1)) >= 24


def test_dashboard_figures_on_both_catalogs(
    tmp_path: Path, tower_cache: Path, catalog_url: str
) -> None:
    """SQLite and PostgreSQL (the throughput and totals queries are portable SQL)."""
    from modalign.catalog import repo
    from modalign.catalog.db import make_engine, make_session_factory, session_scope
    from modalign.catalog.models import ItemStatus, JobKind

    settings = make_settings(tmp_path / "data", tower_cache, database={"url": catalog_url})
    engine = make_engine(catalog_url)
    with session_scope(make_session_factory(engine)) as session:
        job = repo.create_job(session=session, kind=JobKind.INGEST, source_spec={}, dataset="pg")
        repo.add_job_items(session=session, job_id=job.id,
                           items=[repo.NewJobItem(f"i{n}") for n in range(5)])
        items = repo.pending_items(session=session, job_id=job.id, limit=3)
        updates = [repo.ItemUpdate(item.id, ItemStatus.DONE) for item in items]
        changed = repo.mark_items(session=session, updates=updates)
        repo.increment_job_counters(session=session, job_id=job.id, done=changed[ItemStatus.DONE])
    engine.dispose()
    with TestClient(create_app(settings)) as client:
        dialect = client.get("/readyz").json()["checks"]["database"]["detail"]
        assert dialect == ("postgresql" if catalog_url.startswith("postgresql") else "sqlite")
        board = client.get("/v1/dashboard").json()
    assert sum(point["items"] for point in board["throughput"]) == 3
    assert board["item_totals"] == {"pending": 2, "done": 3, "failed": 0, "skipped": 0}
    assert board["jobs"][0]["progress"] == 0.6
