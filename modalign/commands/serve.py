"""`modalign serve`: the HTTP API and dashboard."""

from __future__ import annotations

import typer

from modalign.commands import fail, settings_of


def serve(ctx: typer.Context) -> None:
    """Serve the HTTP API and the ops dashboard."""
    settings_of(ctx)
    raise fail("serve is not built yet (issue 6)", 2)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
