"""The catalog's part of a backup: a consistent copy out, the copy back in, and its facts.

SQLite is copied with its online backup API (``sqlite3.Connection.backup``): one read
transaction, consistent while other connections write (WAL readers do not block writers). The
copy is switched out of WAL mode so it is one self-contained file. PostgreSQL goes through
:mod:`modalign.backup.postgres`. The facts (Alembic revision, rows per table, model versions) are
read from the copy itself (SQLite) or from the transaction whose snapshot was dumped (PostgreSQL).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, create_engine, func, inspect, select, text
from sqlalchemy.engine import make_url

from modalign.backup import postgres
from modalign.backup.manifest import PG_DUMP_FILE, SQLITE_FILE, CatalogPart
from modalign.catalog import migrate
from modalign.catalog.db import make_engine
from modalign.catalog.models import Base, ModelVersion
from modalign.errors import CatalogError, InvalidInputError
from modalign.filecopy import copy_file


@dataclass(frozen=True)
class ModelRow:
    """A model version as the catalog copy records it."""

    name: str
    checkpoint_path: str
    active: bool


@dataclass(frozen=True)
class CatalogCopy:
    """What backing the catalog up recorded."""

    part: CatalogPart
    models: list[ModelRow]


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite catalog URL (None for PostgreSQL)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise InvalidInputError("an in-memory SQLite catalog cannot be backed up or restored")
    return Path(parsed.database)


def check_catalog_exists(url: str) -> None:
    """InvalidInputError if ``url`` names a SQLite file that does not exist."""
    path = sqlite_file(url)
    if path is not None and not path.is_file():
        raise InvalidInputError(f"there is no catalog at {path} to back up")


def backup_catalog(url: str, folder: Path) -> CatalogCopy:
    """Copy the catalog of ``url`` into ``folder`` (``catalog.db`` or ``catalog.pgdump``)."""
    path = sqlite_file(url)
    if path is None:
        return _dump_postgres(url, folder / PG_DUMP_FILE)
    return _copy_sqlite(path, folder / SQLITE_FILE)


def _copy_sqlite(path: Path, dest: Path) -> CatalogCopy:
    source, target = sqlite3.connect(path), sqlite3.connect(dest)
    try:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise CatalogError(f"catalog backup failed: {exc}") from exc
    finally:
        target.close()
        source.close()
    engine = create_engine(f"sqlite:///{dest}")  # no WAL switch: the copy stays one file
    try:
        with engine.connect() as connection:
            part, models = _facts(connection, "sqlite", SQLITE_FILE)
    finally:
        engine.dispose()
    return CatalogCopy(part, models)


def _dump_postgres(url: str, dest: Path) -> CatalogCopy:
    engine = make_engine(url)
    try:
        repeatable = engine.execution_options(isolation_level="REPEATABLE READ")
        with repeatable.connect() as connection, connection.begin():
            snapshot = connection.scalar(text("SELECT pg_export_snapshot()"))
            part, models = _facts(connection, "postgresql", PG_DUMP_FILE)
            postgres.dump(url, dest, snapshot=str(snapshot))
    finally:
        engine.dispose()
    return CatalogCopy(part, models)


def _facts(
    connection: Connection, dialect: Literal["sqlite", "postgresql"], file: str
) -> tuple[CatalogPart, list[ModelRow]]:
    rows = table_rows(connection)
    query = select(ModelVersion.name, ModelVersion.checkpoint_path, ModelVersion.active)
    models = [ModelRow(n, c, bool(a)) for n, c, a in connection.execute(query)]
    part = CatalogPart(dialect=dialect, file=file, revision=_revision(connection), rows=rows)
    return part, models


def table_rows(connection: Connection) -> dict[str, int]:
    """Rows of every catalog table the database has."""
    present = set(inspect(connection).get_table_names())
    return {
        table.name: int(connection.scalar(select(func.count()).select_from(table)) or 0)
        for table in Base.metadata.sorted_tables if table.name in present
    }


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table(migrate.VERSION_TABLE):
        return None
    found = connection.scalars(text(f"SELECT version_num FROM {migrate.VERSION_TABLE}"))
    return ",".join(sorted(found)) or None


def check_revision_known(revision: str | None) -> None:
    """InvalidInputError if this modalign's migrations do not know ``revision``."""
    scripts = ScriptDirectory.from_config(migrate.alembic_config(""))
    for rev in (revision or "").split(","):
        try:
            known = not rev or scripts.get_revision(rev) is not None
        except CommandError:
            known = False
        if not known:
            raise InvalidInputError(
                f"the backup's catalog is at revision {rev!r}, which this modalign does not know "
                "(was it made by a newer version?)"
            )


def check_catalog_empty(url: str) -> None:
    """InvalidInputError unless the catalog of ``url`` holds no table (or its file is missing)."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return
    tables = _tables(url)
    if tables:
        raise InvalidInputError(
            f"the catalog database already has tables ({', '.join(sorted(tables)[:5])}); "
            "restore into an empty one"
        )


def _tables(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return list(inspect(connection).get_table_names())
    finally:
        engine.dispose()


def restore_catalog(url: str, folder: Path, part: CatalogPart) -> None:
    """Bring the catalog copy of the backup in ``folder`` into the empty catalog of ``url``."""
    path = sqlite_file(url)
    if path is None:
        postgres.restore(url, folder / part.file)
    else:
        copy_file(folder / part.file, path)


def check_restored(url: str, part: CatalogPart) -> None:
    """CatalogError unless the restored catalog has the backup's rows and revision; then bring
    its schema up to this modalign's head."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            rows, revision = table_rows(connection), _revision(connection)
    finally:
        engine.dispose()
    expected = {name: rows.get(name) for name in part.rows}
    if expected != part.rows or revision != part.revision:
        raise CatalogError(
            f"the restored catalog differs from the backup: rows {expected}, revision "
            f"{revision}; the manifest says {part.rows}, {part.revision}"
        )
    migrate.upgrade(url)
