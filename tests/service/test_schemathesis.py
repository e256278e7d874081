"""Property-based API testing: schemathesis generates requests from /openapi.json.

Every operation gets positive (schema-valid) and negative (schema-violating) requests, sent over
real HTTP to a server of its own (a tiny real index, no API key), and none may answer 5xx.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from modalign.service.app import create_app

from .helpers import LiveServer, make_images, make_settings, register_tiny_model, wait_for_job

EXAMPLES_PER_MODE = 60
MIN_REQUESTS = 1_000


@pytest.fixture(scope="module")
def fuzz_server(
    tmp_path_factory: pytest.TempPathFactory, tower_cache: Path
) -> Iterator[LiveServer]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    settings_ = make_settings(data, tower_cache)
    register_tiny_model(settings_)
    make_images(data / "sources" / "few", 6)
    server = LiveServer(create_app(settings_))
    try:
        with server.client() as client:
            job = client.post("/v1/jobs", json={"source": "sources/few"}).json()
            wait_for_job(client, job["id"])
        yield server
    finally:
        server.stop()


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error(fuzz_server: LiveServer) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/openapi.json")
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        for mode in GenerationMode:
            _fuzz(operation, mode, fuzz_server.url, statuses, failures)
    total = sum(statuses.values())
    assert not failures, failures[:10]
    print(f"schemathesis: {total} requests, statuses {dict(sorted(statuses.items()))}")
    assert total >= MIN_REQUESTS, statuses
    assert not any(status >= 500 for status in statuses)


def _fuzz(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    base_url: str,
    statuses: Counter[int],
    failures: list[str],
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_MODE, deadline=None, database=None, derandomize=True,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, timeout=30)
        statuses[response.status_code] += 1
        if response.status_code >= 500:
            failures.append(f"{operation.label} {mode.value}: {response.status_code} "
                            f"{response.text[:300]} <- {case.body!r:.300}")

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise  # only operations without inputs cannot be given invalid ones
