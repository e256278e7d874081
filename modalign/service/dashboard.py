"""The ops dashboard: a server-rendered page at ``/`` and the JSON it polls.

The page is rendered complete on the server (Jinja2, no front-end build step) so it is useful
without scripts; ``static/dashboard.js`` then polls ``/v1/dashboard`` every couple of seconds and
updates jobs, throughput, queue depth and collections in place, and runs searches. An interrupted
job (no live process holds it) shows the command that resumes it and a button that does it
through ``POST /v1/jobs/{id}/resume``.

When a read key is configured, a browser's page load carries no key: the page is then rendered
empty and the script asks for a key once (kept in the tab's sessionStorage), sending it as
X-API-Key with every poll, search and thumbnail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.service.auth import API_KEY_HEADER, Access, Caller, authorize
from modalign.service.catalog_queries import item_totals, throughput
from modalign.service.deps import PathViewDep, StateDep
from modalign.service.gauges import queue_depth
from modalign.service.guard import GuardedRoute
from modalign.service.problems import ProblemError, problem_responses
from modalign.service.redact import PathView
from modalign.service.schemas import Dashboard, ThroughputPoint
from modalign.service.state import ServiceState
from modalign.service.views import job_detail, model_view

router = APIRouter(tags=["dashboard"], route_class=GuardedRoute)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

DASHBOARD_JOBS = 10
THROUGHPUT_MINUTES = 10
POLL_MS = 1500
MIN_POLL_MS = 200
MAX_POLL_MS = 60_000
FAILURES_SHOWN = 5


def dashboard_data(state: ServiceState, paths: PathView) -> Dashboard:
    """Everything the page shows, read in one catalog transaction."""
    with session_scope(state.readers) as session:
        jobs = [
            job_detail(
                j, repo.list_failures(session=session, job_id=j.id, limit=FAILURES_SHOWN), paths
            )
            for j in repo.list_jobs(session=session, limit=DASHBOARD_JOBS)
        ]
        models = [
            model_view(m, state.store, paths) for m in repo.list_model_versions(session=session)
        ]
        minutes = throughput(session=session, minutes=THROUGHPUT_MINUTES)
        totals = item_totals(session=session)
    return Dashboard(
        jobs=jobs,
        throughput=[ThroughputPoint(start=m.start, items=m.items) for m in minutes],
        queue_depth=queue_depth(state), broker_mode=state.settings.broker.mode,
        models=models, active_model=next((m.name for m in models if m.active), None),
        item_totals=totals, check=state.checks.latest() if state.checks else None,
    )


def empty_dashboard(state: ServiceState) -> Dashboard:
    """The page's frame before the script has fetched the figures with a key."""
    return Dashboard(
        jobs=[], throughput=[], queue_depth=None, broker_mode=state.settings.broker.mode,
        models=[], active_model=None, item_totals={},
    )


@router.get("/v1/dashboard", response_model=Dashboard, responses=problem_responses(401, 503))
async def dashboard_json(state: StateDep, paths: PathViewDep) -> Dashboard:
    """Jobs, throughput per minute, queue depth and collections, for the ops page."""
    return await run_in_threadpool(dashboard_data, state, paths)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def dashboard_page(
    request: Request,
    state: StateDep,
    poll_ms: Annotated[int, Query(ge=MIN_POLL_MS, le=MAX_POLL_MS)] = POLL_MS,
) -> HTMLResponse:
    """The ops page (``?poll_ms=`` sets how often it refreshes)."""
    caller = page_caller(state, request.headers.get(API_KEY_HEADER))
    if caller is None:
        data, encoder = empty_dashboard(state), None
    else:
        paths = PathView.for_caller(state.settings, caller)
        data = await run_in_threadpool(dashboard_data, state, paths)
        encoder = state.encoder.version
    return templates.TemplateResponse(
        request, "dashboard.html",
        {"data": data, "poll_ms": poll_ms, "encoder": encoder, "needs_key": caller is None,
         "max_upload_bytes": state.settings.service.max_upload_bytes},
    )


def page_caller(state: ServiceState, given: str | None) -> Caller | None:
    """Who loads the page, or None when a read key is configured and was not sent."""
    try:
        return authorize(state.settings.service, Access.READ, given)
    except ProblemError:
        return None
