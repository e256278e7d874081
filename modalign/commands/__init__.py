"""CLI command groups, one module per area; each exposes ``register(app)``."""

from __future__ import annotations

import typer

from modalign.config import Settings
from modalign.errors import ModalignError


def settings_of(ctx: typer.Context) -> Settings:
    """The Settings the root callback read for this invocation."""
    settings = ctx.find_root().obj
    if not isinstance(settings, Settings):
        raise ModalignError("settings were not initialised by the root command")
    return settings


def fail(message: str, code: int = 1) -> typer.Exit:
    """Log a one-line error for the user and return the Exit to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)
