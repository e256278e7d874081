"""Dispatchers: who runs a job's batches.

- :class:`InProcessDispatcher` (the embedded default) runs them here, one after another, with the
  encoder and store loaded once; transient errors are retried with backoff.
- :class:`CeleryDispatcher` sends one task per batch *by name* to the Redis broker, so the sending
  process (CLI, API) never imports torch; workers run :func:`modalign.ingest.pipeline.run_batch`.
- :class:`~modalign.ingest.dispatch.overlapped.OverlappedDispatcher` (``modalign ingest``) runs
  them here too, encoding the next batch in a child process while this one writes the last.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from modalign.config import Settings
from modalign.errors import TransientError
from modalign.ingest.celery_app import BATCH_TASK, make_celery
from modalign.ingest.pipeline import BatchResult, run_batch
from modalign.ingest.resources import IngestResources

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0


class Dispatcher(Protocol):
    """Runs (or hands off) the given batches of a job."""

    def dispatch(self, job_id: int, batches: Sequence[int]) -> None: ...


class InProcessDispatcher:
    """Runs batches in this process, one after another, retrying transient errors with backoff.

    Stages run in sequence within a batch: measured here, reading ahead and writing behind in
    threads gained nothing, because the store's flush and the catalog writes hold the GIL that
    the encoders' Python code needs (see ``bench/ingest.py``). Any non-transient error stops the
    job; its items stay pending for ``resume``.
    """

    def __init__(
        self,
        resources: IngestResources,
        on_batch: Callable[[BatchResult], None] | None = None,
    ) -> None:
        self.resources = resources
        self.on_batch = on_batch
        self.results: list[BatchResult] = []

    def dispatch(self, job_id: int, batches: Sequence[int]) -> None:
        for batch_no in batches:
            result = self._run_with_retries(job_id, batch_no)
            self.results.append(result)
            if self.on_batch is not None:
                self.on_batch(result)

    def _run_with_retries(self, job_id: int, batch_no: int) -> BatchResult:
        retries = self.resources.settings.broker.max_retries
        for attempt in range(retries + 1):
            try:
                return run_batch(self.resources, job_id, batch_no)
            except TransientError as exc:
                if attempt == retries:
                    raise
                back_off(job_id, batch_no, exc, attempt)
        raise AssertionError("unreachable")


def back_off(job_id: int, batch_no: int, exc: TransientError, attempt: int) -> None:
    """Log a transient error of a batch and sleep before retry ``attempt`` (exponential, capped)."""
    delay = min(MAX_BACKOFF_SECONDS, 0.5 * 2**attempt)
    log.warning("batch %d of job %d: %s; retry in %.1fs", batch_no, job_id, exc, delay)
    time.sleep(delay)


class CeleryDispatcher:
    """Sends batches to Celery workers through Redis."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = make_celery(settings)
        self.watch = BrokerWatch(settings.broker.url)

    def dispatch(self, job_id: int, batches: Sequence[int]) -> None:
        for batch_no in batches:
            self.app.send_task(
                BATCH_TASK, args=[job_id, batch_no], queue=self.settings.broker.queue
            )
        log.info("job %d: sent %d batches to %s", job_id, len(batches), self.settings.broker.queue)


class BrokerWatch:
    """Notices a broker restart (Redis ``run_id`` changes): queued messages were then lost."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.run_id = self._current()

    def _current(self) -> str | None:
        import redis

        try:
            client = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
            try:
                return str(client.info("server")["run_id"])
            finally:
                client.close()
        except (redis.RedisError, OSError, KeyError):
            return None

    def restarted(self) -> bool:
        """True once per restart seen since the last call (False while the broker is down)."""
        current = self._current()
        if current is None:
            return False
        changed = self.run_id is not None and current != self.run_id
        self.run_id = current
        return changed
