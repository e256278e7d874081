"""``/v1/search``: text or image -> images, text or image -> captions, asset -> similar images.

``POST /v1/search/images`` and ``/v1/search/captions`` take either a JSON body (a text query or a
raw vector) or a multipart upload (an image file plus the same knobs as form fields). Encoding and
the engine query run in the threadpool, never on the event loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

import numpy as np
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from PIL import Image
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json
from starlette.concurrency import run_in_threadpool

from modalign.errors import InvalidInputError
from modalign.search.client import SearchClient
from modalign.search.hydrate import CatalogLookup
from modalign.search.results import CaptionHit, ImageHit
from modalign.service.deps import PathViewDep, StateDep
from modalign.service.guard import GuardedRoute
from modalign.service.limits import MAX_JSON_BYTES
from modalign.service.problems import ProblemError, problem_responses
from modalign.service.schemas import (
    MAX_TEXT_CHARS,
    CaptionHits,
    ImageHits,
    QueryBody,
    QueryKnobs,
    SimilarBody,
)
from modalign.service.state import ServiceState
from modalign.service.uploads import read_capped_body, read_upload

router = APIRouter(prefix="/v1/search", tags=["search"], route_class=GuardedRoute)

Target = Literal["images", "captions"]
Body = TypeVar("Body", bound=BaseModel)
ERRORS = problem_responses(401, 413, 415, 422, 503)


def _request_body(json_schema: str, *, upload: bool = True) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{json_schema}"}}}
    if upload:
        content["multipart/form-data"] = {"schema": {"$ref": "#/components/schemas/UploadForm"}}
    return {"requestBody": {"required": True, "content": content}}


@router.post(
    "/images", response_model=ImageHits, responses=ERRORS,
    openapi_extra=_request_body("QueryBody"),
)
async def search_images(request: Request, state: StateDep, paths: PathViewDep) -> ImageHits:
    """Images nearest to a text (JSON ``text``), a vector (JSON ``vector``) or an uploaded image
    (multipart ``file``)."""
    hits = await _search(request, state, "images")
    return ImageHits(hits=[paths.hit(hit) for hit in hits])


@router.post(
    "/captions", response_model=CaptionHits, responses=ERRORS,
    openapi_extra=_request_body("QueryBody"),
)
async def search_captions(
    request: Request, state: StateDep, paths: PathViewDep
) -> CaptionHits:
    """Captions nearest to an uploaded image (multipart ``file``), a text or a vector (JSON)."""
    hits = await _search(request, state, "captions")
    return CaptionHits(hits=[paths.hit(hit) for hit in hits])


@router.post(
    "/similar", response_model=ImageHits,
    responses=problem_responses(401, 404, 413, 415, 422, 503),
    openapi_extra=_request_body("SimilarBody", upload=False),
)
async def similar_images(request: Request, state: StateDep, paths: PathViewDep) -> ImageHits:
    """Images most like a catalogued one (the asset itself left out)."""
    if not _is_json(request):
        raise ProblemError(415, "send application/json")
    # parsed here rather than by FastAPI: pydantic's parser refuses deep nesting as a 422
    body = _json_body(SimilarBody, await read_capped_body(request, MAX_JSON_BYTES))
    knobs = knobs_of(body)
    hits = await run_in_threadpool(
        lambda: client_for(state, needs_encoder=False).similar_images(body.asset_id, **knobs)
    )
    return ImageHits(hits=[paths.hit(hit) for hit in hits])


async def _search(request: Request, state: ServiceState, target: Target) -> list[Any]:
    if _content_type(request) == "multipart/form-data":
        upload = await read_upload(request, state.settings)
        fields = dict(upload.fields)
        text, mode = fields.pop("text", None), fields.pop("mode", None)
        knobs = _knobs_for(target, _form_knobs(fields))
        query: dict[str, Any] = {"image": upload.image}
        if text is not None:  # a combined query: this picture, but these words
            query["text"] = _form_text(text)
        if mode is not None:
            knobs["mode"] = mode
    elif _is_json(request):
        body = _json_body(QueryBody, await read_capped_body(request, MAX_JSON_BYTES))
        knobs = _knobs_for(target, body)
        query = {"text": body.text} if body.text is not None else {"vector": body.vector}
        if body.mode is not None:
            knobs["mode"] = body.mode
    else:
        raise ProblemError(415, "send application/json (text or vector) or multipart/form-data")
    if "text" in query and "image" not in query:
        return await _search_text(state, target, query["text"], knobs)
    client = client_for(state, needs_encoder="vector" not in query)
    method = client.search_images if target == "images" else client.search_captions
    hits: list[ImageHit] | list[CaptionHit] = await run_in_threadpool(
        lambda: method(**query, **knobs)
    )
    return list(hits)


async def _search_text(
    state: ServiceState, target: Target, text: str, knobs: dict[str, Any]
) -> list[Any]:
    """Text queries go through the batcher (encoded together with concurrent ones), then are
    searched in the model version they were encoded with, the mode (given, or the settings'
    default where the version has keyword vectors) chosen by SearchClient as in this process;
    a keyword query needs no vector (it searches the loaded encoder's version)."""
    if state.texts is None or state.encoder.current is None:
        raise ProblemError(503, "no model version is loaded: text and image queries are off")
    if knobs.get("mode") == "keyword":
        client = client_for(state, needs_encoder=False)
    else:
        vector, version = await run_in_threadpool(state.texts.encode, text)
        client = SearchClient(
            state.store, encoder=EncodedText(vector, version),
            assets=CatalogLookup(state.readers), version=version,
            mode=state.settings.store.search_mode, keywords=state.keywords,
        )
    method = client.search_images if target == "images" else client.search_captions
    hits: list[ImageHit] | list[CaptionHit] = await run_in_threadpool(
        lambda: method(text=text, **knobs)
    )
    return list(hits)


class EncodedText:
    """The query encoder of a text the batcher has already encoded (the client takes the text,
    for its keywords, and this vector)."""

    def __init__(self, vector: np.ndarray, version: str | None) -> None:
        self._vector = vector
        self.version = version

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vector for _ in texts])

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        raise InvalidInputError("this query was a text")


def knobs_of(body: QueryKnobs) -> dict[str, Any]:
    """The SearchClient keyword arguments of a request (the filter kept as a Filter)."""
    return {name: getattr(body, name) for name in QueryKnobs.model_fields}


def _knobs_for(target: Target, body: QueryKnobs) -> dict[str, Any]:
    """The knobs of a search of ``target``: collapsing near-duplicates groups images only,
    grouping by asset captions only."""
    knobs = knobs_of(body)
    if target == "captions" and knobs.pop("collapse_duplicates"):
        raise ProblemError(422, "collapse_duplicates applies to image searches only")
    if target == "images" and knobs.pop("group_by_asset"):
        raise ProblemError(422, "group_by_asset applies to caption searches only")
    return knobs


def _form_text(text: str) -> str:
    """A combined query's text form field, within the JSON body's bounds."""
    if not text.strip() or len(text) > MAX_TEXT_CHARS:
        raise ProblemError(422, f"form field 'text' must hold 1 to {MAX_TEXT_CHARS} characters")
    return text


def client_for(state: ServiceState, *, needs_encoder: bool) -> SearchClient:
    """A SearchClient over the service's store, current query encoder and read-only catalog.

    Every query, vector queries included, searches the loaded encoder's model version (the one
    activated through the API), else the store's active version.
    """
    encoder = state.encoder.current
    if needs_encoder and encoder is None:
        raise ProblemError(503, "no model version is loaded: text and image queries are off")
    version = encoder.version if encoder is not None else None
    return SearchClient(
        state.store, encoder=encoder, assets=CatalogLookup(state.readers), version=version,
        mode=state.settings.store.search_mode, keywords=state.keywords,
    )


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _is_json(request: Request) -> bool:
    content_type = _content_type(request)
    return content_type == "application/json" or content_type.endswith("+json")


def _json_body(model: type[Body], raw: bytes) -> Body:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(_located(exc, "body")) from exc


def _form_knobs(fields: Mapping[str, str]) -> QueryKnobs:
    data: dict[str, Any] = {k: v for k, v in fields.items() if k != "filter"}
    raw_filter = fields.get("filter")
    if raw_filter:
        try:
            # pydantic's parser, not json.loads: it refuses deep nesting with a ValueError where
            # json.loads would overflow the Python stack
            data["filter"] = from_json(raw_filter)
        except ValueError as exc:
            raise InvalidInputError(f"form field 'filter' is not JSON: {exc}") from exc
    try:
        return QueryKnobs.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(_located(exc, "form")) from exc


def _located(exc: ValidationError, where: str) -> list[dict[str, Any]]:
    return [
        {**e, "loc": (where, *e["loc"])} for e in exc.errors(include_url=False, include_input=False)
    ]
