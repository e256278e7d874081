"""Readiness checks: is each dependency of the service answering right now?"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import text

from modalign.catalog.db import session_scope
from modalign.service.schemas import CheckView, Readiness
from modalign.service.state import ServiceState

log = logging.getLogger(__name__)


def readiness(state: ServiceState) -> Readiness:
    """Database, store, broker (when jobs go to Celery) and query encoder."""
    checks = {
        "database": _check(lambda: _database(state)),
        "store": _check(lambda: _store(state)),
        "broker": _check(lambda: _broker(state)),
        "encoder": _check(lambda: _encoder(state)),
    }
    ok = all(c.ok for name, c in checks.items() if name != "encoder")
    return Readiness(status="ok" if ok else "unavailable", checks=checks)


def _check(probe: Callable[[], str]) -> CheckView:
    try:
        return CheckView(ok=True, detail=probe())
    except Exception as exc:
        log.warning("readiness check failed: %s", exc)
        return CheckView(ok=False, detail=f"{type(exc).__name__}: {exc}")


def _database(state: ServiceState) -> str:
    with session_scope(state.readers) as session:
        session.execute(text("SELECT 1"))
    return state.engine.dialect.name


def _store(state: ServiceState) -> str:
    versions = state.store.versions()
    return f"{len(versions)} model version(s), active {state.store.active_version()}"


def _broker(state: ServiceState) -> str:
    if state.broker is None:
        return "not used (jobs run in-process)"
    state.broker.ping()
    return "redis answered"


def _encoder(state: ServiceState) -> str:
    version = state.encoder.version
    return f"model {version}" if version else "none loaded (only vector queries work)"
