"""Text queries that arrive together are encoded together.

One thread owns text encoding for the service: it takes every query waiting in its queue (up to
``max_batch``), encodes them in one call to the current query encoder, and hands each caller its
row. Nothing waits on a timer: a lone query is encoded at once, and queries that arrive while a
batch is running form the next batch. Under concurrent load this turns N small forward passes
competing for the same cores into one batched pass.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

import numpy as np

from modalign.errors import EncoderError, TransientError

if TYPE_CHECKING:
    from modalign.encoders.dual import DualEncoder

log = logging.getLogger(__name__)

MAX_BATCH = 32
Encoded = tuple[np.ndarray, str]
_Request = tuple[str, "Future[Encoded]"] | None


class TextBatcher:
    """Encodes text queries in batches on one background thread (see the module docstring)."""

    def __init__(
        self, current: Callable[[], DualEncoder | None], max_batch: int = MAX_BATCH
    ) -> None:
        self._current = current
        self._max_batch = max_batch
        self._queue: queue.Queue[_Request] = queue.Queue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="modalign-text-batcher",
                                        daemon=True)
        self._thread.start()

    def encode(self, text: str) -> Encoded:
        """The query's unit vector and the model version it belongs to (blocks until done)."""
        if self._closed.is_set():
            raise TransientError("the service is shutting down")
        future: Future[Encoded] = Future()
        self._queue.put((text, future))
        return future.result()

    def close(self) -> None:
        self._closed.set()
        self._queue.put(None)
        self._thread.join(10)

    def _loop(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            stop = self._drain(batch)
            self._run(batch)
            if stop:
                break
        self._fail_waiting()

    def _drain(self, batch: list[tuple[str, Future[Encoded]]]) -> bool:
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return False
            if item is None:
                return True
            batch.append(item)
        return False

    def _run(self, batch: list[tuple[str, Future[Encoded]]]) -> None:
        encoder = self._current()
        try:
            if encoder is None:
                raise TransientError("no model version is loaded")
            rows = np.asarray(encoder.encode_texts([text for text, _ in batch]), np.float32)
        except Exception as exc:
            error = exc if isinstance(exc, TransientError | EncoderError) else EncoderError(
                f"encoding the query failed: {exc}")
            for _, future in batch:
                future.set_exception(error)
            return
        for row, (_, future) in zip(rows, batch, strict=True):
            future.set_result((row, encoder.version))

    def _fail_waiting(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                item[1].set_exception(TransientError("the service is shutting down"))
