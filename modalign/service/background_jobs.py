"""Jobs started through the API are planned and dispatched off the request thread.

One background thread takes job ids from a queue and calls the ingestion engine's ``resume``
(plan what is not planned yet, then dispatch every unfinished batch). The dispatcher is:

- broker mode ``inprocess``: the ingestion's :class:`InProcessDispatcher`, run in this thread, with
  the API's own store instance (qdrant-edge shards are owned by one process) and the API's query
  encoder reused when the job embeds with the same model version;
- broker mode ``celery``: the :class:`CeleryDispatcher`, which only sends tasks by name.

Batches are handed to the dispatcher one at a time, so the backlog is known (the queue depth shown
for in-process mode) and shutdown stops between batches: what is left stays pending in the catalog
and ``POST /v1/jobs/{id}/resume`` (or ``modalign jobs resume``) finishes it. A backup pauses the
runner between batches too (:meth:`BackgroundJobs.pause`), so the catalog and the store it copies
agree.

The service holds the jobs it created or resumed under one lease (owner role ``api``, see
:mod:`modalign.ingest.lease`) from the request on, so a job waiting in this thread's queue is not
reported interrupted; a job is given up when its run ends (handed to the Celery queue once its
batches are sent) and at shutdown, so what is left is reported interrupted at once. A job another
process takes over (forced) is dropped here before its next batch.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import JobStatus
from modalign.config import Settings
from modalign.errors import JobLeaseError
from modalign.ingest.lease import LeaseKeeper
from modalign.ingest.owners import Owner, Role
from modalign.search.pause import WritePause
from modalign.search.store import VectorStore

if TYPE_CHECKING:
    from modalign.encoders.dual import DualEncoder
    from modalign.ingest.dispatch import Dispatcher
    from modalign.ingest.resources import IngestResources

log = logging.getLogger(__name__)

STOP = -1
JOIN_TIMEOUT_S = 60.0


class SharedStore:
    """Store access for in-process batches: the API's open store, never closed by them."""

    def __init__(self, store: VectorStore) -> None:
        self.store = store

    @contextmanager
    def use(self) -> Iterator[VectorStore]:
        yield self.store

    def close(self) -> None:
        """The API closes its store itself, at shutdown."""


class BackgroundJobs:
    """A single background thread that plans and dispatches jobs (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        dispatcher: Dispatcher,
        readers: sessionmaker[Session] | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.inner = dispatcher
        self.leases = LeaseKeeper(
            sessions, Owner.this_process(Role.API), settings.ingest, readers=readers
        )
        self._queue: queue.Queue[int] = queue.Queue()
        self._stopping = threading.Event()
        self._backlog = 0
        self._lock = threading.Lock()
        self._batches = WritePause()
        self._thread = threading.Thread(target=self._loop, name="modalign-jobs", daemon=True)
        self._thread.start()

    @property
    def backlog(self) -> int:
        """Batches handed over but not run yet, plus jobs waiting to be planned."""
        with self._lock:
            return self._backlog + self._queue.qsize()

    def submit(self, job_id: int) -> None:
        """Plan (if needed) and dispatch the job's unfinished batches, in the background; the
        job was created under :attr:`leases` or taken over with :meth:`take_over`."""
        self.leases.hold(job_id)
        self._queue.put(job_id)

    def take_over(self, job_id: int, *, force: bool = False) -> None:
        """Hold the job here; JobLeaseError if another live process holds it (unless forced)."""
        self.leases.take_over(job_id, force=force)

    def pause(self) -> AbstractContextManager[None]:
        """No batch runs inside the block: the one running now finishes first, the next waits."""
        return self._batches.paused()

    def close(self) -> None:
        """Stop after the batch running now; unfinished work stays pending in the catalog."""
        self._stopping.set()
        self._queue.put(STOP)
        self._thread.join(JOIN_TIMEOUT_S)
        if self._thread.is_alive():
            log.warning("job thread still busy after %.0f s; leaving it", JOIN_TIMEOUT_S)
        self.leases.close()

    def dispatch(self, job_id: int, batches: Sequence[int]) -> None:
        """The Dispatcher ``resume`` calls: hand batches on one by one, counting the backlog."""
        remaining = len(batches)
        self._add_backlog(remaining)
        try:
            for batch_no in batches:
                if self._stopping.is_set():
                    log.info("job %d: stopping before batch %d (shutdown)", job_id, batch_no)
                    return
                self.leases.check(job_id)
                with self._batches.writing():
                    self.inner.dispatch(job_id, [batch_no])
                remaining -= 1
                self._add_backlog(-1)
        finally:
            self._add_backlog(-remaining)

    def _add_backlog(self, n: int) -> None:
        with self._lock:
            self._backlog += n

    def _loop(self) -> None:
        while (job_id := self._queue.get()) != STOP:
            if not self._stopping.is_set():
                self._run(job_id)

    def _run(self, job_id: int) -> None:
        from modalign.ingest.jobs import resume

        if not self.leases.holds(job_id):
            log.warning("job %d: taken over by another process before it ran here", job_id)
            return
        sent = False
        try:
            resume(self.settings, self.sessions, self, job_id)
            sent = self.settings.broker.mode == "celery" and not self._stopping.is_set()
        except JobLeaseError as exc:
            log.warning("%s", exc)  # its new holder runs it
        except Exception as exc:
            log.exception("job %d failed", job_id)
            self._fail(job_id, f"{type(exc).__name__}: {exc}")
        finally:
            self._give_up(job_id, sent=sent)

    def _give_up(self, job_id: int, *, sent: bool) -> None:
        if sent:
            self.leases.hand_to_queue(job_id)
        else:
            self.leases.release(job_id)

    def _fail(self, job_id: int, reason: str) -> None:
        try:
            with session_scope(self.sessions) as session:
                repo.set_job_status(
                    session=session, job_id=job_id, status=JobStatus.FAILED, error=reason
                )
        except Exception:
            log.exception("could not record the failure of job %d", job_id)


def make_dispatcher(
    settings: Settings,
    sessions: sessionmaker[Session],
    store: VectorStore,
    query_encoder: Callable[[], DualEncoder | None],
) -> Dispatcher:
    """The ingestion dispatcher for the broker mode (see the module docstring)."""
    if settings.broker.mode == "celery":
        from modalign.ingest.dispatch import CeleryDispatcher

        return CeleryDispatcher(settings)
    from modalign.ingest.dispatch import InProcessDispatcher

    return InProcessDispatcher(api_resources(settings, sessions, store, query_encoder))


def api_resources(
    settings: Settings,
    sessions: sessionmaker[Session],
    store: VectorStore,
    query_encoder: Callable[[], DualEncoder | None],
) -> IngestResources:
    """What in-process batches and edits use in the service: its catalog, its own store, and
    the query encoder when the work embeds with the same model version."""
    from modalign.encoders.load import load_dual_encoder
    from modalign.ingest.resources import IngestResources

    def encoder_for(version: str) -> DualEncoder:
        current = query_encoder()
        if current is not None and current.version == version:
            return current
        return load_dual_encoder(settings, version)

    return IngestResources(
        settings=settings, sessions=sessions, store=SharedStore(store), encoder_loader=encoder_for
    )
