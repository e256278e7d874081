"""Migrations: up, down, up on both dialects; no drift; the quick no-op; drift is detected."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from modalign.catalog import db, migrate
from modalign.catalog.models import Base
from modalign.errors import CatalogError

TABLES = {table.name for table in Base.metadata.sorted_tables}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with nothing in it, owned by this test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nested' / 'catalog.db'}"
        return
    yield str(request.getfixturevalue("empty_postgres_url"))


def table_names(url: str) -> set[str]:
    engine = db.make_engine(url)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(empty_url: str) -> None:
    assert migrate.current(empty_url) is None
    migrate.upgrade(empty_url)
    assert migrate.current(empty_url) == ",".join(migrate.heads())
    assert table_names(empty_url) >= TABLES
    migrate.check(empty_url)

    migrate.downgrade(empty_url, "base")
    assert migrate.current(empty_url) is None
    assert table_names(empty_url) & TABLES == set()

    migrate.upgrade(empty_url)
    assert table_names(empty_url) >= TABLES
    migrate.check(empty_url)


def test_upgrade_at_head_is_a_no_op(sqlite_url: str) -> None:
    before = migrate.current(sqlite_url)
    migrate.upgrade(sqlite_url)
    migrate.upgrade(sqlite_url)
    assert migrate.current(sqlite_url) == before == ",".join(migrate.heads())


def test_check_detects_drift(sqlite_url: str) -> None:
    engine = db.make_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE assets ADD COLUMN stray INTEGER"))
    engine.dispose()
    with pytest.raises(CatalogError, match="drift"):
        migrate.check(sqlite_url)


def test_check_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="not up to date"):
        migrate.check(f"sqlite:///{tmp_path / 'empty.db'}")


def test_alembic_ini_is_found_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'c.db'}"
    migrate.upgrade(url)
    assert migrate.current(url) == ",".join(migrate.heads())


def test_current_does_not_create_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.db"
    assert migrate.current(f"sqlite:///{path}") is None
    assert not path.exists()


def test_existing_assets_get_a_membership_when_upgraded(empty_url: str) -> None:
    migrate.upgrade(empty_url, "0001_initial")
    engine = db.make_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO assets (content_hash, uri, width, height, mime, size_bytes, source,"
                " dataset, split, tags, created_at) VALUES ('ab', '/x/a.png', 8, 8, 'image/png',"
                " 10, 'folder', 'old', NULL, '[\"t\"]', '2026-01-01 00:00:00')"
            ))
        migrate.upgrade(empty_url)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT dataset, uri, uri_hash, tags FROM asset_members")
            ).all()
    finally:
        engine.dispose()
    [(dataset, uri, digest, tags)] = rows
    assert (dataset, uri) == ("old", "/x/a.png") and len(digest) == 64
    assert "t" in str(tags)


def test_the_revision_check_reads_past_a_held_write_lock(sqlite_url: str) -> None:
    engine = db.make_engine(sqlite_url)
    try:
        with engine.begin() as writer:  # BEGIN IMMEDIATE: the write lock, held meanwhile
            writer.execute(text("UPDATE alembic_version SET version_num = version_num"))
            assert migrate.current(sqlite_url) == ",".join(migrate.heads())
            migrate.upgrade(sqlite_url)  # at head: a read, done at once
    finally:
        engine.dispose()


def test_near_duplicates_come_and_go_with_their_revision(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    assert "near_duplicates" in table_names(empty_url)
    migrate.downgrade(empty_url, "0003_job_leases")
    assert "near_duplicates" not in table_names(empty_url)
    assert table_names(empty_url) >= TABLES - {"near_duplicates"}
    migrate.upgrade(empty_url)
    assert "near_duplicates" in table_names(empty_url)
    migrate.check(empty_url)
