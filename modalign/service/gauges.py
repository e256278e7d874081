"""Numbers read live for the metrics scrape and the dashboard: items, queue depth, points."""

from __future__ import annotations

from collections.abc import Mapping

from modalign.catalog.db import session_scope
from modalign.search.naming import Kind
from modalign.service.catalog_queries import item_totals
from modalign.service.state import ServiceState


def item_counts(state: ServiceState) -> Mapping[str, int]:
    """Job items by status over every job."""
    with session_scope(state.readers) as session:
        return item_totals(session=session)


def queue_depth(state: ServiceState) -> int | None:
    """Batches waiting: the Celery queue's length, or the in-process runner's backlog."""
    if state.broker is not None:
        return state.broker.queue_depth()
    return state.jobs.backlog if state.jobs is not None else None


def collection_points(state: ServiceState) -> dict[str, int]:
    """Points per collection of every model version in the store."""
    points = {}
    for version in state.store.versions():
        for kind in Kind:
            info = state.store.info(kind, version=version)
            points[info.name] = info.points
    return points
