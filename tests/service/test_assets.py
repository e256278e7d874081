"""Assets over HTTP: metadata with captions, cacheable JPEG thumbnails."""

from __future__ import annotations

import io

import httpx
from PIL import Image


def some_asset(http: httpx.Client) -> dict[str, object]:
    hit = http.post("/v1/search/images", json={"text": "a green triangle"}).json()["hits"][0]
    return dict(hit["asset"])


def test_an_asset_has_its_metadata_and_captions(http: httpx.Client) -> None:
    asset_id = some_asset(http)["asset_id"]
    body = http.get(f"/v1/assets/{asset_id}").json()
    assert body["id"] == asset_id
    assert body["mime"] == "image/png" and body["width"] == body["height"] == 96
    assert body["captions"][0]["text"].startswith("a ")
    assert body["thumbnail_url"] == f"/v1/assets/{asset_id}/thumbnail"


def test_thumbnails_are_small_jpegs_with_an_etag(http: httpx.Client) -> None:
    asset_id = some_asset(http)["asset_id"]
    response = http.get(f"/v1/assets/{asset_id}/thumbnail", params={"size": 48})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "JPEG" and max(image.size) == 48
    etag = response.headers["etag"]
    again = http.get(f"/v1/assets/{asset_id}/thumbnail", params={"size": 48},
                     headers={"If-None-Match": etag})
    assert again.status_code == 304
    other = http.get(f"/v1/assets/{asset_id}/thumbnail", params={"size": 64})
    assert other.headers["etag"] != etag
    assert http.get(f"/v1/assets/{asset_id}/thumbnail", params={"size": 4}).status_code == 422
