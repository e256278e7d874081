"""Engines, sessions and error wrapping at the database boundary."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import exc, select, text
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import db, repo
from modalign.catalog.models import Asset
from modalign.errors import CatalogError, TransientError

from .helpers import make_asset


def test_sqlite_engine_pragmas(sqlite_url: str) -> None:
    engine = db.make_engine(sqlite_url)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    engine.dispose()


def test_sqlite_engine_creates_the_parent_directory(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'c.db'}")
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    engine.dispose()
    assert (tmp_path / "a" / "b" / "c.db").exists()


def test_session_scope_commits(session_factory: sessionmaker[Session]) -> None:
    with db.session_scope(session_factory) as session:
        make_asset(session, "kept")
    with db.session_scope(session_factory) as session:
        assert session.scalar(select(Asset.uri)) == "file:///images/kept.png"


def test_session_scope_rolls_back_on_any_error(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(RuntimeError), db.session_scope(session_factory) as session:
        make_asset(session, "lost")
        raise RuntimeError("boom")
    with db.session_scope(session_factory) as session:
        assert session.scalars(select(Asset)).all() == []


def test_integrity_error_becomes_catalog_error(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(CatalogError) as caught, db.session_scope(session_factory) as session:
        session.add(Asset(content_hash="x" * 64, uri="u", width=1, height=1, mime="m",
                          size_bytes=1, source="s", dataset="d"))
        session.add(Asset(content_hash="x" * 64, uri="v", width=1, height=1, mime="m",
                          size_bytes=1, source="s", dataset="d"))
    assert not isinstance(caught.value, TransientError)
    assert "IntegrityError" in str(caught.value)


def test_sql_mistake_is_not_transient(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(CatalogError) as caught, db.session_scope(session_factory) as session:
        session.execute(text("SELECT * FROM no_such_table"))
    assert not isinstance(caught.value, TransientError)


def test_unreachable_postgres_is_transient() -> None:
    factory = db.make_session_factory(db.make_engine("postgresql+psycopg://postgres@127.0.0.1:1/x"))
    with pytest.raises(TransientError), db.session_scope(factory) as session:
        session.execute(text("SELECT 1"))


def test_sqlite_lock_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError) as raised:
        other.execute("BEGIN IMMEDIATE")
    holder.close()
    other.close()
    wrapped = db.wrap_db_error(exc.OperationalError("BEGIN IMMEDIATE", {}, raised.value))
    assert isinstance(wrapped, TransientError)


def test_datetimes_are_aware_utc(session_factory: sessionmaker[Session]) -> None:
    with db.session_scope(session_factory) as session:
        asset = make_asset(session, "clock")
        paris = timezone(timedelta(hours=1))
        asset.created_at = datetime(2026, 1, 2, 13, 0, tzinfo=paris)
    with db.session_scope(session_factory) as session:
        stored = repo.get_asset(session=session, asset_id=asset.id).created_at
    assert stored == datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    assert stored.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(CatalogError), db.session_scope(session_factory) as session:
        asset = make_asset(session, "naive")
        asset.created_at = datetime(2026, 1, 2, 12, 0)
        session.flush()


def test_read_only_sessions_do_not_wait_for_a_writer(sqlite_url: str) -> None:
    engine = db.make_engine(sqlite_url)
    writer = db.make_session_factory(engine)
    reader = db.make_session_factory(engine, read_only=True)
    with db.session_scope(writer) as session:
        make_asset(session, "committed")
    with db.session_scope(writer) as writing:
        make_asset(writing, "uncommitted")  # holds SQLite's write lock until the block ends
        with db.session_scope(reader) as reading:  # would wait 30 s, then fail, if it queued
            uris = reading.scalars(select(Asset.uri)).all()
    engine.dispose()
    assert uris == ["file:///images/committed.png"]


def test_read_only_sessions_read_on_postgres_too(postgres_url: str) -> None:
    engine = db.make_engine(postgres_url)
    with db.session_scope(db.make_session_factory(engine, read_only=True)) as session:
        assert session.scalar(text("SELECT 1")) == 1
    engine.dispose()
