"""Property-based API testing: schemathesis generates requests from /openapi.json.

Every operation gets positive (schema-valid) and negative (schema-violating) requests, sent over
real HTTP to a server of its own (a tiny real index, no API key), and none may answer 5xx. The
generated requests rarely reach the edges, so the search operations also get explicit boundary
cases: the filters of ``helpers.boundary_filters`` (depth, conditions and MatchAny values at and
past the limits, integers at +-2**63 and +-2**64, huge and non-finite bounds) and knobs at and past
their limits, in JSON bodies and in multipart form fields alike.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis.errors import Unsatisfiable
from PIL import Image
from schemathesis import GenerationMode

from modalign.service.app import create_app

from .helpers import (
    LiveServer,
    boundary_filters,
    make_images,
    make_settings,
    register_tiny_model,
    wait_for_job,
)

EXAMPLES_PER_MODE = 60
MIN_REQUESTS = 1_000
SEARCHES = ("/v1/search/images", "/v1/search/captions", "/v1/search/similar")
BOUNDARY_KNOBS = [  # field, value as text (JSON literal and form field alike)
    ("limit", "0"), ("limit", "100"), ("limit", "101"), ("limit", str(2**64)),
    ("offset", "10000"), ("offset", "10001"), ("offset", str(-(2**63) - 1)),
    ("ef", "4096"), ("ef", "4097"), ("ef", str(2**63)),
    ("score_threshold", "1e308"), ("score_threshold", "-1e309"), ("score_threshold", "NaN"),
    ("exact", "true"),
    ("oversampling", "1"), ("oversampling", "16"), ("oversampling", "0.99"),
    ("oversampling", "NaN"),
]


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
    boundary = 0
    for operation in operations:
        explicit = boundary_cases(operation)
        boundary += len(explicit)
        for mode in GenerationMode:
            cases = explicit if mode is GenerationMode.POSITIVE else []
            _fuzz(operation, mode, fuzz_server.url, statuses, failures, cases)
    total = sum(statuses.values())
    assert not failures, failures[:10]
    assert boundary >= 3 * len(boundary_filters()), boundary
    print(f"schemathesis: {total} requests, statuses {dict(sorted(statuses.items()))}")
    assert total >= MIN_REQUESTS, statuses
    assert not any(status >= 500 for status in statuses)


def _fuzz(
    operation: schemathesis.APIOperation,
    mode: GenerationMode,
    base_url: str,
    statuses: Counter[int],
    failures: list[str],
    explicit: list[schemathesis.Case],
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

    for case in explicit:
        run = example(case=case)(run)
    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise  # only operations without inputs cannot be given invalid ones


def boundary_cases(operation: schemathesis.APIOperation) -> list[schemathesis.Case]:
    """Boundary filters and knobs for a search operation, as JSON and (for uploads) multipart."""
    if operation.path not in SEARCHES:
        return []
    query = '"asset_id": 1' if operation.path.endswith("similar") else '"text": "a red circle"'
    extras = [("filter", raw) for raw, _ in boundary_filters().values()] + BOUNDARY_KNOBS
    cases = [
        operation.Case(body=f'{{{query}, "{name}": {value}}}'.encode(),
                       media_type="application/json")
        for name, value in extras
    ]
    if not operation.path.endswith("similar"):
        cases += [
            operation.Case(body={"file": QUERY_PNG, name: value}, media_type="multipart/form-data")
            for name, value in extras
        ]
    return cases


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(out, format="PNG")
    return out.getvalue()


QUERY_PNG = _png()
