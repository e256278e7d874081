"""``create_app(settings)``: the FastAPI application, its lifespan, middleware and routers.

The lifespan opens the service state once (catalog engine, vector store, query encoder warmed up,
broker probe) and closes it on shutdown; endpoints get it through ``deps.StateDep``. Model
inference and catalog/store calls run in the threadpool, never on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import version as package_version
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from modalign.config import Settings
from modalign.service import dashboard
from modalign.service.gauges import collection_points, item_counts, queue_depth
from modalign.service.limits import BodyLimitMiddleware, body_cap
from modalign.service.metrics import MetricsMiddleware, ServiceMetrics, StateSources
from modalign.service.openapi import install_openapi
from modalign.service.problems import Problem, install_problem_handlers
from modalign.service.routers import (
    admin,
    assets,
    checks,
    duplicates,
    health,
    jobs,
    models,
    search,
)
from modalign.service.schemas import QueryBody, SimilarBody, UploadForm
from modalign.service.state import ServiceState, open_state

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"

DESCRIPTION = """\
Search images by text or by image, browse the catalog, run and watch ingestion jobs, and switch
model versions. Errors are RFC 7807 problem details (`application/problem+json`). Write
endpoints need the `X-API-Key` header when the service is configured with a write key; search,
assets, jobs, models and the dashboard JSON take the read key (or the write key) when a read key is
configured. Health and metrics endpoints are open. Request bodies are capped (413).
"""


def create_app(settings: Settings) -> FastAPI:
    """The modalign HTTP API and ops dashboard for ``settings``."""
    app = FastAPI(
        title="modalign", version=package_version("modalign"), description=DESCRIPTION,
        lifespan=_lifespan, openapi_tags=TAGS,
    )
    app.state.settings = settings
    app.state.metrics = metrics = ServiceMetrics()
    metrics.watch(_metric_sources(app))
    # the body cap sits inside the metrics middleware, so its 413s are counted too
    app.add_middleware(BodyLimitMiddleware, cap_of=partial(body_cap, settings.service))
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    install_problem_handlers(app)
    for router in (
        search.router, assets.router, duplicates.router, jobs.router, models.router,
        health.router, checks.router, admin.router, dashboard.router,
    ):
        app.include_router(router)
    install_openapi(app, [QueryBody, SimilarBody, UploadForm, Problem])
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


TAGS = [
    {"name": "search", "description": "Text -> image, image -> image, image -> text queries."},
    {"name": "assets", "description": "Catalogued images and their thumbnails."},
    {"name": "jobs", "description": "Ingestion jobs: start, watch, resume."},
    {"name": "models", "description": "Model versions and the active one."},
    {"name": "health", "description": "Liveness, readiness, Prometheus metrics."},
    {"name": "admin", "description": "Backups of the whole index, taken while it serves."},
    {"name": "dashboard", "description": "The ops page and the JSON it polls."},
]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    state = await run_in_threadpool(open_state, settings)
    app.state.modalign = state
    log.info("modalign service ready (store %s, broker %s)",
             settings.store.backend, settings.broker.mode)
    try:
        yield
    finally:
        app.state.modalign = None
        await run_in_threadpool(state.close)


def _metric_sources(app: FastAPI) -> StateSources:
    def state() -> ServiceState:
        current = getattr(app.state, "modalign", None)
        if not isinstance(current, ServiceState):
            raise RuntimeError("service not started")
        return current

    return StateSources(
        item_counts=lambda: item_counts(state()),
        queue_depth=lambda: queue_depth(state()),
        collection_points=lambda: collection_points(state()),
    )
