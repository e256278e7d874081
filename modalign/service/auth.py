"""API-key check for write endpoints (``X-API-Key``), active only when a key is configured."""

from __future__ import annotations

import secrets

from fastapi.security import APIKeyHeader

from modalign.service.problems import ProblemError

API_KEY_HEADER = "X-API-Key"

# auto_error=False: a missing header is our 401 problem, not FastAPI's 403.
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False,
    description="Needed by write endpoints when the service is configured with an API key.",
)


def check_api_key(expected: str | None, given: str | None) -> None:
    """Raise a 401 problem unless no key is configured or ``given`` matches it."""
    if expected is None:
        return
    if given is None:
        raise ProblemError(401, f"this endpoint needs the {API_KEY_HEADER} header",
                           headers={"WWW-Authenticate": API_KEY_HEADER})
    if not secrets.compare_digest(given.encode(), expected.encode()):
        raise ProblemError(401, f"wrong {API_KEY_HEADER}",
                           headers={"WWW-Authenticate": API_KEY_HEADER})
