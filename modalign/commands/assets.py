"""`modalign assets show | delete | update` and `modalign check [--repair]`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modalign.commands import fail, settings_of
from modalign.commands.ingest import _drive, _runner, _summary
from modalign.config import Settings
from modalign.errors import ModalignError

if TYPE_CHECKING:
    from modalign.ingest.check import CheckReport
    from modalign.ingest.deletes import DeletePlan
    from modalign.search.editing import DeleteTarget

assets_app = typer.Typer(help="Catalogued images: show, delete, edit.", no_args_is_help=True)

FilterOpt = Annotated[
    list[str] | None,
    typer.Option("--filter", "-f", help="Payload filter, as `modalign search -f` (repeatable)."),
]
TextsOpt = Annotated[list[str] | None, typer.Option()]


@assets_app.command("show")
def show(
    ctx: typer.Context,
    asset_id: Annotated[int, typer.Argument(help="Asset id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """An asset's file, datasets, tags and captions."""
    from modalign.catalog import repo
    from modalign.catalog.db import session_scope
    from modalign.search.hydrate import asset_info

    runner = _runner(ctx)
    try:
        with session_scope(runner.readers) as session:
            info = asset_info(repo.get_asset(session=session, asset_id=asset_id))
    except ModalignError as exc:
        raise fail(str(exc)) from exc
    finally:
        runner.close()
    if as_json:
        typer.echo(json.dumps(info.to_dict(), indent=2, ensure_ascii=False))
        return
    typer.echo(f"asset {info.asset_id}  {info.uri}  ({info.width}x{info.height})")
    typer.echo(f"  datasets: {', '.join(info.datasets)}   tags: {', '.join(info.tags) or '-'}")
    for caption in info.captions:
        typer.echo(f"  [{caption.position}] {caption.text}")


@assets_app.command("delete")
def delete(
    ctx: typer.Context,
    asset_ids: Annotated[list[int] | None, typer.Argument(help="Asset ids.")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Withdraw a dataset (images it shares stay in the other).")
    ] = None,
    filters: FilterOpt = None,
    everything: Annotated[bool, typer.Option("--all", help="Delete every asset.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would go.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Delete assets by id, a dataset's memberships, or what a filter matches (all model
    versions); an empty target is refused unless --all. Runs as a job (resumable)."""
    settings = settings_of(ctx)
    try:
        target = _delete_target(asset_ids or [], dataset, filters or [], everything)
        plan = _plan(settings, target)
    except ModalignError as exc:
        raise fail(str(exc)) from exc
    if dry_run or not plan.removals:
        _print_plan(plan, as_json, dry_run)
        return
    _run_delete(ctx, plan, target)


def _delete_target(
    ids: list[int], dataset: str | None, exprs: list[str], everything: bool
) -> DeleteTarget:
    from modalign.search.editing import DeleteTarget
    from modalign.search.filter_args import parse_filter_args
    from modalign.search.schema import IMAGE_FIELDS

    flt = parse_filter_args(exprs, IMAGE_FIELDS)
    return DeleteTarget(tuple(ids), dataset, flt, everything)


def _plan(settings: Settings, target: DeleteTarget) -> DeletePlan:
    from modalign.catalog.db import make_engine, make_session_factory
    from modalign.catalog.migrate import upgrade
    from modalign.ingest.deletes import plan_delete
    from modalign.search.factory import open_store

    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        sessions = make_session_factory(engine, read_only=True)
        if target.filter is None:
            return plan_delete(sessions, None, target)
        store = open_store(settings)
        try:
            return plan_delete(sessions, store, target)
        finally:
            store.close()
    finally:
        engine.dispose()


def _print_plan(plan: DeletePlan, as_json: bool, dry_run: bool) -> None:
    verb = "would delete" if dry_run else "nothing to delete:"
    if as_json:
        typer.echo(json.dumps({"dry_run": dry_run, "assets": plan.assets,
                               "memberships": plan.memberships, "sample": plan.sample}))
        return
    typer.echo(f"{verb} {plan.assets} assets and {plan.memberships} memberships")
    for uri in plan.sample:
        typer.echo(f"  {uri}")


def _run_delete(ctx: typer.Context, plan: DeletePlan, target: DeleteTarget) -> None:
    from modalign.ingest.deletes import create_delete_job

    runner = _runner(ctx)
    try:
        job_id = create_delete_job(runner.sessions, plan, target, runner.leases.lease)
        runner.leases.hold(job_id)
        counts = f"{plan.assets} assets, {plan.memberships} memberships"
        typer.echo(f"delete job {job_id}: {counts}", err=True)
        progress = _drive(runner, job_id, wait=True)
    except ModalignError as exc:
        raise fail(str(exc)) from exc
    _summary(runner, progress)


@assets_app.command("update")
def update(
    ctx: typer.Context,
    asset_id: Annotated[int, typer.Argument(help="Asset id.")],
    caption: TextsOpt = None,
    add_caption: TextsOpt = None,
    remove_caption: TextsOpt = None,
    tag: TextsOpt = None,
    add_tag: TextsOpt = None,
    remove_tag: TextsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Replace (--caption/--tag, repeatable), add or remove captions and tags; every model
    version's points follow (new captions are encoded with each version's encoder)."""
    from modalign.ingest.edits import update_asset
    from modalign.ingest.resources import open_resources
    from modalign.search.editing import ListEdit

    settings = settings_of(ctx)
    captions = ListEdit(_replace(caption), tuple(add_caption or ()), tuple(remove_caption or ()))
    tags = ListEdit(_replace(tag), tuple(add_tag or ()), tuple(remove_tag or ()))
    res = open_resources(settings, shared=False)
    try:
        done = update_asset(res, asset_id, captions=captions, tags=tags,
                            max_caption_chars=settings.ingest.max_caption_chars)
    except ModalignError as exc:
        raise fail(str(exc)) from exc
    finally:
        res.close()
    if as_json:
        typer.echo(json.dumps(done.as_dict(), indent=2, ensure_ascii=False))
        return
    tags_shown = ", ".join(done.tags) or "-"
    typer.echo(f"asset {asset_id}: {len(done.captions)} captions, tags {tags_shown}")
    for text in done.captions:
        typer.echo(f"  {text}")


def _replace(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values else None


def check(
    ctx: typer.Context,
    fix: Annotated[
        bool, typer.Option("--repair", help="Make the store agree with the catalog.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Compare the catalog and the store of each model version (counts, missing points,
    orphans, payloads that disagree); --repair re-embeds or deletes to make them agree."""
    from modalign.ingest.check import check as run_check
    from modalign.ingest.repair import repair
    from modalign.ingest.resources import open_resources

    res = open_resources(settings_of(ctx), shared=False)
    try:
        with res.store.use() as store:
            report = run_check(res.sessions, store)
        done = repair(res, report) if fix and not report.clean else None
        if done is not None:
            with res.store.use() as store:
                after = run_check(res.sessions, store)
    except ModalignError as exc:
        raise fail(str(exc)) from exc
    finally:
        res.close()
    final = after if done is not None else report
    if as_json:
        data: dict[str, Any] = {"check": report.as_dict()}
        if done is not None:
            data |= {"repair": done.as_dict(), "after": after.as_dict()}
        typer.echo(json.dumps(data, indent=2))
    else:
        _print_check(report, "check")
        if done is not None:
            typer.echo(f"repair: {json.dumps(done.as_dict())}")
            _print_check(after, "after repair")
    if not final.clean:
        raise typer.Exit(1)


def _print_check(report: CheckReport, title: str) -> None:
    state = "clean" if report.clean else "NOT clean"
    typer.echo(f"{title}: {state}")
    for version in report.versions:
        for found in (version.images, version.captions):
            typer.echo(
                f"  {version.version:<20} {found.kind.value:<8} catalog {found.catalog:>7} "
                f"store {found.store:>7}  missing {len(found.missing)}  orphans "
                f"{len(found.orphans)}  payload {len(found.mismatched)}"
            )
    if report.memberless:
        typer.echo(f"  {len(report.memberless)} assets in no dataset")
    if report.unfinished_jobs:
        jobs = ", ".join(map(str, report.unfinished_jobs))
        typer.echo(f"  unfinished removals in jobs {jobs} (modalign jobs resume ID)")


def register(app: typer.Typer) -> None:
    app.add_typer(assets_app, name="assets")
    app.command("check")(check)
