"""`modalign serve`: the HTTP API and ops dashboard under uvicorn."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from modalign.commands import settings_of


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's and the service's log level.")] = "info",
    migrate: Annotated[
        bool, typer.Option(help="Bring the catalog schema up to date before serving.")
    ] = True,
) -> None:
    """Serve the HTTP API and the ops dashboard (one process: it owns the embedded store)."""
    import uvicorn

    from modalign.catalog.migrate import upgrade
    from modalign.service.app import create_app

    settings = settings_of(ctx)
    _service_logging(log_level)
    if migrate:
        settings.paths.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.database_url)
    app = create_app(settings)
    uvicorn.run(
        app,
        host=host or settings.service.host,
        port=port if port is not None else settings.service.port,
        log_level=log_level,
        workers=1,
        proxy_headers=True,
    )


def _service_logging(log_level: str) -> None:
    """The service logs its own INFO lines (ready, model loaded) at the server's log level, or
    lower when --verbose asked for DEBUG."""
    level = logging.getLevelName(log_level.upper())
    if isinstance(level, int):
        service = logging.getLogger("modalign")
        service.setLevel(min(service.getEffectiveLevel(), level))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
