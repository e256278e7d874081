"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from modalign.service.deps import StateDep
from modalign.service.metrics import ServiceMetrics
from modalign.service.problems import problem_responses
from modalign.service.readiness import readiness
from modalign.service.schemas import Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", responses={200: {"content": {"application/json": {
    "example": {"status": "ok"}}}}})
def healthz() -> dict[str, str]:
    """The process is up and serving."""
    return {"status": "ok"}


@router.get(
    "/readyz", response_model=Readiness,
    responses={503: {"model": Readiness, "description": "A dependency is unreachable."},
               **problem_responses(500)},
)
async def readyz(state: StateDep) -> JSONResponse:
    """Store, database and broker are reachable (503 with the failing checks otherwise)."""
    result = await run_in_threadpool(readiness, state)
    status = 200 if result.status == "ok" else 503
    return JSONResponse(result.model_dump(), status_code=status)


@router.get(
    "/metrics", response_class=Response,
    responses={200: {"description": "Prometheus exposition.", "content": {"text/plain": {
        "schema": {"type": "string"},
        "example": 'modalign_http_requests_total{method="GET",route="/healthz",status="200"} 3.0',
    }}}},
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests, latency, job items by status, queue depth, points."""
    registry: ServiceMetrics = request.app.state.metrics
    body, content_type = await run_in_threadpool(registry.render)
    return Response(body, media_type=content_type)
