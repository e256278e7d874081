"""FastAPI dependencies as ``Annotated`` aliases: the state, a catalog session, the API keys and
the view of host paths they give."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from sqlalchemy.orm import Session

from modalign.catalog.db import session_scope
from modalign.config import Settings
from modalign.errors import TransientError
from modalign.service.auth import Access, Caller, api_key_scheme, authorize, read_key_scheme
from modalign.service.redact import PathView
from modalign.service.state import ServiceState


def get_state(request: Request) -> ServiceState:
    """The state the lifespan opened (503 while the service is starting or stopping)."""
    state = getattr(request.app.state, "modalign", None)
    if not isinstance(state, ServiceState):
        raise TransientError("the service is not ready")
    return state


StateDep = Annotated[ServiceState, Depends(get_state)]


def get_settings(request: Request) -> Settings:
    settings = request.app.state.settings
    assert isinstance(settings, Settings)
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(state: StateDep) -> Iterator[Session]:
    """One read-only catalog transaction per request (reads never queue behind writers)."""
    with session_scope(state.readers) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def require_api_key(
    settings: SettingsDep, given: Annotated[str | None, Security(api_key_scheme)]
) -> Caller:
    """401 unless the write key (if one is configured) was sent in X-API-Key."""
    return authorize(settings.service, Access.WRITE, given)


def require_read_key(
    settings: SettingsDep, given: Annotated[str | None, Security(read_key_scheme)]
) -> Caller:
    """401 unless the read or the write key (if a read key is configured) was sent."""
    return authorize(settings.service, Access.READ, given)


ApiKeyDep = Depends(require_api_key)
ReadKeyDep = Depends(require_read_key)
ReadCaller = Annotated[Caller, Depends(require_read_key)]


def path_view(settings: SettingsDep, caller: ReadCaller) -> PathView:
    """How host paths are shown to this caller (hidden from read-key callers)."""
    return PathView.for_caller(settings, caller)


PathViewDep = Annotated[PathView, Depends(path_view)]
