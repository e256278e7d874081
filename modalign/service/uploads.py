"""Query uploads: the request body read under a byte cap, the image decoded under a pixel cap.

The cap is enforced while streaming (a lying or missing Content-Length cannot get more bytes in),
and the image goes through the same validating decoder ingestion uses, so a decompression bomb or
a non-image is a 413/422 problem, never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import Message

from modalign.config import Settings
from modalign.errors import InvalidInputError
from modalign.images import decode_bytes
from modalign.service.limits import MULTIPART_OVERHEAD, declared_length
from modalign.service.problems import ProblemError

MAX_FORM_FIELDS = 16


@dataclass(frozen=True)
class Upload:
    """An uploaded query: the decoded RGB image and the other form fields (as strings)."""

    image: Image.Image
    fields: Mapping[str, str]


async def read_capped_body(request: Request, cap: int) -> bytes:
    """The whole request body, or a 413 problem as soon as it exceeds ``cap`` bytes."""
    declared = declared_length(request.headers)
    if declared is not None and declared > cap:
        raise _too_large(cap)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise _too_large(cap)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(cap: int) -> ProblemError:
    return ProblemError(413, f"request body above the limit of {cap} bytes")


def replay(request: Request, body: bytes) -> Request:
    """A new Request over the same scope whose body is ``body`` (already read)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


async def read_upload(request: Request, settings: Settings) -> Upload:
    """Parse a multipart query: one ``file`` part plus plain fields."""
    cap = settings.service.max_upload_bytes
    body = await read_capped_body(request, cap + MULTIPART_OVERHEAD)
    form = await _parse_form(replay(request, body), cap)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise InvalidInputError("multipart body needs a 'file' part holding the image")
    data = await upload.read()
    if len(data) > cap:
        raise _too_large(cap)
    fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    return Upload(decode_query_image(data, settings), fields)


async def _parse_form(request: Request, cap: int) -> Any:
    try:
        return await request.form(
            max_files=1, max_fields=MAX_FORM_FIELDS, max_part_size=cap
        )
    except Exception as exc:  # starlette raises HTTPException/MultiPartException variants
        raise InvalidInputError(f"malformed multipart body: {exc}") from exc


def decode_query_image(data: bytes, settings: Settings) -> Image.Image:
    """Decode uploaded bytes under the upload byte cap and the ingest pixel cap."""
    if not data:
        raise InvalidInputError("the uploaded file is empty")
    limits = settings.ingest.model_copy(
        update={"max_image_bytes": settings.service.max_upload_bytes}
    )
    try:
        return decode_bytes(data, limits).image
    except InvalidInputError as exc:
        if "above the limit" in str(exc) or str(exc).startswith("decompression bomb"):
            raise ProblemError(413, str(exc)) from exc
        raise
