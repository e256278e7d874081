"""The ``modalign`` command line: a root Typer app that gathers each area's commands.

Settings are read here, once, and handed to every command through the Typer context.
Heavy libraries (torch, qdrant) are imported inside the commands that need them, so
``modalign --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from modalign.commands import (
    assets,
    backup,
    data,
    db,
    duplicates,
    fail,
    ingest,
    search,
    serve,
    train,
)
from modalign.commands.console import configure_logging, quiet_third_parties
from modalign.config import PathsSettings, load_settings
from modalign.errors import ConfigError

app = typer.Typer(
    name="modalign",
    help="Multimodal alignment and retrieval: train, ingest, search, serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Annotated[
        Path | None, typer.Option(help="Data directory (overrides MODALIGN_PATHS__DATA_DIR).")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log at DEBUG level (default: warnings up).")
    ] = False,
) -> None:
    """Read settings once; every command gets them from the context. Library logs show from
    WARNING up (DEBUG with --verbose); third-party progress bars are off."""
    configure_logging(verbose)
    quiet_third_parties()
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    if data_dir is not None:
        settings = settings.model_copy(update={"paths": PathsSettings(data_dir=data_dir)})
    ctx.obj = settings


for module in (data, db, train, search, ingest, assets, duplicates, serve, backup):
    module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
