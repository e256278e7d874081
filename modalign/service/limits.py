"""Request body caps, enforced while the body streams in, for every endpoint.

:class:`BodyLimitMiddleware` wraps the ASGI ``receive`` channel: a declared ``Content-Length``
above the cap is refused the first time the app asks for the body, and a chunked or lying body is
cut off as soon as the bytes received pass the cap, so no more than the cap (plus one chunk) is
ever read. An app that never asks for the body (a 401, a 404) never reads any of it. The refusal
is a 413 problem. The search routes take query uploads and large filters; everything else takes
small JSON documents.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modalign.config import ServiceSettings
from modalign.service.problems import problem_response

DEFAULT_BODY_BYTES = 64 * 1024
MAX_JSON_BYTES = 1024 * 1024  # a search's JSON body (a vector of 4,096 floats, a large filter)
MULTIPART_OVERHEAD = 64 * 1024  # form fields and part headers around an uploaded file
SEARCH_PREFIX = "/v1/search/"


def body_cap(settings: ServiceSettings, path: str) -> int:
    """The most bytes a request to ``path`` may send."""
    if path.startswith(SEARCH_PREFIX):
        return max(MAX_JSON_BYTES, settings.max_upload_bytes + MULTIPART_OVERHEAD)
    return DEFAULT_BODY_BYTES


class BodyTooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so FastAPI's body parsing passes it through."""

    def __init__(self, cap: int) -> None:
        super().__init__(413, f"request body above the limit of {cap} bytes")


class BodyLimitMiddleware:
    """Pure ASGI middleware capping each request's body at ``cap_of(path)`` bytes."""

    def __init__(self, app: ASGIApp, cap_of: Callable[[str], int]) -> None:
        self.app = app
        self.cap_of = cap_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.cap_of(scope["path"])
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            declared = declared_length(Headers(scope=scope))
            await self.app(scope, capped(receive, cap, declared), tracking_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await problem_response(Request(scope), 413, exc.detail)(scope, receive, send)


def capped(receive: Receive, cap: int, declared: int | None) -> Receive:
    """``receive`` raising BodyTooLarge once the body is known to pass ``cap`` bytes."""
    received = 0

    async def capped_receive() -> Message:
        nonlocal received
        if declared is not None and declared > cap:
            raise BodyTooLarge(cap)
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > cap:
                raise BodyTooLarge(cap)
        return message

    return capped_receive


def declared_length(headers: Headers) -> int | None:
    """The Content-Length, if it is a number (absurdly long ones are read as 10**18)."""
    value = headers.get("content-length")
    if value is None or not value.isdigit():
        return None
    return int(value) if len(value) < 19 else 10**18
