"""`modalign backup DEST` and `modalign restore SRC`: the whole index out and back in."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from modalign.commands import fail, settings_of
from modalign.config import Settings
from modalign.errors import ModalignError, StoreBusyError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from modalign.backup import BackupReport, RestoreReport

R = TypeVar("R", bound="BaseModel")


def backup(
    ctx: typer.Context,
    dest: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup.")],
    server: Annotated[
        str | None,
        typer.Option(help="Have the modalign service at this URL take the backup (default: only "
                          "when another process owns the store, the service the settings name)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Back up the catalog, the vector store and the model files into DEST, with a manifest of
    checksums. Writes pause meanwhile, searches do not; a running service takes it itself."""
    settings = settings_of(ctx)
    _show(lambda: run_backup(settings, dest, server), as_json, _print_backup)


def run_backup(settings: Settings, dest: Path, server: str | None) -> BackupReport:
    """Here when this process can own the store, else through the service."""
    from modalign.backup import create_backup
    from modalign.backup.remote import backup_through_service, service_url

    if server is not None:
        return backup_through_service(settings, dest, server)
    try:
        return create_backup(settings, dest)
    except StoreBusyError:
        return backup_through_service(settings, dest, service_url(settings))


def restore(
    ctx: typer.Context,
    src: Annotated[Path, typer.Argument(help="A backup folder written by `modalign backup`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Restore the backup SRC into the (empty) data directory, after checking every file's
    checksum; the restored catalog and store are opened and counted before it is in place."""
    from modalign.backup import restore_backup

    settings = settings_of(ctx)
    _show(lambda: restore_backup(settings, src), as_json, _print_restore)


def _show(run: Callable[[], R], as_json: bool, print_report: Callable[[R], None]) -> None:
    """Run the operation; print its report (as JSON if asked) or a one-line error."""
    try:
        report = run()
    except ModalignError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        print_report(report)


def _print_backup(report: BackupReport) -> None:
    typer.echo(f"backup written to {report.path}: {report.files} files, "
               f"{report.bytes / 1e6:.1f} MB in {report.seconds:.1f} s "
               f"(writes paused {report.paused_seconds:.2f} s)")
    _print_contents(report.catalog, report.rows, report.store, report.points, report.models)
    for name in report.missing_models:
        typer.secho(f"warning: model {name} had no checkpoint files to back up", err=True,
                    fg=typer.colors.YELLOW)
    typer.echo("not in the backup:")
    for item in report.left_out:
        typer.echo(f"  - {item}")


def _print_restore(report: RestoreReport) -> None:
    typer.echo(f"restored into {report.data_dir}: {report.files} files, "
               f"{report.bytes / 1e6:.1f} MB in {report.seconds:.1f} s; catalog at revision "
               f"{report.revision}")
    _print_contents(report.catalog, report.rows, report.store, report.points, report.models)


def _print_contents(
    catalog: str, rows: dict[str, int], store: str, points: dict[str, int], models: list[str]
) -> None:
    typer.echo(f"catalog ({catalog}): " + ", ".join(f"{k} {v}" for k, v in rows.items()))
    typer.echo(f"store ({store}): " + (", ".join(f"{k} {v}" for k, v in points.items())
                                       or "no collections"))
    typer.echo(f"models: {', '.join(models) or 'none'}")


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)
