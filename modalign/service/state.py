"""What the running service holds, opened once in the app's lifespan and closed on shutdown.

One catalog engine, one vector store (qdrant-edge shards are owned by one process, so the in-process
job runner shares this very instance), the query encoder, and a Redis probe when jobs go to Celery.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog.db import make_engine, make_session_factory
from modalign.config import Settings
from modalign.ingest.editor import CatalogEditor
from modalign.ingest.owners import Role
from modalign.search.sparse import LazyKeywords
from modalign.search.store import VectorStore
from modalign.service.background_jobs import BackgroundJobs, api_resources, make_dispatcher
from modalign.service.batching import TextBatcher
from modalign.service.broker import BrokerProbe
from modalign.service.checks import CheckMonitor
from modalign.service.query_encoder import ActiveEncoder

log = logging.getLogger(__name__)


@dataclass
class ServiceState:
    """The service's long-lived resources."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    readers: sessionmaker[Session]
    store: VectorStore
    encoder: ActiveEncoder
    broker: BrokerProbe | None
    jobs: BackgroundJobs | None = None
    texts: TextBatcher | None = None
    editor: CatalogEditor | None = None  # asset edits, run in the request's thread
    checks: CheckMonitor | None = None
    backing_up: threading.Lock = field(default_factory=threading.Lock)  # one backup at a time
    keywords: LazyKeywords = field(default_factory=LazyKeywords)  # of keyword/hybrid queries

    def close(self) -> None:
        """Stop the job thread between batches, then close the broker probe, store, engine."""
        if self.jobs is not None:
            self.jobs.close()
        if self.texts is not None:
            self.texts.close()
        if self.broker is not None:
            self.broker.close()
        self.store.close()
        self.engine.dispose()


def open_state(settings: Settings) -> ServiceState:
    """Open the catalog, the store, the broker probe, and load the query encoder."""
    from modalign.search.factory import open_store

    warn_if_store_is_not_shared(settings)
    engine = make_engine(settings.database_url, echo=settings.database.echo)
    store = open_store(settings)
    encoder = ActiveEncoder(settings)
    broker = BrokerProbe(settings) if settings.broker.mode == "celery" else None
    state = ServiceState(
        settings, engine, make_session_factory(engine),
        make_session_factory(engine, read_only=True), store, encoder, broker,
    )
    try:
        encoder.load()
        state.texts = TextBatcher(lambda: encoder.current)
        dispatcher = make_dispatcher(settings, state.sessions, store, lambda: encoder.current)
        state.jobs = BackgroundJobs(settings, state.sessions, dispatcher, state.readers)
        state.checks = CheckMonitor(state.readers, store)
        state.editor = CatalogEditor(
            api_resources(settings, state.sessions, store, lambda: encoder.current), Role.API
        )
    except BaseException:
        state.close()
        raise
    return state


def warn_if_store_is_not_shared(settings: Settings) -> None:
    """Celery workers cannot write to an on-disk store this process holds open for queries."""
    on_disk = settings.store.backend == "edge" or not settings.store.url
    if settings.broker.mode == "celery" and on_disk:
        log.warning(
            "broker mode is celery but the vector store is on local disk (%s): the API owns it "
            "while it runs, so workers cannot write to it; use store.backend=client with a "
            "Qdrant server (docker-compose) for Celery ingestion next to the API",
            settings.store.backend,
        )
