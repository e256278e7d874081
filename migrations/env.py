"""Alembic environment of the modalign catalog.

The URL comes from, in order: ``config.attributes["url"]`` (set by ``modalign.catalog.migrate``),
``alembic -x url=...``, then modalign's Settings (this file is an entry point, so it may read them).
SQLite migrations run in batch mode, inside one ``BEGIN IMMEDIATE`` transaction with foreign keys
off (a table rebuilt by batch mode must not cascade deletes); PostgreSQL migrations hold an advisory
lock, so processes that start together and all call upgrade run it one after the other.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, text

from modalign.catalog.db import make_engine
from modalign.catalog.models import Base, UTCDateTime

MIGRATION_LOCK_KEY = 4_242_001  # pg_advisory_xact_lock key held while migrating

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = config.attributes.get("url") or context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return str(url)
    from modalign.config import Settings

    return Settings().database_url


def render_item(kind: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our UTC column type as the plain type it stores, so migrations need no app import."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=Base.metadata,
        compare_type=True,
        render_item=render_item,
        **kwargs,
    )


def run_migrations_offline() -> None:
    url = database_url()
    configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"},
              render_as_batch=url.startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_with(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    configure(connection=connection, render_as_batch=sqlite, transactional_ddl=True)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            lock = text("SELECT pg_advisory_xact_lock(:key)")
            connection.execute(lock, {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(database_url(), foreign_keys=False)
    try:
        with engine.connect() as connection:
            run_with(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
