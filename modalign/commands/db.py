"""`modalign db ...`: catalog schema migrations."""

from __future__ import annotations

import typer

from modalign.commands import settings_of

db_app = typer.Typer(help="Catalog database: migrations.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(ctx: typer.Context, revision: str = "head") -> None:
    """Apply migrations up to REVISION (default head)."""
    settings_of(ctx)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
