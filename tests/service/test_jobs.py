"""Jobs through the API: start under the allow-list, watch, resume; the in-process runner."""

from __future__ import annotations

import httpx
import pytest

from .conftest import INDEXED_IMAGES
from .helpers import LiveServer, make_images, wait_for_job


def test_the_shared_index_was_ingested_through_the_api(http: httpx.Client) -> None:
    jobs = http.get("/v1/jobs").json()["jobs"]
    first = jobs[-1]
    assert first["status"] == "completed"
    assert first["done_items"] == INDEXED_IMAGES
    assert first["progress"] == 1.0
    assert first["rate_items_per_s"] > 0
    models = http.get("/v1/models").json()
    images = next(c for c in models["models"][0]["collections"] if c["kind"] == "images")
    assert images["points"] >= INDEXED_IMAGES  # other tests add their own images


def test_a_source_outside_the_allow_list_is_refused(http: httpx.Client) -> None:
    for path in ("/etc", "/etc/passwd", "../../..", "sources/../../../"):
        response = http.post("/v1/jobs", json={"source": path})
        assert response.status_code == 403, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_a_missing_or_unknown_source_is_a_422(http: httpx.Client) -> None:
    assert http.post("/v1/jobs", json={"source": "sources/nothing-here"}).status_code == 422
    assert http.post("/v1/jobs", json={}).status_code == 422


def test_rerunning_a_source_adds_no_points_and_resume_is_harmless(
    http: httpx.Client, live: LiveServer
) -> None:
    job = http.post("/v1/jobs", json={"source": "sources/shapes"}).json()
    state = wait_for_job(http, job["id"])
    assert state["new_points"] == 0
    assert state["done_items"] + state["skipped_items"] == INDEXED_IMAGES
    resumed = http.post(f"/v1/jobs/{job['id']}/resume")
    assert resumed.status_code == 202
    assert wait_for_job(http, job["id"])["status"] == state["status"]


def test_failures_are_listed_with_their_reasons(http: httpx.Client, live: LiveServer) -> None:
    folder = live.app.state.settings.paths.data_dir / "sources" / "mixed"
    make_images(folder, 2, offset=500)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (folder / "page.jpg").write_text("<html><body>hi</body></html>")
    job = http.post("/v1/jobs", json={"source": "sources/mixed", "tags": ["mixed"]}).json()
    state = wait_for_job(http, job["id"])
    assert state["status"] == "completed_with_errors"
    assert (state["done_items"], state["failed_items"]) == (2, 2)
    reasons = {f["uri"]: f["error"] for f in state["failures"]}
    assert set(reasons) == {"broken.png", "page.jpg"}
    assert "HTML" in reasons["page.jpg"]


def test_unknown_jobs_are_404_problems(http: httpx.Client) -> None:
    for response in (http.get("/v1/jobs/999999"), http.post("/v1/jobs/999999/resume")):
        assert response.status_code == 404
        assert response.json()["title"] == "Not Found"


def test_a_source_whose_image_folder_leads_outside_is_refused(
    http: httpx.Client, live: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside-images")
    make_images(outside, 1, offset=900)
    folder = live.app.state.settings.paths.data_dir / "sources" / "flickr-escape"
    folder.mkdir(parents=True)
    (folder / "flickr30k-images").symlink_to(outside, target_is_directory=True)
    name = next(outside.glob("*.png")).name
    (folder / "results.token").write_text(f"{name}#0\ta planted caption\n")
    response = http.post("/v1/jobs", json={"source": "sources/flickr-escape/results.token"})
    assert response.status_code == 403, response.text
    assert "image folder" in response.json()["detail"]
