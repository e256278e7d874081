"""What the CLI (and the API) do with jobs, one object per invocation.

It migrates the catalog to head, then creates jobs, runs them in-process or sends them to
Celery workers, waits, and reads their state. Sending to Celery imports neither torch nor the
store: tasks go by name.

The process holds every job it creates, runs or sends under one lease (owner role ``cli``, see
:mod:`modalign.ingest.lease`): running or sending a job first takes it over, which fails while
another live process holds it (unless forced); a run gives the job up when it ends, however it
ends, and sending hands it to the Celery queue once its batches are sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog.models import JobKind, JobState
from modalign.config import Settings
from modalign.ingest import progress as job_state
from modalign.ingest.dispatch import CeleryDispatcher, InProcessDispatcher
from modalign.ingest.jobs import resume, wait_with_redelivery
from modalign.ingest.lease import LeaseKeeper
from modalign.ingest.owners import Owner, Role
from modalign.ingest.pipeline import BatchResult
from modalign.ingest.plan import create_ingest_job
from modalign.ingest.progress import JobProgress
from modalign.ingest.resources import IngestResources
from modalign.ingest.sources import SourceSpec

if TYPE_CHECKING:
    from modalign.encoders.dual import DualEncoder


class JobRunner:
    """Job operations bound to one catalog."""

    def __init__(self, settings: Settings) -> None:
        from modalign.catalog.db import make_engine, make_session_factory
        from modalign.catalog.migrate import upgrade

        upgrade(settings.database_url)
        self.settings = settings
        self.engine: Engine = make_engine(settings.database_url, echo=settings.database.echo)
        self.sessions: sessionmaker[Session] = make_session_factory(self.engine)
        # progress polls never queue behind workers' writes (plain BEGIN on SQLite)
        self.readers: sessionmaker[Session] = make_session_factory(self.engine, read_only=True)
        self.leases = LeaseKeeper(
            self.sessions, Owner.this_process(Role.CLI), settings.ingest, readers=self.readers
        )
        self._celery: CeleryDispatcher | None = None

    @property
    def uses_celery(self) -> bool:
        return self.settings.broker.mode == "celery"

    def create(
        self,
        source: SourceSpec,
        *,
        dataset: str | None = None,
        tags: Sequence[str] = (),
        model: str | None = None,
        sync: bool = False,
    ) -> int:
        """A new ingest (or sync) job, planned when it is started, held by this process."""
        job_id = create_ingest_job(
            self.sessions, source, dataset=dataset, tags=tags, model=model,
            lease=self.leases.lease, sync=sync,
        )
        self.leases.hold(job_id)
        return job_id

    def run_here(
        self,
        job_id: int,
        on_batch: Callable[[BatchResult], None] | None = None,
        *,
        force: bool = False,
    ) -> None:
        """Take the job over, plan (or finish planning) and run every unfinished batch in this
        process (encoding in a child process unless ``ingest.encoder_process`` is off)."""
        self.leases.take_over(job_id, force=force)
        try:
            self._run_held(job_id, self._checking_lease(job_id, on_batch))
        finally:
            self.leases.release(job_id)

    def _checking_lease(
        self, job_id: int, on_batch: Callable[[BatchResult], None] | None
    ) -> Callable[[BatchResult], None]:
        """After each batch: stop if another process took the job over; then ``on_batch``."""

        def after(result: BatchResult) -> None:
            self.leases.check(job_id)
            if on_batch is not None:
                on_batch(result)

        return after

    def _run_held(self, job_id: int, on_batch: Callable[[BatchResult], None]) -> None:
        res = self._resources()
        try:
            if self.settings.ingest.encoder_process and self._encodes(job_id):
                self._run_overlapped(res, job_id, on_batch)
            else:
                resume(self.settings, self.sessions, InProcessDispatcher(res, on_batch), job_id)
        finally:
            res.close()

    def _encodes(self, job_id: int) -> bool:
        """Whether the job embeds anything (a delete job only removes: no encoder process)."""
        return self.progress(job_id).kind != JobKind.DELETE.value

    def _run_overlapped(
        self,
        res: IngestResources,
        job_id: int,
        on_batch: Callable[[BatchResult], None] | None,
    ) -> None:
        from modalign.ingest.dispatch.overlapped import OverlappedDispatcher
        from modalign.ingest.encoder_process import EncoderProcess

        encoder = EncoderProcess(self.settings)
        try:
            dispatcher = OverlappedDispatcher(res, encoder, on_batch)
            dispatcher.prepare(job_id)  # the child loads the model while the job is planned
            resume(self.settings, self.sessions, dispatcher, job_id)
        finally:
            encoder.close()

    def _resources(self) -> IngestResources:
        from modalign.ingest.resources import store_access

        settings = self.settings

        def load(version: str) -> DualEncoder:  # torch is imported only if this runs
            from modalign.encoders.load import load_dual_encoder

            return load_dual_encoder(settings, version)

        return IngestResources(
            settings=settings,
            sessions=self.sessions,
            store=store_access(settings, shared=False),
            encoder_loader=load,
        )

    def send(self, job_id: int, *, force: bool = False) -> list[int]:
        """Take the job over, plan it and send its unfinished batches to Celery, then hand it
        to the queue; returns the batch numbers sent."""
        self.leases.take_over(job_id, force=force)
        try:
            sent = resume(self.settings, self.sessions, self.celery, job_id)
        except BaseException:
            self.leases.release(job_id)
            raise
        self.leases.hand_to_queue(job_id)
        return sent

    @property
    def celery(self) -> CeleryDispatcher:
        if self._celery is None:
            self._celery = CeleryDispatcher(self.settings)
        return self._celery

    def wait(
        self, job_id: int, on_progress: Callable[[JobProgress], None] | None = None
    ) -> JobProgress:
        """Wait for a Celery job, re-sending its batches if the broker restarts meanwhile."""
        return wait_with_redelivery(
            self.settings, self.readers, self.celery, job_id, on_progress=on_progress
        )

    def progress(self, job_id: int) -> JobProgress:
        return job_state.job_progress(self.readers, job_id)

    def jobs(self, limit: int = 20, state: JobState | None = None) -> list[JobProgress]:
        return job_state.list_progress(self.readers, limit, state)

    def failures(self, job_id: int, limit: int = 20) -> list[tuple[str, str]]:
        return job_state.job_failures(self.readers, job_id, limit)

    def close(self) -> None:
        self.leases.close()
        self.engine.dispose()
