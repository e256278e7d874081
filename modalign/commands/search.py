"""`modalign search`: query the index from the terminal (text, image, or "like this asset")."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modalign.commands import fail, settings_of
from modalign.config import Settings
from modalign.errors import ModalignError

if TYPE_CHECKING:
    from modalign.search.api import QueryOptions
    from modalign.search.client import SearchClient
    from modalign.search.filters import Filter
    from modalign.search.results import CaptionHit, ImageHit


@dataclass(frozen=True)
class SearchArgs:
    """What one `modalign search` asks for."""

    text: str | None
    image: Path | None
    like: int | None
    captions: bool
    filters: list[str]
    limit: int
    offset: int
    threshold: float | None
    ef: int | None
    exact: bool
    oversampling: float | None = None
    collapse: bool = False  # one hit per near-duplicate group
    mode: str | None = None
    text_weight: float = 0.5  # a text with --image: its embedding's weight in the sum
    group_by_asset: bool = False  # --captions: each image's best caption once


def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Text to search images (or captions) for.")] = "",
    image: Annotated[Path | None, typer.Option(help="Search with this image instead.")] = None,
    like: Annotated[
        int | None, typer.Option(help="Images similar to this catalog asset id (no encoder).")
    ] = None,
    captions: Annotated[bool, typer.Option("--captions", help="Return captions.")] = False,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter",
            "-f",
            help="FIELD=V, FIELD=A,B (any), FIELD!=V, FIELD>=N, created_at>=2026-01-01, FIELD= "
            "(empty); repeatable, all must hold.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Hits to return.")] = 10,
    offset: Annotated[int, typer.Option(min=0, help="Hits to skip.")] = 0,
    threshold: Annotated[float | None, typer.Option(help="Minimum cosine score.")] = None,
    ef: Annotated[int | None, typer.Option(min=1, help="HNSW beam width for this query.")] = None,
    exact: Annotated[bool, typer.Option("--exact", help="Exact search (no HNSW).")] = False,
    oversampling: Annotated[
        float | None,
        typer.Option(help="Quantized collections: rescore limit x this many candidates (1-16)."),
    ] = None,
    collapse: Annotated[
        bool,
        typer.Option(
            "--collapse-duplicates", help="One image (the best hit) per near-duplicate group."
        ),
    ] = False,
    mode: Annotated[str | None, typer.Option(
        help="Text queries: vector, keyword (the words of captions and tags) or hybrid (both "
        "fused); default store.search_mode.",
    )] = None,
    text_weight: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="A query text with --image (\"this picture, but red\"): the "
        "text embedding's weight in their sum.",
    )] = 0.5,
    group_by_asset: Annotated[bool, typer.Option(
        "--group-by-asset", help="With --captions: each image's best caption, once.",
    )] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
    open_hit: Annotated[int | None, typer.Option(
        "--open", min=1, metavar="N",
        help="Open the N-th hit's image with the system's opener (else print its file:// link).",
    )] = None,
) -> None:
    """Search images by text (or by --image, or --like an asset); --captions for captions."""
    settings = settings_of(ctx)
    args = SearchArgs(
        query or None, image, like, captions, filters or [], limit, offset, threshold, ef, exact,
        oversampling, collapse, mode, text_weight, group_by_asset,
    )
    try:
        hits = run_search(settings, args)
    except ModalignError as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
    else:
        _print(hits, args, settings)
    if open_hit is not None:
        _open(hits, open_hit, args.offset, settings)


def run_search(settings: Settings, args: SearchArgs) -> list[ImageHit] | list[CaptionHit]:
    """Open the store and catalog, run the query, close them again."""
    from modalign.search import Kind, open_search_client
    from modalign.search.filter_args import parse_filter_args
    from modalign.search.hybrid import check_mode
    from modalign.search.schema import fields_of

    given = [x is not None for x in (args.text, args.image, args.like)]
    if not any(given) or (given[2] and any(given[:2])):
        raise ModalignError(
            "give a query text, --image PATH (or both: a combined query) or --like ASSET_ID"
        )
    if args.group_by_asset and not args.captions:
        raise ModalignError("--group-by-asset groups captions; use it with --captions")
    if args.like is not None and args.captions:
        raise ModalignError("--like searches images; it cannot be combined with --captions")
    if args.collapse and args.captions:
        raise ModalignError("--collapse-duplicates groups images; it does not apply to --captions")
    mode = None if args.mode is None else check_mode(args.mode)
    if mode not in (None, "vector") and args.text is None:
        raise ModalignError(f"--mode {mode} searches by the words of a query text; give one")
    needs_encoder = args.like is None and mode != "keyword"
    kind = Kind.CAPTIONS if args.captions else Kind.IMAGES
    flt = parse_filter_args(args.filters, fields_of(kind))
    with open_search_client(settings, encoder=needs_encoder) as client:
        return _query(client, flt, args)


def _query(
    client: SearchClient, flt: Filter | None, args: SearchArgs
) -> list[ImageHit] | list[CaptionHit]:
    options: QueryOptions = {
        "filter": flt, "limit": args.limit, "offset": args.offset,
        "score_threshold": args.threshold, "ef": args.ef, "exact": args.exact,
        "oversampling": args.oversampling, "collapse_duplicates": args.collapse,
        "mode": args.mode, "text_weight": args.text_weight, "group_by_asset": args.group_by_asset,
    }
    if args.like is not None:
        return client.similar_images(args.like, **options)
    if args.captions:
        return client.search_captions(text=args.text, image=args.image, **options)
    return client.search_images(text=args.text, image=args.image, **options)


def _print(hits: Sequence[ImageHit | CaptionHit], args: SearchArgs, settings: Settings) -> None:
    from rich.console import Console

    from modalign.commands.hits import print_hits

    title = f"{len(hits)} {'captions' if args.captions else 'images'}"
    print_hits(Console(), hits, args.offset + 1, settings.paths, title)


def _open(
    hits: Sequence[ImageHit | CaptionHit], number: int, offset: int, settings: Settings
) -> None:
    """Open the image of the hit numbered ``number`` (as shown: ``offset`` + 1 is the first) or
    print its link."""
    import os
    import sys

    from modalign.commands.hits import file_link
    from modalign.commands.opener import open_link

    if not offset < number <= offset + len(hits):
        shown = f"{offset + 1}..{offset + len(hits)}" if hits else "none"
        raise fail(f"--open: no hit numbered {number} (shown: {shown})")
    link = file_link(hits[number - offset - 1].asset, settings.paths)
    if link is None:
        raise fail(f"--open: hit {number} is not in the catalog")
    if open_link(link, sys.platform, os.environ):
        typer.echo(f"opened {link}", err=True)
    else:
        typer.echo(f"no opener on this machine; the file is {link}", err=True)


def register(app: typer.Typer) -> None:
    app.command("search")(search)
