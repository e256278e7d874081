"""Model versions: name a new one, register its checkpoint in the catalog, find it, list, activate.

The catalog is the source of truth; a checkpoint directory that is not registered can still be
loaded by naming it explicitly (it is looked up under ``settings.paths.models_dir``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from modalign.config import Settings
from modalign.encoders.checkpoint import CARD_FILE, ModelCard
from modalign.errors import CatalogError, NotFoundError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionInfo:
    """A registered model version, detached from the database session."""

    name: str
    dims: int
    checkpoint_path: str
    active: bool
    created_at: datetime
    metrics: dict[str, Any]


@contextmanager
def catalog_session(settings: Settings, migrate: bool = False) -> Iterator[Session]:
    """One catalog transaction (optionally bringing the schema up to date first)."""
    from modalign.catalog.db import make_engine, make_session_factory, session_scope

    if migrate:
        from modalign.catalog.migrate import upgrade

        upgrade(settings.database_url)
    engine = make_engine(settings.database_url, echo=settings.database.echo)
    try:
        with session_scope(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def register_checkpoint(settings: Settings, directory: Path, card: ModelCard) -> bool:
    """Register ``directory`` as model version ``card.name``; activate it if none is active.

    Returns whether it was activated.
    """
    from modalign.catalog import repo

    with catalog_session(settings, migrate=True) as session:
        first = repo.get_active_model_version(session=session) is None
        repo.register_model_version(
            session=session, name=card.name, dims=card.dim,
            checkpoint_path=settings.paths.to_stored(directory), card=card.to_dict(),
            metrics=card.metrics, activate=first,
        )
    return first


def _info(row: Any) -> VersionInfo:
    return VersionInfo(
        row.name, row.dims, row.checkpoint_path, row.active, row.created_at, dict(row.metrics)
    )


def list_versions(settings: Settings) -> list[VersionInfo]:
    """Every registered model version, oldest first."""
    from modalign.catalog import repo

    with catalog_session(settings) as session:
        return [_info(row) for row in repo.list_model_versions(session=session)]


def activate_version(settings: Settings, name: str) -> VersionInfo:
    """Make ``name`` the active model version."""
    from modalign.catalog import repo

    with catalog_session(settings) as session:
        return _info(repo.activate_model_version(session=session, ref=name))


def _lookup(settings: Settings, version: str | None) -> tuple[str, Path]:
    from modalign.catalog import repo

    with catalog_session(settings) as session:
        if version is None:
            row = repo.get_active_model_version(session=session)
            if row is None:
                raise NotFoundError("no active model version: run `modalign train` first")
        else:
            row = repo.get_model_version(session=session, ref=version)
        return row.name, _checkpoint_on_disk(settings, row.name, row.checkpoint_path)


def _checkpoint_on_disk(settings: Settings, name: str, stored: str) -> Path:
    """The checkpoint folder a catalog row names; an absolute path that no longer exists (a data
    directory registered by absolute path, then moved) falls back to ``<models>/<name>``."""
    path = settings.paths.from_stored(stored)
    local = settings.paths.models_dir / name
    if not path.exists() and (local / CARD_FILE).exists():
        log.info("model %s: %s is gone, using %s", name, path, local)
        return local
    return path


def checkpoint_dir(settings: Settings, version: str | None = None) -> tuple[str, Path]:
    """Name and checkpoint directory of ``version`` (default: the active version)."""
    try:
        return _lookup(settings, version)
    except (NotFoundError, CatalogError):
        local = settings.paths.models_dir / (version or "")
        if version and (local / CARD_FILE).exists():
            return version, local
        raise


def _version_numbers(models_dir: Path) -> list[int]:
    names = [p.name for p in models_dir.glob("v*") if p.is_dir()] if models_dir.exists() else []
    return sorted(int(n[1:]) for n in names if re.fullmatch(r"v\d+", n))


def choose_version(models_dir: Path) -> str:
    """The latest unfinished run (to resume it), else the next free ``v<N>``."""
    numbers = _version_numbers(models_dir)
    if numbers and not (models_dir / f"v{numbers[-1]}" / CARD_FILE).exists():
        return f"v{numbers[-1]}"
    return f"v{(numbers[-1] if numbers else 0) + 1}"
