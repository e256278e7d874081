"""What running a batch needs, loaded once per process: catalog sessions, encoders, the store.

The encoder of each model version is loaded on first use under a lock and kept. The vector store
is reached through a :class:`StoreAccess`:

- :class:`HeldStore` opens the store once and keeps it (in-process jobs; Celery workers against a
  Qdrant server).
- :class:`LockedStore` opens the store for each batch's writes and closes it right after, under a
  blocking file lock. qdrant-edge (and qdrant-client's local mode) can be owned by one process at a
  time, so Celery workers sharing an on-disk store take turns for the short write phase while
  they decode and encode in parallel.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.orm import Session, sessionmaker

from modalign.config import Settings
from modalign.search.sparse import LazyKeywords

if TYPE_CHECKING:
    from modalign.encoders.dual import DualEncoder
    from modalign.search.store import VectorStore

log = logging.getLogger(__name__)

WRITER_LOCK_FILE = ".ingest-writer.lock"


class StoreAccess(Protocol):
    """How a batch reaches the vector store."""

    def use(self) -> AbstractContextManager[VectorStore]: ...

    def close(self) -> None: ...


class HeldStore:
    """One store, opened on first use and kept until :meth:`close`."""

    def __init__(self, opener: Callable[[], VectorStore]) -> None:
        self._opener = opener
        self._store: VectorStore | None = None
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[VectorStore]:
        with self._lock:
            if self._store is None:
                self._store = self._opener()
        yield self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


class LockedStore:
    """The store opened per use under an exclusive, blocking lock on ``lock_path``."""

    def __init__(self, opener: Callable[[], VectorStore], lock_path: Path) -> None:
        self._opener = opener
        self._lock_path = lock_path

    @contextmanager
    def use(self) -> Iterator[VectorStore]:
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                store = self._opener()
                try:
                    yield store
                finally:
                    store.close()
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def close(self) -> None:
        """Nothing is held between uses."""


def store_access(settings: Settings, *, shared: bool) -> StoreAccess:
    """HeldStore unless ``shared`` (several processes write) and the store lives on local disk."""
    from modalign.search.factory import open_store

    def opener() -> VectorStore:
        return open_store(settings)

    if shared and not (settings.store.backend == "client" and settings.store.url):
        return LockedStore(opener, settings.paths.store_dir / WRITER_LOCK_FILE)
    return HeldStore(opener)


@dataclass
class IngestResources:
    """Everything :func:`modalign.ingest.pipeline.run_batch` uses, shared by its calls."""

    settings: Settings
    sessions: sessionmaker[Session]
    store: StoreAccess
    encoder_loader: Callable[[str], DualEncoder]
    keywords: LazyKeywords = field(default_factory=LazyKeywords)  # keyword vectors of points
    _encoders: dict[str, DualEncoder] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def encoder(self, version: str) -> DualEncoder:
        """The dual encoder of ``version``, loaded once."""
        with self._lock:
            if version not in self._encoders:
                log.info("loading encoder %s", version)
                self._encoders[version] = self.encoder_loader(version)
            return self._encoders[version]

    def close(self) -> None:
        self.store.close()


def open_resources(settings: Settings, *, shared: bool) -> IngestResources:
    """Resources from settings: catalog engine, lazy encoders, store access."""
    from modalign.catalog.db import make_engine, make_session_factory
    from modalign.encoders.load import load_dual_encoder

    engine = make_engine(settings.database_url, echo=settings.database.echo)
    return IngestResources(
        settings=settings,
        sessions=make_session_factory(engine),
        store=store_access(settings, shared=shared),
        encoder_loader=lambda version: load_dual_encoder(settings, version),
    )
