"""`modalign ingest`, `modalign jobs ...`, `modalign worker`, `modalign reindex`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modalign.commands import fail, settings_of
from modalign.commands.console import progress_display, stderr_console
from modalign.errors import ModalignError

if TYPE_CHECKING:
    from modalign.ingest.progress import JobProgress
    from modalign.ingest.runner import JobRunner

jobs_app = typer.Typer(help="Ingestion jobs: list, show, resume.", no_args_is_help=True)


def _runner(ctx: typer.Context) -> JobRunner:
    from modalign.ingest.runner import JobRunner

    return JobRunner(settings_of(ctx))


def _drive(runner: JobRunner, job_id: int, *, wait: bool, force: bool = False) -> JobProgress:
    """Run the job here, or send it to the workers (and wait if asked), showing its progress.

    Either way the job is taken over first: JobLeaseError if another live process holds it
    (unless ``force``)."""
    with progress_display(stderr_console()) as display:
        tracker = display.open(f"job {job_id}", None)

        def show(progress: JobProgress) -> None:
            note = f"{progress.rate:.1f} items/s, {progress.failed} failed"
            tracker.update(progress.processed, progress.total or None, note)

        if not runner.uses_celery:
            runner.run_here(job_id, on_batch=lambda _: show(runner.progress(job_id)), force=force)
        else:
            sent = runner.send(job_id, force=force)
            typer.echo(f"job {job_id}: sent {len(sent)} batches to the workers", err=True)
            if wait:
                runner.wait(job_id, on_progress=show)
        final = runner.progress(job_id)
        show(final)
    return final


def _summary(runner: JobRunner, progress: JobProgress, failures: int = 10) -> None:
    if progress.counts is not None:
        found = progress.counts
        typer.echo(
            f"sync: {found.get('added', 0)} added, {found.get('changed', 0)} changed, "
            f"{found.get('removed', 0)} removed, {found.get('unchanged', 0)} unchanged"
        )
    typer.echo(
        f"job {progress.id} {progress.status}: {progress.total} items, {progress.done} done, "
        f"{progress.skipped} skipped, {progress.failed} failed, {progress.new_points} new points"
        f" ({progress.rate:.1f} items/s)"
    )
    _holder_line(progress)
    for uri, reason in runner.failures(progress.id, failures):
        typer.echo(f"  failed {uri}: {reason}")


def _holder_line(progress: JobProgress) -> None:
    """Who runs an unfinished job, or the command that resumes an interrupted one."""
    if progress.resume_command is not None:
        typer.echo(
            f"  interrupted: last held by {progress.holder}; resume with: "
            f"{progress.resume_command}"
        )
    elif not progress.finished:
        typer.echo(f"  held by {progress.holder}")


def ingest(
    ctx: typer.Context,
    source: Annotated[
        Path, typer.Argument(help="Folder, JSONL manifest, COCO JSON or Flickr file.")
    ],
    kind: Annotated[
        str | None, typer.Option(help="folder|manifest|coco|flickr (default: detect).")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Dataset name (default: from the source).")
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Tag every asset (repeatable).")
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="Model version (default: the active one).")
    ] = None,
    image_root: Annotated[
        Path | None, typer.Option(help="Image folder of a COCO/Flickr file.")
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="With Celery: wait for the workers to finish.")
    ] = False,
    sync: Annotated[
        bool,
        typer.Option(
            "--sync",
            help="Make the dataset follow the source: add what is new, re-embed what changed, "
            "remove what vanished.",
        ),
    ] = False,
) -> None:
    """Ingest a source (folder, JSONL manifest, COCO, Flickr30K) into the catalog and the store."""
    from modalign.ingest.sources import SOURCE_KINDS, SourceSpec, detect_source

    if kind is not None and kind not in SOURCE_KINDS:
        raise fail(f"--kind must be one of {', '.join(SOURCE_KINDS)}", 2)
    try:
        spec = SourceSpec(source, kind or detect_source(source), image_root)  # type: ignore[arg-type]
        runner = _runner(ctx)
        job_id = runner.create(spec, dataset=dataset, tags=tag or [], model=model, sync=sync)
        typer.echo(f"job {job_id} created", err=True)
        progress = _drive(runner, job_id, wait=wait)
    except ModalignError as exc:
        raise fail(str(exc)) from exc
    _summary(runner, progress)


@jobs_app.command("list")
def jobs_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="How many of the newest jobs.")] = 20,
    status: Annotated[
        str | None, typer.Option(help="Only jobs in this state (e.g. running, interrupted).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The newest jobs with their counters; interrupted ones with the command that resumes them."""
    from modalign.catalog.models import JobState

    if status is not None and status not in set(JobState):
        raise fail(f"--status must be one of {', '.join(JobState)}", 2)
    runner = _runner(ctx)
    for job in runner.jobs(limit, JobState(status) if status is not None else None):
        if as_json:
            typer.echo(json.dumps(job.as_dict(), default=str))
            continue
        typer.echo(
            f"{job.id:>5}  {job.kind:<8} {job.status:<22} {job.processed:>7}/{job.total:<7} "
            f"failed {job.failed:<5} {job.dataset}  {job.source}"
        )
        if job.resume_command is not None:
            typer.echo(f"       resume with: {job.resume_command}")


@jobs_app.command("show")
def jobs_show(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    failures: Annotated[int, typer.Option(help="How many failed items to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Counts, rate and failures of one job."""
    runner = _runner(ctx)
    try:
        progress = runner.progress(job_id)
    except ModalignError as exc:
        raise fail(str(exc)) from exc
    if as_json:
        data = progress.as_dict()
        data["failures"] = [{"uri": u, "error": e} for u, e in runner.failures(job_id, failures)]
        typer.echo(json.dumps(data, default=str, indent=2))
        return
    _summary(runner, progress, failures)


@jobs_app.command("resume")
def jobs_resume(
    ctx: typer.Context,
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    wait: Annotated[
        bool, typer.Option(help="With Celery: wait for the workers to finish.")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="Take the job over even if a live process holds its lease.")
    ] = False,
) -> None:
    """Take over a job and finish its unfinished items (after a crash, a lost broker, a killed
    worker). Refused while another live process holds the job, unless --force."""
    runner = _runner(ctx)
    try:
        progress = _drive(runner, job_id, wait=wait, force=force)
    except ModalignError as exc:
        raise fail(str(exc)) from exc
    _summary(runner, progress)


def worker(
    ctx: typer.Context,
    concurrency: Annotated[
        int | None, typer.Option(help="Worker processes (default: settings).")
    ] = None,
    pool: Annotated[str, typer.Option(help="Celery pool: prefork or solo.")] = "prefork",
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    visibility_timeout: Annotated[
        int, typer.Option(help="Seconds before a dead worker's batch is delivered again.")
    ] = 3600,
) -> None:
    """Start a Celery worker: N processes, each with its own encoder and torch threads."""
    settings = settings_of(ctx)
    threads = str(settings.encoders.torch_threads)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = threads  # before torch is imported anywhere in this process tree
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from modalign.ingest.tasks import worker_app

    app = worker_app(settings, visibility_timeout=visibility_timeout)
    app.worker_main(
        [
            "worker",
            f"--concurrency={concurrency or settings.broker.worker_concurrency}",
            f"--pool={pool}",
            f"--loglevel={loglevel}",
            f"--queues={settings.broker.queue}",
            "--without-gossip",
            "--without-mingle",
        ]
    )


def reindex(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", help="Model version to embed everything in.")],
    wait: Annotated[
        bool, typer.Option(help="With Celery: wait for the workers to finish.")
    ] = False,
) -> None:
    """Embed every catalogued asset into version V, then make V the active version."""
    from modalign.ingest.reindex import reindex_job

    runner = _runner(ctx)
    try:
        job_id = reindex_job(runner.sessions, model)
        typer.echo(f"reindex job {job_id} into {model}", err=True)
        progress = _drive(runner, job_id, wait=wait)
    except ModalignError as exc:
        raise fail(str(exc)) from exc
    _summary(runner, progress)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("worker")(worker)
    app.command("reindex")(reindex)
    app.add_typer(jobs_app, name="jobs")
