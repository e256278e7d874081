"""RemoteSearchClient: the SearchClient interface over this service's HTTP API.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
from modalign.search.filters import Filter
from modalign.search.results import CaptionHit, ImageHit

ImageInput = Image.Image | Path | str
DEFAULT_TIMEOUT_S = 30.0

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
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout, headers=headers)
        self._owned = http is None

    def search_images(
        self,
        *,
        text: str | None = None,
        image: ImageInput | None = None,
        vector: np.ndarray | Sequence[float] | None = None,
        filter: Filter | None = None,
        limit: int = 10,
        offset: int = 0,
        score_threshold: float | None = None,
        ef: int | None = None,
        exact: bool = False,
        hydrate: bool = True,
    ) -> list[ImageHit]:
        """Images nearest to a text, an image or a vector (exactly one of them)."""
        knobs = _knobs(filter, limit, offset, score_threshold, ef, exact, hydrate)
        body = self._query("/v1/search/images", text, image, vector, knobs)
        return _IMAGE_HITS.validate_python(body["hits"])

    def search_captions(
        self,
        *,
        image: ImageInput | None = None,
        text: str | None = None,
        vector: np.ndarray | Sequence[float] | None = None,
        filter: Filter | None = None,
        limit: int = 10,
        offset: int = 0,
        score_threshold: float | None = None,
        ef: int | None = None,
        exact: bool = False,
        hydrate: bool = True,
    ) -> list[CaptionHit]:
        """Captions nearest to an image, a text or a vector (exactly one of them)."""
        knobs = _knobs(filter, limit, offset, score_threshold, ef, exact, hydrate)
        body = self._query("/v1/search/captions", text, image, vector, knobs)
        return _CAPTION_HITS.validate_python(body["hits"])

    def similar_images(
        self,
        asset_id: int,
        *,
        filter: Filter | None = None,
        limit: int = 10,
        offset: int = 0,
        score_threshold: float | None = None,
        ef: int | None = None,
        exact: bool = False,
        hydrate: bool = True,
    ) -> list[ImageHit]:
        """Images nearest to an indexed asset's image, the asset itself left out."""
        knobs = _knobs(filter, limit, offset, score_threshold, ef, exact, hydrate)
        body = self._post("/v1/search/similar", json={"asset_id": asset_id, **knobs})
        return _IMAGE_HITS.validate_python(body["hits"])

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
        vector: np.ndarray | Sequence[float] | None,
        knobs: dict[str, Any],
    ) -> Any:
        if sum(x is not None for x in (text, image, vector)) != 1:
            raise InvalidInputError("give exactly one of text=, image= or vector=")
        if image is not None:
            form = {k: _form_value(v) for k, v in knobs.items() if v is not None}
            return self._post(path, files={"file": ("query", _image_bytes(image))}, data=form)
        if text is not None:
            return self._post(path, json={"text": text, **knobs})
        return self._post(path, json={"vector": _floats(vector), **knobs})

    def _post(self, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.post(path, **kwargs)
        except httpx.HTTPError as exc:
            raise TransientError(f"search service unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise _error(response)
        return response.json()


def _knobs(
    flt: Filter | None, limit: int, offset: int, score_threshold: float | None, ef: int | None,
    exact: bool, hydrate: bool,
) -> dict[str, Any]:
    return {
        "filter": flt.model_dump(mode="json") if flt else None,
        "limit": limit, "offset": offset, "score_threshold": score_threshold, "ef": ef,
        "exact": exact, "hydrate": hydrate,
    }


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _floats(vector: np.ndarray | Sequence[float] | None) -> list[float]:
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
