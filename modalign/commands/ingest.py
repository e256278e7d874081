"""`modalign ingest`, `modalign jobs ...`, `modalign worker`, `modalign reindex`."""

from __future__ import annotations

import typer

from modalign.commands import fail, settings_of

jobs_app = typer.Typer(help="Ingestion jobs: list, show, resume.", no_args_is_help=True)


def ingest(ctx: typer.Context, source: str) -> None:
    """Ingest a source (folder, JSONL manifest, COCO, Flickr30K)."""
    settings_of(ctx)
    raise fail("ingest is not built yet (issue 5)", 2)


def worker(ctx: typer.Context) -> None:
    """Start a Celery worker."""
    settings_of(ctx)
    raise fail("worker is not built yet (issue 5)", 2)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("worker")(worker)
    app.add_typer(jobs_app, name="jobs")
