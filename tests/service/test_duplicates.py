"""Near-duplicates over HTTP: the recorded groups, collapsed searches, and bad input."""

from __future__ import annotations

import httpx

from modalign.service.remote import RemoteSearchClient

from .conftest import INDEXED_IMAGES
from .helpers import LiveServer


def _group_of(http: httpx.Client) -> dict[int, int]:
    """Asset id -> its group's first asset, from GET /v1/duplicates."""
    listing = http.get("/v1/duplicates").json()
    return {a: g["asset_ids"][0] for g in listing["groups"] for a in g["asset_ids"]}


def test_the_listing_names_the_active_version_and_its_groups(http: httpx.Client) -> None:
    response = http.get("/v1/duplicates", params={"dataset": "shapes"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dataset"] == "shapes" and body["threshold"] is None and body["version"]
    for group in body["groups"]:
        assert len(group["asset_ids"]) == len(group["pairs"]) + 1  # each joined by one pair
        assert all(0 < p["cosine"] <= 1.0 + 1e-6 for p in group["pairs"])
    strict = http.get("/v1/duplicates", params={"threshold": 1.0}).json()
    assert strict["groups"] == [] and strict["threshold"] == 1.0


def test_a_collapsed_search_has_one_hit_per_group(http: httpx.Client, live: LiveServer) -> None:
    groups = _group_of(http)
    plain = http.post("/v1/search/images", json={"text": "a shape", "limit": 100}).json()["hits"]
    assert len(plain) >= INDEXED_IMAGES
    firsts: dict[int, int] = {}  # group -> its best hit in the plain list
    for hit in plain:
        firsts.setdefault(groups.get(hit["asset_id"], hit["asset_id"]), hit["asset_id"])
    assert len(firsts) >= 10
    body = {"text": "a shape", "limit": 10, "collapse_duplicates": True}
    collapsed = http.post("/v1/search/images", json=body).json()["hits"]
    assert [h["asset_id"] for h in collapsed] == list(firsts.values())[:10]
    similar = http.post("/v1/search/similar", json={
        "asset_id": plain[0]["asset_id"], "limit": 5, "collapse_duplicates": True,
    }).json()["hits"]
    assert len({groups.get(h["asset_id"], h["asset_id"]) for h in similar}) == len(similar)
    with RemoteSearchClient(live.url) as remote:
        again = remote.search_images(text="a shape", limit=10, collapse_duplicates=True)
    assert [h.asset_id for h in again] == [h["asset_id"] for h in collapsed]


def test_bad_input_is_refused_clearly(http: httpx.Client) -> None:
    for threshold in (0, 1.5, -1):
        response = http.get("/v1/duplicates", params={"threshold": threshold})
        assert response.status_code == 422, response.text
    captions = http.post(
        "/v1/search/captions", json={"text": "a shape", "collapse_duplicates": True}
    )
    assert captions.status_code == 422
    assert "image searches only" in captions.text
    unknown = http.get("/v1/duplicates", params={"version": "nope"})
    assert unknown.status_code == 404
