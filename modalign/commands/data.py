"""`modalign data ...`: build the demo set, or write a training manifest from any source."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modalign.commands import fail, settings_of
from modalign.commands.console import progress_display, stderr_console
from modalign.errors import ModalignError

if TYPE_CHECKING:
    from modalign.datasets.build import BuildSummary

data_app = typer.Typer(
    help="Datasets: build the demo set, or a training manifest from a source.", no_args_is_help=True
)


def _split_table(summary: BuildSummary) -> object:
    from rich import box
    from rich.table import Table

    table = Table(title=f"Demo set: {summary.manifest}", box=box.SIMPLE_HEAD, show_edge=False)
    for column in ("source", "train", "val", "test", "kept", "w/o skin-tone variants", "skipped"):
        table.add_column(column, justify="left" if column == "source" else "right")
    for name, source in sorted(summary.sources.items()):
        cells = [source.splits[s] for s in ("train", "val", "test")]
        extra = [source.kept, source.kept_without_variants, sum(source.skipped.values())]
        table.add_row(name, *(str(n) for n in (*cells, *extra)))
    totals = [summary.split_total(s) for s in ("train", "val", "test")]
    table.add_row("total", *(str(n) for n in totals), str(summary.total), "", "", style="bold")
    return table


def _skip_lines(summary: BuildSummary) -> list[str]:
    """One line per source: its skipped items by reason."""
    lines = []
    for name, source in sorted(summary.sources.items()):
        if source.skipped:
            reasons = ", ".join(f"{reason} {count}" for reason, count in source.skipped.items())
            lines.append(f"skipped in {name}: {reasons}")
    return lines


def print_summary(summary: BuildSummary) -> None:
    """Per-source, per-split counts as a Rich table, then the skipped items by reason."""
    from rich.console import Console

    console = Console()
    console.print(_split_table(summary))
    train_only = sum(s.shared_caption_train_only for s in summary.sources.values())
    lines = [
        *_skip_lines(summary),
        f"{summary.rendered} images rendered, {summary.reused} reused, "
        f"{train_only} kept in train because their name caption is shared; "
        f"{summary.seconds:.1f} s",
    ]
    for line in lines:
        console.print(line, soft_wrap=True)


@data_app.command("build-demo")
def build_demo(
    ctx: typer.Context,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Take at most this many items per source.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Render processes.")] = 2,
) -> None:
    """Build <data dir>/demo/ from the Debian emoji and openclipart packages."""
    from modalign.datasets.build import BuildOptions, build_demo_for

    settings = settings_of(ctx)
    try:
        with progress_display(stderr_console()) as display:
            summary = build_demo_for(settings, BuildOptions(limit=limit, workers=workers), display)
    except ModalignError as exc:
        raise fail(str(exc)) from exc
    print_summary(summary)


@data_app.command("manifest")
def manifest(
    ctx: typer.Context,
    source: Annotated[
        Path, typer.Argument(help="Folder, JSONL manifest, COCO JSON or Flickr file.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Manifest to write (default: manifest.jsonl in the image folder)."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="folder|manifest|coco|flickr (default: detect).")
    ] = None,
    image_root: Annotated[
        Path | None, typer.Option(help="Image folder of a COCO/Flickr file.")
    ] = None,
    val: Annotated[float, typer.Option(min=0.0, max=0.5, help="Share of images for val.")] = 0.1,
    test: Annotated[float, typer.Option(min=0.0, max=0.5, help="Share of images for test.")] = 0.1,
) -> None:
    """Write a training manifest (for `modalign train --manifest`) from any source."""
    from modalign.datasets.splits import SplitRatios
    from modalign.ingest.export import export_manifest
    from modalign.ingest.plan import source_limits
    from modalign.ingest.sources import SOURCE_KINDS, SourceSpec, detect_source, source_root

    if kind is not None and kind not in SOURCE_KINDS:
        raise fail(f"--kind must be one of {', '.join(SOURCE_KINDS)}", 2)
    try:
        spec = SourceSpec(source, kind or detect_source(source), image_root)  # type: ignore[arg-type]
        target = out or source_root(spec) / "manifest.jsonl"
        report = export_manifest(
            spec, target, limits=source_limits(settings_of(ctx)), ratios=SplitRatios(val, test)
        )
    except (ModalignError, ValueError) as exc:
        raise fail(str(exc)) from exc
    for key, reason in report.failed[:20]:
        typer.echo(f"  skipped {key}: {reason}", err=True)
    splits = ", ".join(f"{n} {split}" for split, n in report.splits.items())
    typer.echo(
        f"{report.manifest}: {report.written} images ({splits}); "
        f"{report.uncaptioned} without captions and {len(report.failed)} unreadable left out"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
