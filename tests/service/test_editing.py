"""Editing and deleting assets through the API, and through both clients (the embedded
SearchClient with its editor, RemoteSearchClient over HTTP), which must agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from modalign.errors import InvalidInputError, NotFoundError
from modalign.search.client import SearchClient
from modalign.search.filters import Filter, Match
from modalign.search.hydrate import CatalogLookup
from modalign.search.naming import Kind
from modalign.search.schema import CaptionPayload
from modalign.search.store import PointIn
from modalign.service.remote import RemoteSearchClient
from modalign.service.state import ServiceState

from .helpers import LiveServer, make_images, wait_for_job


def _ingest(
    http: httpx.Client, live: LiveServer, name: str, offset: int, **extra: Any
) -> dict[str, Any]:
    folder = Path(live.app.state.settings.paths.data_dir) / "sources" / name
    make_images(folder, 3, offset=offset)
    job = http.post("/v1/jobs", json={"source": f"sources/{name}", "dataset": name, **extra})
    assert job.status_code == 202, job.text
    return wait_for_job(http, job.json()["id"])


def _ids(http: httpx.Client, dataset: str) -> list[int]:
    flt = {"must": [{"field": "dataset", "op": "match", "value": dataset}]}
    hits = http.post("/v1/search/images", json={"text": "a shape", "filter": flt, "limit": 50})
    return sorted(h["asset_id"] for h in hits.json()["hits"])


def _embedded(live: LiveServer) -> SearchClient:
    state: ServiceState = live.app.state.modalign
    return SearchClient(state.store, encoder=state.encoder.current,
                        assets=CatalogLookup(state.readers), editor=state.editor)


def test_both_clients_edit_and_delete_alike(http: httpx.Client, live: LiveServer) -> None:
    _ingest(http, live, "edit-clients", 700)
    first, second, third = _ids(http, "edit-clients")
    embedded = _embedded(live)
    with RemoteSearchClient(live.url) as remote:
        edited = [
            client.update_asset(asset, add_captions=["a kite"], tags=["kite"])
            for client, asset in ((embedded, first), (remote, second))
        ]
        for info in edited:
            assert info.tags == ("kite",) and info.captions[-1].text == "a kite"
            assert info.datasets == ("edit-clients",)
        kites = Filter(must=[Match(field="tags", value="kite")])
        assert {h.asset_id for h in remote.search_images(text="x", filter=kites)} == {first, second}
        dry = [c.delete_assets(dataset="edit-clients", dry_run=True) for c in (embedded, remote)]
        assert dry[0] == dry[1] and (dry[0].assets, dry[0].memberships) == (0, 3)
        gone = remote.delete_assets([first])
        assert gone.status == "completed" and gone.job_id is not None
        assert embedded.delete_assets([second]).status == "completed"
        for client in (embedded, remote):
            with pytest.raises(NotFoundError):
                client.update_asset(first, tags=["x"])
            with pytest.raises(InvalidInputError):
                client.delete_assets()
    assert _ids(http, "edit-clients") == [third]
    assert http.get(f"/v1/assets/{first}").status_code == 404


def test_the_asset_endpoints_refuse_bad_input(http: httpx.Client, live: LiveServer) -> None:
    _ingest(http, live, "edit-bad", 720)
    [asset, *_] = _ids(http, "edit-bad")
    assert http.delete("/v1/assets/987654").status_code == 404
    assert http.patch(f"/v1/assets/{asset}", json={}).status_code == 422
    assert http.patch(f"/v1/assets/{asset}", json={"tags": {"remove": ["nope"]}}).status_code == 422
    assert http.post("/v1/assets/delete", json={}).status_code == 422
    assert http.post("/v1/assets/delete", json={"all": True, "dataset": "x"}).status_code == 422
    dry = http.post("/v1/assets/delete", json={"dataset": "edit-bad", "dry_run": True})
    assert dry.status_code == 200 and dry.json()["memberships"] == 3 and dry.json()["job"] is None
    deleted = http.delete(f"/v1/assets/{asset}")
    assert deleted.status_code == 202 and deleted.headers["location"].startswith("/v1/jobs/")
    assert wait_for_job(http, deleted.json()["job"]["id"])["kind"] == "delete"
    assert asset not in _ids(http, "edit-bad")


def test_a_sync_job_through_the_api(http: httpx.Client, live: LiveServer) -> None:
    first = _ingest(http, live, "edit-sync", 740, sync=True)
    assert first["kind"] == "sync" and first["done_items"] == 3
    folder = Path(live.app.state.settings.paths.data_dir) / "sources" / "edit-sync"
    next(folder.glob("*.png")).unlink()
    again = http.post("/v1/jobs", json={"source": "sources/edit-sync", "dataset": "edit-sync",
                                        "sync": True})
    state = wait_for_job(http, again.json()["id"])
    assert state["status"] == "completed" and state["total_items"] == 1
    assert len(_ids(http, "edit-sync")) == 2


def test_the_check_state_follows_the_store(http: httpx.Client, live: LiveServer) -> None:
    state: ServiceState = live.app.state.modalign
    assert http.post("/v1/check").json()["clean"]
    version = state.store.active_version()
    [point] = state.store.scroll(Kind.CAPTIONS, limit=1, with_vectors=True, version=version)
    state.store.delete(Kind.CAPTIONS, [point.id], version=version)
    try:
        report = http.post("/v1/check").json()
        captions = next(c for c in report["collections"] if c["kind"] == "captions")
        assert not report["clean"] and captions["missing"] == 1
        assert http.get("/v1/dashboard").json()["check"]["clean"] is False
    finally:
        payload = CaptionPayload.model_validate(point.payload)
        back = PointIn(point.id, point.vector, payload)
        state.store.upsert(Kind.CAPTIONS, [back], version=version)
    assert http.post("/v1/check").json()["clean"]
