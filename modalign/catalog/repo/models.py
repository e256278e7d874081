"""Model versions: register, look up, and switch the single active one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from modalign.catalog.models import ModelVersion
from modalign.errors import InvalidInputError, NotFoundError


def register_model_version(
    *,
    session: Session,
    name: str,
    dims: int,
    checkpoint_path: str,
    card: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    activate: bool = False,
) -> ModelVersion:
    """Add a model version; InvalidInputError if the name is taken."""
    if session.scalar(select(ModelVersion.id).where(ModelVersion.name == name)) is not None:
        raise InvalidInputError(f"model version {name!r} already exists")
    version = ModelVersion(
        name=name, dims=dims, checkpoint_path=checkpoint_path,
        card=dict(card or {}), metrics=dict(metrics or {}), active=False,
    )
    session.add(version)
    session.flush()
    if activate:
        return activate_model_version(session=session, ref=version.id)
    return version


def list_model_versions(*, session: Session) -> list[ModelVersion]:
    """Every model version, oldest first."""
    stmt = select(ModelVersion).order_by(ModelVersion.created_at, ModelVersion.id)
    return list(session.scalars(stmt))


def get_model_version(*, session: Session, ref: int | str) -> ModelVersion:
    """The model version with this id (int) or name (str); NotFoundError if none."""
    column = ModelVersion.id if isinstance(ref, int) else ModelVersion.name
    version = session.scalars(select(ModelVersion).where(column == ref)).one_or_none()
    if version is None:
        raise NotFoundError(f"model version {ref!r} not found")
    return version


def get_active_model_version(*, session: Session) -> ModelVersion | None:
    """The active model version, or None when none is active."""
    return session.scalars(select(ModelVersion).where(ModelVersion.active)).one_or_none()


def activate_model_version(*, session: Session, ref: int | str) -> ModelVersion:
    """Make this version the only active one, in the session's transaction.

    All model-version rows are locked first (PostgreSQL ``FOR UPDATE``; SQLite transactions are
    already exclusive), so concurrent activations run one after the other instead of colliding.
    """
    session.execute(select(ModelVersion.id).with_for_update()).all()
    version = get_model_version(session=session, ref=ref)
    others = ModelVersion.active.is_(True) & (ModelVersion.id != version.id)
    session.execute(update(ModelVersion).where(others).values(active=False))
    session.execute(
        update(ModelVersion).where(ModelVersion.id == version.id).values(active=True)
    )
    return version


def set_model_metrics(
    *, session: Session, ref: int | str, metrics: Mapping[str, Any]
) -> ModelVersion:
    """Merge ``metrics`` into the version's stored metrics (e.g. after an evaluation)."""
    version = get_model_version(session=session, ref=ref)
    version.metrics = {**version.metrics, **metrics}
    session.flush()
    return version
