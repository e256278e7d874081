"""`modalign search`: query the index from the terminal."""

from __future__ import annotations

import typer

from modalign.commands import fail, settings_of


def search(ctx: typer.Context, query: str = typer.Argument("")) -> None:
    """Search images by text (or by --image)."""
    settings_of(ctx)
    raise fail("search is not built yet (issue 4)", 2)


def register(app: typer.Typer) -> None:
    app.command("search")(search)
