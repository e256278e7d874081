"""`modalign train`, `modalign evaluate`, `modalign models ...`: the dual encoder."""

from __future__ import annotations

import typer

from modalign.commands import fail, settings_of

models_app = typer.Typer(help="Model versions: list, activate.", no_args_is_help=True)


def train(ctx: typer.Context) -> None:
    """Train the projection heads of the dual encoder."""
    settings_of(ctx)
    raise fail("train is not built yet (issue 3)", 2)


def evaluate(ctx: typer.Context) -> None:
    """Evaluate a model version on a split."""
    settings_of(ctx)
    raise fail("evaluate is not built yet (issue 3)", 2)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("evaluate")(evaluate)
    app.add_typer(models_app, name="models")
