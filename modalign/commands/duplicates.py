"""`modalign duplicates`: the near-duplicate groups recorded at ingestion."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from modalign.commands import fail
from modalign.commands.ingest import _runner
from modalign.errors import ModalignError

if TYPE_CHECKING:
    from modalign.search.duplicates import DuplicateListing
    from modalign.search.results import AssetInfo

HELP = (
    "List near-duplicate groups: images tied by the pairs recorded at ingestion (an image within "
    "ingest.near_duplicate_threshold of its nearest indexed one). Recorded pairs only: a "
    "--threshold stricter than the one in force at ingestion drops the pairs below it; a looser "
    "one finds nothing more."
)


def duplicates(
    ctx: typer.Context,
    dataset: Annotated[
        str | None, typer.Option(help="Only pairs whose two images are both in this dataset.")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(help="Only pairs at this cosine or above, in (0, 1] (recorded pairs only)."),
    ] = None,
    version: Annotated[
        str | None, typer.Option(help="Model version (default: the active one).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The recorded near-duplicate groups (the command's help is HELP)."""
    from modalign.search.duplicates import list_duplicates
    from modalign.search.hydrate import CatalogLookup

    runner = _runner(ctx)
    recorded_at = runner.settings.ingest.near_duplicate_threshold
    if threshold is not None and threshold < recorded_at:
        typer.secho(
            f"note: pairs below ingest.near_duplicate_threshold ({recorded_at}) are not recorded; "
            "the listing holds recorded pairs only", err=True,
        )
    try:
        listing = list_duplicates(
            runner.readers, version=version, dataset=dataset, threshold=threshold
        )
        assets = CatalogLookup(runner.readers).assets(
            [a for g in listing.groups for a in g.asset_ids]
        )
    except ModalignError as exc:
        raise fail(str(exc)) from None
    finally:
        runner.close()
    if as_json:
        typer.echo(json.dumps(listing.to_dict(), indent=2))
    else:
        print_groups(listing, assets)


def print_groups(listing: DuplicateListing, assets: dict[int, AssetInfo]) -> None:
    """One table row per asset of each group: its group, id, original and cosine, and uri."""
    from rich.console import Console
    from rich.table import Table

    images = sum(len(g.asset_ids) for g in listing.groups)
    table = Table(title=f"{len(listing.groups)} near-duplicate groups, {images} images "
                        f"(version {listing.version}; recorded pairs only)")
    for column in ("group", "asset", "original", "cosine", "uri"):
        table.add_column(column, justify="left" if column == "uri" else "right")
    for n, group in enumerate(listing.groups, start=1):
        originals = {p.asset_id: p for p in group.pairs}
        for asset_id in group.asset_ids:
            pair = originals.get(asset_id)
            info = assets.get(asset_id)
            table.add_row(
                str(n), str(asset_id),
                str(pair.original_asset_id) if pair else "-",
                f"{pair.cosine:.4f}" if pair else "-",
                info.uri if info else "(not in catalog)",
            )
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("duplicates", help=HELP)(duplicates)
