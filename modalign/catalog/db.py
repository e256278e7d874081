"""Engine and session factories, and the one place SQLAlchemy errors become modalign errors.

SQLite engines run in WAL mode with foreign keys on and a busy timeout, and open every transaction
with ``BEGIN IMMEDIATE``: a transaction that reads and then writes can then never fail half-way with
"database is locked" when several worker processes share the file. PostgreSQL engines check pooled
connections before use. Engines are not fork-safe: a process that forks (Celery prefork) must build
its own engine in the child, or call ``engine.dispose(close=False)`` there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

from modalign.disk import disk_full_error, is_disk_full
from modalign.errors import CatalogError, DiskFullError, ModalignError, TransientError

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY_OPTION = "modalign_read_only"
SQLITE_TRANSIENT_CODES = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_PROTOCOL")


def make_engine(url: str, *, echo: bool = False, foreign_keys: bool = True) -> Engine:
    """An engine for ``url`` tuned for its dialect (``foreign_keys`` only matters for SQLite)."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise CatalogError(f"bad database URL: {error}") from error
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return _sqlite_engine(url, echo=echo, foreign_keys=foreign_keys)
    return create_engine(url, echo=echo, pool_pre_ping=True)


def _sqlite_engine(url: str, *, echo: bool, foreign_keys: bool) -> Engine:
    engine = create_engine(
        url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (no expire-on-commit).

    ``read_only`` sessions (search hydration, status pages) open plain deferred transactions on
    SQLite, so they read a snapshot without queueing behind ingestion's write transactions; they
    must not write (a write could then fail with "database is locked").
    """
    bind = engine.execution_options(**{READ_ONLY_OPTION: True}) if read_only else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


def is_transient(error: exc.SQLAlchemyError) -> bool:
    """Whether retrying may succeed: lost connections, pool timeouts, locks, deadlocks.

    PostgreSQL (psycopg) raises OperationalError only for such conditions (deadlocks and
    serialization failures included); SQLite also uses it for "no such table" and syntax errors,
    so there only busy/locked/I-O result codes count.
    """
    if isinstance(error, exc.DisconnectionError | exc.TimeoutError):
        return True
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    if not isinstance(error, exc.OperationalError):
        return False
    code = getattr(error.orig, "sqlite_errorname", None)
    return code is None or str(code).startswith(SQLITE_TRANSIENT_CODES)


def wrap_db_error(error: exc.SQLAlchemyError, url: object = None) -> ModalignError:
    """Map a SQLAlchemy error to DiskFullError (naming the disk of a SQLite ``url``),
    TransientError (retry may help) or CatalogError."""
    message = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    if is_disk_full(error):
        return _disk_full(url, message)
    kind: type[ModalignError] = TransientError if is_transient(error) else CatalogError
    return kind(f"catalog: {type(error).__name__}: {message}")


def _disk_full(url: object, message: str) -> DiskFullError:
    parsed = make_url(str(url)) if url is not None else None
    if parsed is not None and parsed.get_backend_name() == "sqlite" and parsed.database:
        return disk_full_error(Path(parsed.database), f"writing the catalog ({message})")
    return DiskFullError(f"catalog: the database server's disk is full: {message}")


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on error, SQLAlchemy errors wrapped."""
    session = factory()
    try:
        yield session
        session.commit()
    except exc.SQLAlchemyError as error:
        _rollback_quietly(session)
        raise wrap_db_error(error, getattr(factory.kw.get("bind"), "url", None)) from error
    except BaseException:
        _rollback_quietly(session)
        raise
    finally:
        session.close()


def _rollback_quietly(session: Session) -> None:
    """Roll back; a lost connection must not hide the error that caused the rollback."""
    try:
        session.rollback()
    except exc.SQLAlchemyError:
        log.warning("rollback failed after a catalog error", exc_info=True)
