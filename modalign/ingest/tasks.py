"""The Celery worker side: the batch task, and resources loaded once per worker process.

Importing this module is for workers only (it leads to torch when a batch runs). Each worker
process builds its :class:`IngestResources` on ``worker_process_init`` (after the fork, so no
engine or model is shared across processes); the store is reached under a file lock when it lives
on local disk (see :mod:`modalign.ingest.resources`).

Each worker process also holds a :class:`~modalign.ingest.lease.LeaseKeeper` (role ``worker``,
claiming): a batch claims its job's lease when it starts, a heartbeat renews it while the batch
runs, and it is renewed once more when the batch ends, so a job with workers at it is never
reported interrupted, and one whose workers all died is, once the lease lapses (at once on the
worker's own host, where the dead process is seen).
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import asdict
from typing import Any

from celery import Celery, Task
from celery.signals import worker_process_init, worker_process_shutdown

from modalign.config import Settings
from modalign.errors import TransientError
from modalign.ingest.celery_app import BATCH_TASK, make_celery
from modalign.ingest.lease import LeaseKeeper
from modalign.ingest.owners import Owner, Role
from modalign.ingest.resources import IngestResources, open_resources

log = logging.getLogger(__name__)


class WorkerState:
    """The settings a worker was started with, and its process's resources and leases (built
    lazily, in the process that runs the batches)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._resources: IngestResources | None = None
        self._leases: LeaseKeeper | None = None
        self._lock = threading.Lock()

    def resources(self) -> IngestResources:
        with self._lock:
            if self._resources is None:
                self._resources = open_resources(self.settings, shared=True)
            return self._resources

    def leases(self) -> LeaseKeeper:
        resources = self.resources()
        with self._lock:
            if self._leases is None:
                owner = Owner.this_process(Role.WORKER)
                self._leases = LeaseKeeper(
                    resources.sessions, owner, self.settings.ingest, claim=True
                )
            return self._leases

    def warm_up(self) -> None:
        """Connect to the catalog and configure torch threads before the first batch arrives."""
        threads = self.settings.encoders.torch_threads
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        import torch

        torch.set_num_threads(threads)
        self.resources()

    def close(self) -> None:
        with self._lock:
            if self._leases is not None:
                self._leases.close()
                self._leases = None
            if self._resources is not None:
                self._resources.close()
                self._resources = None


def worker_app(settings: Settings, *, visibility_timeout: int) -> Celery:
    """The Celery app with the batch task registered, for ``modalign worker``."""
    app = make_celery(settings, visibility_timeout=visibility_timeout)
    state = WorkerState(settings)
    _register_batch_task(app, state)

    @worker_process_init.connect(weak=False)  # type: ignore[untyped-decorator]
    def _init(**_: Any) -> None:
        state.warm_up()

    @worker_process_shutdown.connect(weak=False)  # type: ignore[untyped-decorator]
    def _shutdown(**_: Any) -> None:
        state.close()

    return app


def _register_batch_task(app: Celery, state: WorkerState) -> None:
    @app.task(  # type: ignore[untyped-decorator]
        name=BATCH_TASK,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=(TransientError,),
        # 2, 4, 8, 16, 32 s: a catalog or store outage of a minute (a database restart) is ridden
        # out; with Celery's full jitter the retries could all come within a second or two
        retry_backoff=2,
        retry_backoff_max=60,
        retry_jitter=False,
        max_retries=state.settings.broker.max_retries,
    )
    def run_batch_task(task: Task, job_id: int, batch_no: int) -> dict[str, Any]:
        from modalign.ingest.pipeline import run_batch

        with state.leases().running(job_id):
            result = run_batch(state.resources(), job_id, batch_no)
        return asdict(result)
