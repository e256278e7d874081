"""Holding jobs: take over a job's lease, keep it renewed from a heartbeat thread, give it up.

Each process that runs jobs has one :class:`LeaseKeeper`, for its owner (a ``cli`` command, the
``api`` service or a Celery ``worker`` process; see :mod:`modalign.ingest.owners`).

- **Renewal** is one ``UPDATE jobs ... WHERE id IN (held) RETURNING id`` per heartbeat, for every
  job the process holds, from a daemon thread. On SQLite it takes the write lock
  (``BEGIN IMMEDIATE``) for one primary-key UPDATE; when a batch is being written it waits
  behind it (busy timeout), which the lease allows: it lasts several heartbeats (the settings
  refuse a heartbeat that is not shorter than the lease). A renewal that fails is logged and
  tried again at the next beat. Renewals do not touch ``updated_at`` (progress, not liveness).
- **Taking over** reads the holder in a read-only transaction first (plain ``BEGIN`` on SQLite,
  so a frozen process that holds the write lock cannot delay the refusal), refuses a job a live
  process holds unless forced, then writes the lease with a compare-and-set on what it read:
  of two processes resuming the same job at once, one gets it and the other is refused.
- **Exclusive holders** (cli, api) renew only jobs they still hold: a job another process took
  over (``--force``) is dropped at the next beat, and :meth:`LeaseKeeper.check` raises so the
  dispatcher stops before its next batch. Giving a job up (normal end, Ctrl-C, an error,
  shutdown) ends the lease at once, so an unfinished job is reported interrupted right away.
- **Claiming holders** (Celery workers) take the job at each batch's start, whoever held it,
  renew it while the batch runs, and once more at its end, leaving the lease to run out: several
  workers share a job's batches, and any of them at work keeps it alive.

Celery jobs: the process that plans and sends a job holds it (cli or api) until its batches are
sent, then hands it to the queue (role ``queue``) with a lease from that moment. A job whose
lease lapses with items pending (no worker started or finished one of its batches for a
lease's worth of seconds) is reported interrupted: every worker is gone, the broker lost the
messages, or its batches still wait behind another job's. ``resume`` re-sends its batches,
which is harmless in every one of these cases: a batch delivered twice finds its items done.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Job, utcnow
from modalign.config import IngestSettings
from modalign.errors import JobLeaseError, ModalignError
from modalign.ingest.owners import Owner, Role, describe_owner, live_holder, resume_command

log = logging.getLogger(__name__)

TAKE_OVER_ATTEMPTS = 3
T = TypeVar("T")


class LeaseKeeper:
    """The jobs one process holds, and the thread that renews their leases."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        owner: Owner,
        settings: IngestSettings,
        *,
        readers: sessionmaker[Session] | None = None,
        claim: bool = False,
    ) -> None:
        self.sessions = sessions
        self.readers = readers or sessions
        self.owner = owner
        self.lease = repo.Lease(str(owner), settings.lease_seconds)
        self.interval = settings.heartbeat_seconds
        self.claim = claim
        self._held: Counter[int] = Counter()
        self._lost: dict[int, str] = {}
        self._state = threading.Lock()  # guards _held, _lost and _thread
        self._writes = threading.Lock()  # orders renewals against releases
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def take_over(self, job_id: int, *, force: bool = False) -> None:
        """Hold the job from now on; JobLeaseError if another live process holds it (unless
        ``force``). NotFoundError if there is no such job."""
        for _ in range(TAKE_OVER_ATTEMPTS):
            job = self._read(job_id)
            holder = live_holder(job)
            if holder not in (None, self.lease.owner) and not force:
                raise JobLeaseError(held_message(job, holder))
            if self._write(partial(self._take, job=job)):
                self.hold(job_id)
                return
        raise JobLeaseError(f"job {job_id}: its lease changed hands while taking it over")

    def _take(self, session: Session, job: Job) -> bool:
        return repo.take_over_job(
            session=session, job_id=job.id, lease=self.lease, holder=job.owner,
            expires=job.lease_expires_at,
        )

    def hold(self, job_id: int) -> None:
        """Renew this job's lease from now on (it was created or taken over under it)."""
        self._hold(job_id, nested=False)

    def _hold(self, job_id: int, *, nested: bool) -> None:
        """Count a hold (``nested``: one more batch of the job runs here), or make sure of one."""
        with self._state:
            self._held[job_id] = self._held[job_id] + 1 if nested else max(self._held[job_id], 1)
            self._lost.pop(job_id, None)
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._beat_until_stopped, name="modalign-lease", daemon=True
                )
                self._thread.start()

    def release(self, job_id: int) -> None:
        """Give the job up: its lease ends now."""
        with self._writes:
            if self._drop(job_id, all_holds=True):
                self._quietly(lambda s: repo.release_leases(
                    session=s, owner=self.lease.owner, job_ids=[job_id]
                ))

    def hand_to_queue(self, job_id: int) -> None:
        """Pass a job whose batches were sent to Celery to the queue (see the module docstring)."""
        queue = repo.Lease(str(self.owner.with_role(Role.QUEUE)), self.lease.seconds)
        with self._writes:
            self._drop(job_id, all_holds=True)
            self._quietly(lambda s: repo.hand_over_job(
                session=s, job_id=job_id, holder=self.lease.owner, lease=queue
            ))

    @contextmanager
    def running(self, job_id: int) -> Iterator[None]:
        """A claiming holder's hold on the job while it runs one of its batches."""
        self._renew([job_id])
        self._hold(job_id, nested=True)
        try:
            yield
        finally:
            with self._writes:
                self._drop(job_id)
                self._renew([job_id])

    def check(self, job_id: int) -> None:
        """JobLeaseError if another process took the job over from this one."""
        with self._state:
            taker = self._lost.get(job_id)
        if taker is not None:
            raise JobLeaseError(
                f"job {job_id} was taken over by {describe_owner(taker)}; stopping here"
            )

    def holds(self, job_id: int) -> bool:
        with self._state:
            return job_id in self._held

    def beat(self) -> None:
        """Renew every held job's lease once (the heartbeat thread calls this)."""
        with self._writes:
            with self._state:
                ids = list(self._held)
            renewed = self._renew(ids)
            if renewed is not None and not self.claim:
                self._forget_lost(set(ids) - renewed)

    def close(self) -> None:
        """Stop the heartbeat and give up every job still held."""
        with self._state:
            thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None:
            thread.join(self.interval + 5)
        with self._writes:
            with self._state:
                ids = list(self._held)
                self._held.clear()
            self._quietly(lambda s: repo.release_leases(
                session=s, owner=self.lease.owner, job_ids=ids
            ))

    # -- internals ---------------------------------------------------------------------------

    def _beat_until_stopped(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def _drop(self, job_id: int, *, all_holds: bool = False) -> bool:
        """Forget one hold on the job (or all); True when none is left."""
        with self._state:
            if job_id not in self._held:
                return False
            self._held[job_id] = 0 if all_holds else self._held[job_id] - 1
            if self._held[job_id] > 0:
                return False
            del self._held[job_id]
            return True

    def _renew(self, ids: list[int]) -> set[int] | None:
        if not ids:
            return set()
        return self._quietly(lambda s: repo.renew_leases(
            session=s, lease=self.lease, job_ids=ids, claim=self.claim
        ))

    def _forget_lost(self, lost: set[int]) -> None:
        if not lost:
            return
        takers = {job_id: self._read(job_id).owner or "no process" for job_id in lost}
        with self._state:
            for job_id, taker in takers.items():
                self._held.pop(job_id, None)
                self._lost[job_id] = taker
        for job_id, taker in takers.items():
            log.warning("job %d was taken over by %s", job_id, describe_owner(taker))

    def _read(self, job_id: int) -> Job:
        with session_scope(self.readers) as session:
            return repo.get_job(session=session, job_id=job_id)

    def _write(self, work: Callable[[Session], T]) -> T:
        with session_scope(self.sessions) as session:
            return work(session)

    def _quietly(self, work: Callable[[Session], T]) -> T | None:
        """A lease write whose failure must not stop the job: logged, retried at the next beat."""
        try:
            return self._write(work)
        except ModalignError as exc:
            log.warning("could not write the leases of %s: %s", self.owner.describe(), exc)
            return None


def held_message(job: Job, holder: str) -> str:
    """Why a job cannot be taken over: who holds it, and how to take it anyway."""
    beat = ""
    if job.heartbeat_at is not None:
        age = max((utcnow() - job.heartbeat_at).total_seconds(), 0.0)
        beat = f" (last heartbeat {age:.0f} s ago)"
    return (
        f"job {job.id} is held by {describe_owner(holder)}{beat}, which is still running it; "
        f"take it over anyway with `{resume_command(job.id)} --force` "
        f"(or POST /v1/jobs/{job.id}/resume?force=true)"
    )
