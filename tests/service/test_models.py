"""Model versions over HTTP: list with collection stats, activate (encoder swapped), refusals."""

from __future__ import annotations

import httpx

from modalign.config import Settings
from modalign.service.state import ServiceState

from .helpers import TINY_DIM, TINY_MODEL, LiveServer, register_tiny_model


def model_id(http: httpx.Client, name: str) -> int:
    models = http.get("/v1/models").json()["models"]
    return next(m["id"] for m in models if m["name"] == name)


def test_models_list_their_collections_and_the_active_one(http: httpx.Client) -> None:
    body = http.get("/v1/models").json()
    assert body["active"] == TINY_MODEL
    tiny = next(m for m in body["models"] if m["name"] == TINY_MODEL)
    assert tiny["active"] and tiny["dims"] == TINY_DIM
    assert {c["kind"] for c in tiny["collections"]} == {"images", "captions"}


def test_activating_a_version_swaps_the_query_encoder_and_back(
    http: httpx.Client, live: LiveServer, live_settings: Settings
) -> None:
    state: ServiceState = live.app.state.modalign
    register_tiny_model(live_settings, "tiny-v2", seed=1)
    state.store.create_version("tiny-v2", image_dim=TINY_DIM, caption_dim=TINY_DIM)
    try:
        switched = http.post(f"/v1/models/{model_id(http, 'tiny-v2')}/activate")
        assert switched.status_code == 200, switched.text
        assert switched.json()["active"] is True
        assert state.encoder.version == "tiny-v2"
        assert http.get("/v1/models").json()["active"] == "tiny-v2"
        empty = http.post("/v1/search/images", json={"text": "a red circle"}).json()
        assert empty["hits"] == []  # v2's collections hold nothing yet
    finally:
        back = http.post(f"/v1/models/{model_id(http, TINY_MODEL)}/activate")
    assert back.status_code == 200
    assert state.encoder.version == TINY_MODEL
    assert http.post("/v1/search/images", json={"text": "a red circle"}).json()["hits"]


def test_a_version_without_collections_cannot_be_activated(
    http: httpx.Client, live: LiveServer, live_settings: Settings
) -> None:
    register_tiny_model(live_settings, "tiny-empty", seed=2)
    response = http.post(f"/v1/models/{model_id(http, 'tiny-empty')}/activate")
    assert response.status_code == 409, response.text
    assert "reindex" in response.json()["detail"]
    assert live.app.state.modalign.encoder.version == TINY_MODEL
    assert http.get("/v1/models").json()["active"] == TINY_MODEL


def test_unknown_versions_are_404(http: httpx.Client) -> None:
    assert http.post("/v1/models/987654/activate").status_code == 404
