"""FastAPI dependencies as ``Annotated`` aliases: the state, a catalog session, the API key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from sqlalchemy.orm import Session

from modalign.catalog.db import session_scope
from modalign.config import Settings
from modalign.errors import TransientError
from modalign.service.auth import api_key_scheme, check_api_key
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
) -> None:
    """401 unless the configured API key (if any) was sent in X-API-Key."""
    check_api_key(settings.service.api_key, given)


ApiKeyDep = Depends(require_api_key)
