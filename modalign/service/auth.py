"""API keys (``X-API-Key``): a write key for write endpoints, an optional read key for reads.

With no key configured everything is open. ``service.api_key`` guards the write endpoints;
``service.read_api_key`` (which needs a write key beside it) guards search, assets, jobs, models and
the dashboard JSON, which then take either key. A caller holding only the read key is a
:attr:`Caller.READER`: it sees no host paths (see :mod:`modalign.service.redact`).
"""

from __future__ import annotations

import secrets
from enum import Enum

from fastapi.security import APIKeyHeader

from modalign.config import ServiceSettings
from modalign.service.problems import ProblemError

API_KEY_HEADER = "X-API-Key"


class Access(Enum):
    """What an endpoint does, hence which key it needs."""

    READ = "read"
    WRITE = "write"


class Caller(Enum):
    """Who is calling, as far as what they may see goes."""

    FULL = "full"  # the write key, or a deployment with no read key: sees everything
    READER = "reader"  # the read key only: host paths hidden


# auto_error=False: a missing header is our 401 problem, not FastAPI's 403. Two schemes on the same
# header, so the OpenAPI document says which endpoints take which key.
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, scheme_name="APIKeyHeader",
    description="The write key (service.api_key), needed by write endpoints when configured.",
)
read_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, scheme_name="ReadKeyHeader",
    description="The read key (service.read_api_key) or the write key, needed by read "
    "endpoints when a read key is configured.",
)


def authorize(settings: ServiceSettings, access: Access, given: str | None) -> Caller:
    """The caller ``given`` makes for an endpoint of ``access``, or a 401 problem."""
    if settings.api_key is not None and _same(given, settings.api_key):
        return Caller.FULL
    if access is Access.WRITE:
        if settings.api_key is None:
            return Caller.FULL
    elif settings.read_api_key is None:
        return Caller.FULL
    elif _same(given, settings.read_api_key):
        return Caller.READER
    raise _unauthorized(given)


def _same(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())


def _unauthorized(given: str | None) -> ProblemError:
    detail = (f"this endpoint needs the {API_KEY_HEADER} header" if given is None
              else f"wrong {API_KEY_HEADER}")
    return ProblemError(401, detail, headers={"WWW-Authenticate": API_KEY_HEADER})
