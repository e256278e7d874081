"""``/v1/check``: the catalog and the store compared (``modalign check``), seen by the service."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from modalign.service.checks import CheckMonitor
from modalign.service.deps import ApiKeyDep, ReadKeyDep, StateDep
from modalign.service.guard import GuardedRoute
from modalign.service.problems import ProblemError, problem_responses
from modalign.service.schemas import CheckState
from modalign.service.state import ServiceState

router = APIRouter(prefix="/v1/check", tags=["health"], route_class=GuardedRoute)


@router.get(
    "", response_model=CheckState | None, dependencies=[ReadKeyDep],
    responses=problem_responses(401, 503),
)
def last_check(state: StateDep) -> CheckState | None:
    """The last check (null before the first); a stale one is refreshed in the background."""
    return _monitor(state).latest()


@router.post(
    "", response_model=CheckState, dependencies=[ApiKeyDep],
    responses=problem_responses(401, 503),
)
async def run_check(state: StateDep) -> CheckState:
    """Check now (reads every point of every collection) and answer with the report."""
    return await run_in_threadpool(_monitor(state).run)


def _monitor(state: ServiceState) -> CheckMonitor:
    if state.checks is None:
        raise ProblemError(503, "the service is not ready")
    return state.checks
