"""`modalign db ...`: catalog schema migrations (Alembic, via modalign.catalog.migrate)."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from modalign.commands import fail, settings_of
from modalign.errors import ModalignError

db_app = typer.Typer(help="Catalog database: migrations.", no_args_is_help=True)


@db_app.callback()
def _quiet_alembic_plugins() -> None:
    """Alembic logs every autogenerate plugin it loads at INFO; keep its migration lines only."""
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


@db_app.command("upgrade")
def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (default head); a no-op when already there."""
    from modalign.catalog import migrate

    url = settings_of(ctx).database_url
    try:
        migrate.upgrade(url, revision)
        typer.echo(f"catalog at {migrate.current(url) or 'base'}")
    except ModalignError as error:
        raise fail(str(error)) from error


@db_app.command("downgrade")
def downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision ('base' drops everything).")],
) -> None:
    """Revert migrations down to REVISION."""
    from modalign.catalog import migrate

    url = settings_of(ctx).database_url
    try:
        migrate.downgrade(url, revision)
        typer.echo(f"catalog at {migrate.current(url) or 'base'}")
    except ModalignError as error:
        raise fail(str(error)) from error


@db_app.command("current")
def current(ctx: typer.Context) -> None:
    """Print the catalog's revision and whether it is the latest."""
    from modalign.catalog import migrate

    try:
        revision = migrate.current(settings_of(ctx).database_url)
        latest = ",".join(sorted(migrate.heads()))
    except ModalignError as error:
        raise fail(str(error)) from error
    state = "up to date" if revision == latest else f"head is {latest}"
    typer.echo(f"{revision or 'base'} ({state})")


@db_app.command("check")
def check(ctx: typer.Context) -> None:
    """Fail if the models and the migrated schema differ (alembic check)."""
    from modalign.catalog import migrate

    try:
        migrate.check(settings_of(ctx).database_url)
    except ModalignError as error:
        raise fail(str(error)) from error
    typer.echo("no drift between models and migrations")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
