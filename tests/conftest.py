"""Database fixtures shared by every test package.

- ``sqlite_url``: a SQLite file in the test's tmp dir, at head (copied from one migrated template).
- ``postgres_url``: one fresh PostgreSQL database per test session on 127.0.0.1:5432, built by the
  migrations and dropped at the end; it is shared, so use ``catalog_url`` to get it emptied first.
- ``catalog_url``: parametrized over ("sqlite", "postgres"), an empty catalog at head.
- ``catalog_engine`` / ``session_factory``: built from ``catalog_url``; use ``db.session_scope``.
- ``empty_postgres_url``: a PostgreSQL database of the test's own, empty (no migrations run).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import db, migrate
from modalign.catalog.models import Base

PG_SERVER = "postgres@127.0.0.1:5432"
PG_ADMIN_DSN = f"postgresql://{PG_SERVER}/postgres"


def postgres_url_for(name: str) -> str:
    return f"postgresql+psycopg://{PG_SERVER}/{name}"


def _admin(sql: str) -> None:
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is needed on {PG_SERVER} (run .ci/run to start it): {error}")


@contextmanager
def fresh_postgres_database(prefix: str = "modalign_test") -> Iterator[str]:
    """Create an empty database with a unique name; drop it (forcibly) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url_for(name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    with fresh_postgres_database("modalign_empty") as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("catalog-template") / "catalog.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    path = tmp_path / "catalog.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


def empty_catalog(url: str) -> None:
    """Delete every row (keeping the schema and alembic_version); restart the id sequences."""
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    engine = db.make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    url = str(request.getfixturevalue("postgres_url"))
    empty_catalog(url)
    return url


@pytest.fixture
def catalog_engine(catalog_url: str) -> Iterator[Engine]:
    engine = db.make_engine(catalog_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(catalog_engine: Engine) -> sessionmaker[Session]:
    return db.make_session_factory(catalog_engine)
