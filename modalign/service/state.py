"""What the running service holds, opened once in the app's lifespan and closed on shutdown.

One catalog engine, one vector store (qdrant-edge shards are owned by one process, so the in-process
job runner shares this very instance), the query encoder, and a Redis probe when jobs go to Celery.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog.db import make_engine, make_session_factory
from modalign.config import Settings
from modalign.search.store import VectorStore
from modalign.service.broker import BrokerProbe
from modalign.service.queries import QueryEncoder

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    """The service's long-lived resources."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: VectorStore
    queries: QueryEncoder
    broker: BrokerProbe | None

    def close(self) -> None:
        """Release everything, store last-but-one (it flushes), engine last."""
        if self.broker is not None:
            self.broker.close()
        self.store.close()
        self.engine.dispose()


def open_state(settings: Settings) -> ServiceState:
    """Open the catalog, the store, the broker probe, and load the query encoder."""
    from modalign.search.factory import open_store

    engine = make_engine(settings.database_url, echo=settings.database.echo)
    store = open_store(settings)
    queries = QueryEncoder(settings)
    broker = BrokerProbe(settings) if settings.broker.mode == "celery" else None
    state = ServiceState(settings, engine, make_session_factory(engine), store, queries, broker)
    try:
        queries.load()
    except BaseException:
        state.close()
        raise
    return state
