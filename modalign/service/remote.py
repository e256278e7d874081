"""RemoteSearchClient: the search interface (:class:`~modalign.search.api.SearchApi`) over this
service's HTTP API.

Same methods, same keyword arguments, same typed results (:class:`ImageHit`, :class:`CaptionHit`
with :class:`AssetInfo`) as the embedded :class:`modalign.search.client.SearchClient`; errors come
back as the same :mod:`modalign.errors` classes (404 -> NotFoundError, 413/415/422 ->
InvalidInputError, 503 -> TransientError). ``tests/service/test_remote.py`` runs one suite on both
and compares the results.

    client = RemoteSearchClient("http://127.0.0.1:8000", api_key=None)
    hits = client.search_images(text="a red apple", limit=5)
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, Unpack

import httpx
import numpy as np
from PIL import Image
from pydantic import TypeAdapter

from modalign.errors import (
    InvalidInputError,
    ModalignError,
    NotFoundError,
    TransientError,
)
from modalign.search.api import ImageInput, Options, QueryOptions, VectorInput, check_query
from modalign.search.editing import DeleteOutcome, ListEdit
from modalign.search.filters import Filter
from modalign.search.hybrid import check_mode
from modalign.search.results import AssetInfo, CaptionHit, CaptionInfo, ImageHit

DEFAULT_TIMEOUT_S = 30.0
JOB_POLL_S = 0.2
DEFAULT_JOB_TIMEOUT_S = 600.0  # how long delete_assets waits for its job

_IMAGE_HITS = TypeAdapter(list[ImageHit])
_CAPTION_HITS = TypeAdapter(list[CaptionHit])


class RemoteSearchClient:
    """Searches a modalign service (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        http: httpx.Client | None = None,
        job_timeout: float = DEFAULT_JOB_TIMEOUT_S,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout, headers=headers)
        self._owned = http is None
        self._job_timeout = job_timeout

    def search_images(
        self,
        *,
        text: str | None = None,
        image: ImageInput | None = None,
        vector: VectorInput | None = None,
        **options: Unpack[QueryOptions],
    ) -> list[ImageHit]:
        """Images nearest to a text, an image or a vector (exactly one of them); one per
        near-duplicate group with ``collapse_duplicates``."""
        knobs = _with_mode(_knobs(options), by_vector=text is None)
        body = self._query("/v1/search/images", text, image, vector, knobs)
        return _IMAGE_HITS.validate_python(body["hits"])

    def search_captions(
        self,
        *,
        image: ImageInput | None = None,
        text: str | None = None,
        vector: VectorInput | None = None,
        **options: Unpack[QueryOptions],
    ) -> list[CaptionHit]:
        """Captions nearest to an image, a text or a vector (exactly one of them)."""
        knobs = _with_mode(_knobs(options), by_vector=text is None)
        body = self._query("/v1/search/captions", text, image, vector, knobs)
        return _CAPTION_HITS.validate_python(body["hits"])

    def similar_images(self, asset_id: int, **options: Unpack[QueryOptions]) -> list[ImageHit]:
        """Images nearest to an indexed asset's image, the asset itself left out; one per
        near-duplicate group with ``collapse_duplicates``."""
        knobs = _with_mode(_knobs(options), by_vector=True)
        body = self._post("/v1/search/similar", json={"asset_id": asset_id, **knobs})
        return _IMAGE_HITS.validate_python(body["hits"])

    def delete_assets(
        self,
        asset_ids: Sequence[int] = (),
        *,
        dataset: str | None = None,
        filter: Filter | None = None,
        everything: bool = False,
        dry_run: bool = False,
    ) -> DeleteOutcome:
        """Delete assets by id, a dataset's memberships, or what ``filter`` matches, from every
        model version; waits for the service's delete job to finish."""
        body = self._send("POST", "/v1/assets/delete", json={
            "asset_ids": list(asset_ids), "dataset": dataset, "all": everything,
            "filter": filter.model_dump(mode="json") if filter else None, "dry_run": dry_run,
        })
        job = body.get("job")
        status = self._wait_for_job(int(job["id"])) if job else None
        return DeleteOutcome(
            int(body["assets"]), int(body["memberships"]), list(body["sample"]),
            bool(body["dry_run"]), int(job["id"]) if job else None, status,
        )

    def update_asset(
        self,
        asset_id: int,
        *,
        captions: Sequence[str] | None = None,
        add_captions: Sequence[str] = (),
        remove_captions: Sequence[str] = (),
        tags: Sequence[str] | None = None,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
    ) -> AssetInfo:
        """Replace (``captions``, ``tags``), add or remove an asset's captions and tags."""
        body = self._send("PATCH", f"/v1/assets/{asset_id}", json={
            "captions": _edit_body(ListEdit.of(captions, add_captions, remove_captions)),
            "tags": _edit_body(ListEdit.of(tags, add_tags, remove_tags)),
        })
        return _asset_info(body)

    def close(self) -> None:
        if self._owned:
            self._http.close()

    def __enter__(self) -> RemoteSearchClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _query(
        self,
        path: str,
        text: str | None,
        image: ImageInput | None,
        vector: VectorInput | None,
        knobs: dict[str, Any],
    ) -> Any:
        check_query(text, image, vector)
        if image is not None:  # with a text too: a combined query, as form fields
            fields = {**knobs, "text": text}
            form = {k: _form_value(v) for k, v in fields.items() if v is not None}
            return self._post(path, files={"file": ("query", _image_bytes(image))}, data=form)
        if text is not None:
            return self._post(path, json={"text": text, **knobs})
        return self._post(path, json={"vector": _floats(vector), **knobs})

    def _post(self, path: str, **kwargs: Any) -> Any:
        return self._send("POST", path, **kwargs)

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise TransientError(f"search service unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        return response.json()

    def _wait_for_job(self, job_id: int) -> str:
        """Poll a job until it has finished (or looks abandoned); its last status."""
        deadline = time.monotonic() + self._job_timeout
        while True:
            status = str(self._send("GET", f"/v1/jobs/{job_id}?failures=0")["status"])
            if status not in ("pending", "running"):
                return status
            if time.monotonic() > deadline:
                raise TransientError(f"job {job_id} is still {status}; poll GET /v1/jobs/{job_id}")
            time.sleep(JOB_POLL_S)


def _edit_body(edit: ListEdit) -> dict[str, Any]:
    return {"replace": list(edit.replace) if edit.replace is not None else None,
            "add": list(edit.add), "remove": list(edit.remove)}


def _asset_info(body: dict[str, Any]) -> AssetInfo:
    """The AssetInfo an embedded client would return, from the API's AssetView."""
    captions = tuple(CaptionInfo(c["text"], int(c["position"])) for c in body["captions"])
    return AssetInfo(
        asset_id=int(body["id"]), uri=body["uri"], width=int(body["width"]),
        height=int(body["height"]), source=body["source"], dataset=body["dataset"],
        split=body["split"], tags=tuple(body["tags"]),
        created_at=datetime.fromisoformat(body["created_at"]),
        content_hash=body["content_hash"], captions=captions, datasets=tuple(body["datasets"]),
    )


def _knobs(options: QueryOptions) -> dict[str, Any]:
    """The request fields of the options (every one, defaults filled in)."""
    chosen = Options.of(options)
    knobs = {field.name: getattr(chosen, field.name) for field in fields(chosen)}
    knobs["filter"] = chosen.filter.model_dump(mode="json") if chosen.filter else None
    return knobs


def _with_mode(knobs: dict[str, Any], by_vector: bool) -> dict[str, Any]:
    """The knobs with the query's ``mode`` checked: sent for a text query when given; an image,
    vector or similar query searches by vector only (refused locally for another mode)."""
    mode = knobs.pop("mode")
    if mode is None:
        return knobs
    checked = check_mode(mode)
    if not by_vector:
        return {**knobs, "mode": checked}
    if checked != "vector":
        raise InvalidInputError(f"mode {checked!r} searches by the words of a text query")
    return knobs


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _floats(vector: VectorInput | None) -> list[float]:
    return [float(x) for x in np.asarray(vector, dtype=np.float64).ravel()]


def _image_bytes(image: ImageInput) -> bytes:
    if isinstance(image, Image.Image):
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
    try:
        return Path(image).read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read query image {image}: {exc}") from exc


def _error(response: httpx.Response) -> ModalignError:
    try:
        detail = str(response.json().get("detail") or response.reason_phrase)
    except ValueError:
        detail = response.text[:200] or response.reason_phrase
    status = response.status_code
    if status == 404:
        return NotFoundError(detail)
    if status in (400, 413, 415, 422):
        return InvalidInputError(detail)
    if status in (502, 503, 504):
        return TransientError(detail)
    return ModalignError(f"HTTP {status}: {detail}")
