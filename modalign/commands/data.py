"""`modalign data ...`: demo dataset building."""

from __future__ import annotations

import typer

from modalign.commands import settings_of

data_app = typer.Typer(help="Datasets: build the demo set.", no_args_is_help=True)


@data_app.command("build-demo")
def build_demo(ctx: typer.Context) -> None:
    """Build <data dir>/demo/ from the Debian emoji and openclipart packages."""
    settings_of(ctx)
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
