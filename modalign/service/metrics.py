"""Prometheus metrics with one registry per app (no module-global state).

Request counts and latency histograms are recorded by a small ASGI middleware, labelled by the
route template (``/v1/assets/{asset_id}``), never the raw path, so label sets stay bounded. Job
items by status, queue depth and points per collection are read when ``/metrics`` is scraped,
through callables the app supplies; a failing source is logged and left out, never a failed scrape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
T = TypeVar("T")

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNMATCHED_ROUTE = "unmatched"


@dataclass(frozen=True)
class StateSources:
    """Where the scrape-time gauges come from; each callable may raise, it is then skipped."""

    item_counts: Callable[[], Mapping[str, int]]
    queue_depth: Callable[[], int | None]
    collection_points: Callable[[], Mapping[str, int]]


class StateCollector(Collector):
    """Gauges read at scrape time: job items by status, queue depth, points per collection."""

    def __init__(self, sources: StateSources) -> None:
        self.sources = sources

    def collect(self) -> Iterable[Metric]:
        items = GaugeMetricFamily(
            "modalign_job_items", "Job items by status, over all jobs.", labels=["status"]
        )
        empty: Mapping[str, int] = {}
        for status, count in _safely(self.sources.item_counts, empty).items():
            items.add_metric([status], count)
        yield items
        depth = _safely(self.sources.queue_depth, None)
        if depth is not None:
            yield GaugeMetricFamily(
                "modalign_queue_depth", "Ingest batches waiting to run.", value=depth
            )
        points = GaugeMetricFamily(
            "modalign_collection_points", "Points per vector collection.", labels=["collection"]
        )
        for name, count in _safely(self.sources.collection_points, empty).items():
            points.add_metric([name], count)
        yield points

    def describe(self) -> Iterable[Metric]:
        return []


def _safely(read: Callable[[], T], default: T) -> T:
    try:
        return read()
    except Exception:
        log.warning("a metrics source failed; leaving it out of this scrape", exc_info=True)
        return default


class ServiceMetrics:
    """The app's registry and its HTTP metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "modalign_http_requests", "HTTP requests served.",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "modalign_http_request_duration_seconds", "HTTP request latency.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )

    def watch(self, sources: StateSources) -> None:
        """Add the scrape-time gauges read from ``sources``."""
        self.registry.register(StateCollector(sources))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one served request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_recording(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_recording)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe(scope["method"], route_of(scope), status, seconds)


def route_of(scope: Scope) -> str:
    """The matched route's path template, or ``unmatched``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE
