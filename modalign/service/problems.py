"""RFC 7807 problem details: every error the API returns is JSON, never a stack trace.

``modalign.errors`` classes map to HTTP statuses here, in one table; request validation errors
become 422 problems listing each bad field; anything unexpected becomes a bare 500 problem (the
traceback goes to the log only).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from modalign.errors import (
    CatalogError,
    ConfigError,
    EncoderError,
    InvalidInputError,
    ModalignError,
    NotFoundError,
    StoreError,
    TransientError,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 5

# Most specific first: the first class an error is an instance of decides its status.
STATUS_OF_ERROR: tuple[tuple[type[ModalignError], int], ...] = (
    (NotFoundError, 404),
    (InvalidInputError, 422),
    (TransientError, 503),
    (StoreError, 503),
    (CatalogError, 503),
    (EncoderError, 500),
    (ConfigError, 500),
)


class Problem(BaseModel):
    """An RFC 7807 problem details object."""

    type: str = Field("about:blank", description="A URI naming the kind of problem.")
    title: str = Field(description="Short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str | None = Field(None, description="What went wrong with this request.")
    instance: str | None = Field(None, description="The request path.")
    errors: list[dict[str, Any]] | None = Field(
        None, description="Per-field validation errors, when the request was malformed."
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "asset 42 does not exist",
                    "instance": "/v1/assets/42",
                }
            ]
        }
    }


class ProblemError(Exception):
    """Raised by the service itself for statuses ModalignError does not cover (401, 403, 413...)."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers


def problem_response(
    request: Request,
    status: int,
    detail: str | None,
    *,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response for ``status``."""
    problem = Problem(
        title=_title(status), status=status, detail=detail,
        instance=request.url.path, errors=errors,
    )
    body = problem.model_dump(exclude_none=True)
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_JSON
    )


def status_of(error: ModalignError) -> int:
    """The HTTP status a modalign error maps to (500 for the base class)."""
    for kind, status in STATUS_OF_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _on_modalign_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ModalignError)
    status = status_of(error)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, error, exc_info=error)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return problem_response(request, status, str(error), headers=headers)


async def _on_problem_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ProblemError)
    return problem_response(request, error.status, error.detail, headers=error.headers)


async def _on_http_exception(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail if isinstance(error.detail, str) else None
    return problem_response(request, error.status_code, detail, headers=error.headers)


async def _on_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [_clean_error(item) for item in error.errors()]
    return problem_response(request, 422, "the request is not valid", errors=errors)


def _clean_error(item: Any) -> dict[str, Any]:
    """One validation error without its (possibly huge or binary) input value."""
    kept = {key: item[key] for key in ("loc", "msg", "type") if key in item}
    cleaned: dict[str, Any] = jsonable_encoder(kept)
    return cleaned


async def _on_unexpected(request: Request, error: Exception) -> JSONResponse:
    log.error("%s %s crashed", request.method, request.url.path, exc_info=error)
    return problem_response(request, 500, "internal error; see the server log")


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error response of ``app`` a problem+json document."""
    app.add_exception_handler(ModalignError, _on_modalign_error)
    app.add_exception_handler(ProblemError, _on_problem_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem+json bodies for ``statuses``."""
    return {status: _problem_doc(status) for status in statuses}


def _problem_doc(status: int) -> dict[str, Any]:
    example = {"type": "about:blank", "title": _title(status), "status": status,
               "detail": PROBLEM_EXAMPLES.get(status, _title(status)), "instance": "/v1/..."}
    return {
        "description": _title(status),
        "content": {PROBLEM_JSON: {
            "schema": {"$ref": "#/components/schemas/Problem"}, "example": example,
        }},
    }


PROBLEM_EXAMPLES = {
    401: "this endpoint needs the X-API-Key header",
    403: "'/etc' is outside the allowed source folders",
    404: "asset 42 not found",
    409: "no active model version: train one or pass --model",
    413: "request body above the limit of 10485760 bytes",
    415: "send application/json (text or vector) or multipart/form-data",
    422: "the request is not valid",
    500: "internal error; see the server log",
    503: "catalog: OperationalError: connection refused",
}
