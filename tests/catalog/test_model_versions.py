"""Model versions: registration, lookup, and the single active version."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import db, repo
from modalign.catalog.models import ModelVersion
from modalign.errors import CatalogError, InvalidInputError, NotFoundError


def register(session: Session, name: str, activate: bool = False) -> ModelVersion:
    return repo.register_model_version(
        session=session, name=name, dims=256, checkpoint_path=f"/models/{name}",
        card={"towers": ["minilm", "effnet"]}, metrics={"r@1": 0.1}, activate=activate,
    )


def active_names(factory: sessionmaker[Session]) -> list[str]:
    with db.session_scope(factory) as session:
        return [v.name for v in repo.list_model_versions(session=session) if v.active]


def test_register_and_look_up(session_factory: sessionmaker[Session]) -> None:
    with db.session_scope(session_factory) as session:
        first = register(session, "v1")
        register(session, "v2")
    with db.session_scope(session_factory) as session:
        by_name = repo.get_model_version(session=session, ref="v1")
        by_id = repo.get_model_version(session=session, ref=first.id)
        listed = [v.name for v in repo.list_model_versions(session=session)]
        assert repo.get_active_model_version(session=session) is None
        with pytest.raises(NotFoundError):
            repo.get_model_version(session=session, ref="nope")
    assert by_name.id == by_id.id == first.id
    assert by_name.card == {"towers": ["minilm", "effnet"]}
    assert listed == ["v1", "v2"]


def test_duplicate_name_is_refused(session_factory: sessionmaker[Session]) -> None:
    with db.session_scope(session_factory) as session:
        register(session, "v1")
    with pytest.raises(InvalidInputError), db.session_scope(session_factory) as session:
        register(session, "v1")


def test_activate_switches_the_single_active_version(
    session_factory: sessionmaker[Session],
) -> None:
    with db.session_scope(session_factory) as session:
        register(session, "v1", activate=True)
        register(session, "v2")
        register(session, "v3")
    assert active_names(session_factory) == ["v1"]
    with db.session_scope(session_factory) as session:
        returned = repo.activate_model_version(session=session, ref="v3")
        assert returned.active
    assert active_names(session_factory) == ["v3"]
    with db.session_scope(session_factory) as session:
        repo.activate_model_version(session=session, ref="v3")
    assert active_names(session_factory) == ["v3"]
    with db.session_scope(session_factory) as session:
        active = repo.get_active_model_version(session=session)
    assert active is not None and active.name == "v3"


def test_activating_an_unknown_version_changes_nothing(
    session_factory: sessionmaker[Session],
) -> None:
    with db.session_scope(session_factory) as session:
        register(session, "v1", activate=True)
    with pytest.raises(NotFoundError), db.session_scope(session_factory) as session:
        repo.activate_model_version(session=session, ref="missing")
    assert active_names(session_factory) == ["v1"]


def test_database_refuses_two_active_versions(session_factory: sessionmaker[Session]) -> None:
    with db.session_scope(session_factory) as session:
        register(session, "v1", activate=True)
        register(session, "v2")
    with pytest.raises(CatalogError, match="IntegrityError"), db.session_scope(
        session_factory
    ) as session:
        session.execute(update(ModelVersion).where(ModelVersion.name == "v2").values(active=True))
    assert active_names(session_factory) == ["v1"]


def test_set_model_metrics_merges(session_factory: sessionmaker[Session]) -> None:
    with db.session_scope(session_factory) as session:
        register(session, "v1")
    with db.session_scope(session_factory) as session:
        repo.set_model_metrics(session=session, ref="v1", metrics={"r@5": 0.4})
    with db.session_scope(session_factory) as session:
        assert repo.get_model_version(session=session, ref="v1").metrics == {"r@1": 0.1, "r@5": 0.4}
