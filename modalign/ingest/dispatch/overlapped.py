"""In-process jobs with the encoder in a child process: batch n is encoded while this process
writes batch n-1 and reads batch n+1.

The batch stages are those of :mod:`modalign.ingest.pipeline`, in this order here::

    read n+1, skip n+1, submit n+1 to the encoder  |  child: encode n (then n+1, queued)
    receive n, write n                             |
    read n+2, ...

so the child always has the next batch queued while this process, the only owner of the catalog
writer and the vector store, writes and reads. At most ``READ_AHEAD + 1`` batches are held
decoded. Outcomes are the sequential path's, with one difference a Celery worker pool shares: a
batch's skip lookup runs before the previous batch is written, so an image repeated in the next
batch is encoded again and dropped at its write (``write._drop_images_embedded_meanwhile``); the
points and assets are the same.

Errors: a :class:`~modalign.errors.TransientError` in any stage drops what is in flight and runs
again from the oldest unwritten batch, with backoff (at most ``broker.max_retries`` times in a
row without progress); any other error (an :class:`~modalign.errors.EncoderError` from a broken
encoder, say) stops the job with its unwritten items pending, as in
:class:`~modalign.ingest.dispatch.InProcessDispatcher`.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from modalign.errors import TransientError
from modalign.faults import fault_point
from modalign.ingest.dispatch import back_off
from modalign.ingest.encode import apply_outputs, inputs_of
from modalign.ingest.encoder_process import EncoderProcess
from modalign.ingest.pipeline import (
    BatchResult,
    StagedBatch,
    job_version,
    read_stage,
    skip_stage,
    write_stage,
)
from modalign.ingest.resources import IngestResources

log = logging.getLogger(__name__)

READ_AHEAD = 1  # batches read (and queued at the encoder) beyond the one being written


@dataclass
class _InFlight:
    staged: StagedBatch
    submitted: bool  # a reply is owed by the encoder


class OverlappedDispatcher:
    """Runs batches here, encoding in an :class:`EncoderProcess` (see the module docstring)."""

    def __init__(
        self,
        resources: IngestResources,
        encoder: EncoderProcess,
        on_batch: Callable[[BatchResult], None] | None = None,
    ) -> None:
        self.resources = resources
        self.encoder = encoder
        self.on_batch = on_batch
        self.results: list[BatchResult] = []

    def prepare(self, job_id: int) -> None:
        """Have the child load the job's model version now (e.g. while the job is planned)."""
        self.encoder.load(job_version(self.resources, job_id))

    def dispatch(self, job_id: int, batches: Sequence[int]) -> None:
        todo = deque(batches)
        retries = self.resources.settings.broker.max_retries
        attempt = 0
        while todo:
            left = len(todo)
            try:
                self._run(job_id, todo)
            except TransientError as exc:
                self.encoder.drain()
                attempt = 0 if len(todo) < left else attempt
                if attempt >= retries:
                    raise
                back_off(job_id, todo[0], exc, attempt)
                attempt += 1
            except Exception:
                self.encoder.drain()
                raise

    def _run(self, job_id: int, todo: deque[int]) -> None:
        """Run the batches of ``todo`` in order, removing each once written."""
        in_flight: deque[_InFlight] = deque()
        for batch_no in list(todo):
            in_flight.append(self._start(job_id, batch_no))
            if len(in_flight) > READ_AHEAD:
                self._finish(in_flight.popleft(), todo)
        while in_flight:
            self._finish(in_flight.popleft(), todo)

    def _start(self, job_id: int, batch_no: int) -> _InFlight:
        """Read and skip a batch, and queue its encoding."""
        staged = skip_stage(self.resources, read_stage(self.resources, job_id, batch_no))
        if staged.target is None or not staged.works:
            return _InFlight(staged, submitted=False)
        self.encoder.submit(staged.target.version, inputs_of(staged.works))
        fault_point("encode")  # with a delay, the kill lands while the child encodes
        return _InFlight(staged, submitted=True)

    def _finish(self, flight: _InFlight, todo: deque[int]) -> None:
        """Wait for a batch's vectors, then write it."""
        staged = flight.staged
        if flight.submitted:
            with staged.timer.stage("encode_wait"):
                reply = self.encoder.receive()
            apply_outputs(staged.works, reply.outputs)
            staged.timer.seconds["encode"] = reply.seconds
        result = write_stage(self.resources, staged)
        todo.popleft()  # batches are finished in the order of ``todo``
        self.results.append(result)
        if self.on_batch is not None:
            self.on_batch(result)
