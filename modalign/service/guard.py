"""Key checks before any work: the route class every keyed router uses.

FastAPI reads and parses a route's body before it solves the route's dependencies, so a key
dependency alone would let a caller without the key make the service read (and validate) a body.
:class:`GuardedRoute` runs the route's key dependency (write or read, found among its
dependencies) on the bare request first; the body is read only once the key is accepted. The
dependency still runs in its usual place, so handlers get the caller as before.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from modalign.config import Settings
from modalign.service.auth import API_KEY_HEADER, Access, authorize
from modalign.service.deps import require_api_key, require_read_key

ACCESS_OF_DEPENDENCY: dict[Callable[..., Any], Access] = {
    require_api_key: Access.WRITE,
    require_read_key: Access.READ,
}


class GuardedRoute(APIRoute):
    """An APIRoute that checks X-API-Key before FastAPI reads the request body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        access = route_access(self.dependant)
        if access is None:
            return handler

        async def guarded(request: Request) -> Response:
            settings: Settings = request.app.state.settings
            authorize(settings.service, access, request.headers.get(API_KEY_HEADER))
            return await handler(request)

        return guarded


def route_access(dependant: Dependant) -> Access | None:
    """The strongest key a route's dependency tree asks for (None: an open route)."""
    found = {ACCESS_OF_DEPENDENCY.get(sub.call) for sub in _walk(dependant) if sub.call}
    if Access.WRITE in found:
        return Access.WRITE
    return Access.READ if Access.READ in found else None


def _walk(dependant: Dependant) -> list[Dependant]:
    subs = list(dependant.dependencies)
    return [*subs, *(inner for sub in subs for inner in _walk(sub))]
