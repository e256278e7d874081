"""``/v1/jobs``: start an ingestion job from an allowed source path, list, watch and resume jobs.

A job's ``status`` is derived when read: ``interrupted`` when it is pending or running but no live
process holds its lease (see :mod:`modalign.ingest.owners`). Resuming takes the lease over for
this service, and is refused (409) while another live process holds it, unless ``force``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import JobState
from modalign.errors import ConfigError, JobLeaseError
from modalign.ingest.owners import jobs_in_state
from modalign.service.background_jobs import BackgroundJobs
from modalign.service.deps import ApiKeyDep, PathViewDep, SessionDep, StateDep
from modalign.service.guard import GuardedRoute
from modalign.service.problems import ProblemError, problem_responses
from modalign.service.schemas import JobDetail, JobList, JobRequest, JobView
from modalign.service.sources import check_allowed, resolve_source
from modalign.service.state import ServiceState
from modalign.service.views import job_detail, job_view

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=GuardedRoute)

JobId = Annotated[int, Path(ge=1, le=2**62, description="Job id.")]


@router.post(
    "", response_model=JobView, status_code=202, dependencies=[ApiKeyDep],
    responses=problem_responses(401, 403, 409, 422, 503),
)
async def create_job(body: JobRequest, state: StateDep, response: Response) -> JobView:
    """Ingest a source (folder, JSONL manifest, COCO or Flickr30K captions) under an allowed
    folder: the job is created now, planned and run in the background; poll ``GET
    /v1/jobs/{id}`` (or the dashboard) for progress."""
    view = await run_in_threadpool(start_job, state, body)
    response.headers["Location"] = f"/v1/jobs/{view.id}"
    return view


def start_job(state: ServiceState, body: JobRequest) -> JobView:
    """Create the job and hand it to the background runner."""
    from modalign.ingest.plan import create_ingest_job
    from modalign.ingest.sources import SourceSpec, detect_source, source_root

    path = resolve_source(state.settings, body.source)
    root = resolve_source(state.settings, body.image_root) if body.image_root else None
    spec = SourceSpec(path=path, kind=detect_source(path), image_root=root)
    check_allowed(state.settings, source_root(spec), f"the image folder of {body.source}")
    runner = job_runner(state)
    try:
        job_id = create_ingest_job(
            state.sessions, spec, dataset=body.dataset, tags=body.tags,
            lease=runner.leases.lease, sync=body.sync,
        )
    except ConfigError as exc:
        raise ProblemError(409, str(exc)) from exc
    return queue_job(state, job_id)


def job_runner(state: ServiceState) -> BackgroundJobs:
    """The service's job runner (503 while it is not running)."""
    if state.jobs is None:
        raise ProblemError(503, "the job runner is not running")
    return state.jobs


def queue_job(state: ServiceState, job_id: int) -> JobView:
    """Hand a created (or taken over) job to the runner; the job as it stands."""
    job_runner(state).submit(job_id)
    with session_scope(state.readers) as session:
        return job_view(repo.get_job(session=session, job_id=job_id))


@router.get("", response_model=JobList, responses=problem_responses(401, 422, 503))
def list_jobs(
    session: SessionDep,
    paths: PathViewDep,
    status: Annotated[
        JobState | None, Query(description="Only jobs in this status (interrupted included).")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> JobList:
    """Jobs, newest first."""
    jobs = jobs_in_state(session=session, state=status, limit=limit, offset=offset)
    return JobList(jobs=[job_view(job, paths=paths) for job in jobs])


@router.get(
    "/{job_id}", response_model=JobDetail, responses=problem_responses(401, 404, 422, 503)
)
def get_job(
    job_id: JobId,
    session: SessionDep,
    paths: PathViewDep,
    failures: Annotated[int, Query(ge=0, le=1_000, description="Failed items to list.")] = 100,
) -> JobDetail:
    """A job's counters, rate, ETA and failed items with their reasons."""
    job = repo.get_job(session=session, job_id=job_id)
    failed = repo.list_failures(session=session, job_id=job_id, limit=failures) if failures else []
    return job_detail(job, failed, paths)


@router.post(
    "/{job_id}/resume", response_model=JobView, status_code=202, dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 409, 422, 503),
)
async def resume_job(
    job_id: JobId,
    state: StateDep,
    force: Annotated[
        bool, Query(description="Take the job over even if a live process holds its lease.")
    ] = False,
) -> JobView:
    """Take the job over and run its unfinished batches (after a crash, a restart or a
    shutdown); 409 while another live process holds it, unless ``force``."""
    return await run_in_threadpool(_resume, state, job_id, force)


def _resume(state: ServiceState, job_id: int, force: bool) -> JobView:
    try:
        job_runner(state).take_over(job_id, force=force)
    except JobLeaseError as exc:
        raise ProblemError(409, str(exc)) from exc
    return queue_job(state, job_id)
