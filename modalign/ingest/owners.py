"""Who holds a job, whether that process still lives, and the state a job is reported in.

An owner is written ``role:host:pid:start-token``:

- ``cli``: a ``modalign`` command running (or planning and sending) the job in its process;
- ``api``: the service's job thread (jobs it queued count as held by it too);
- ``worker``: a Celery worker process running one of the job's batches;
- ``queue``: the job's batches were sent to Celery by that process and wait for a worker; no
  process runs them, so only the lease's expiry says whether anyone took them up.

The start token is the process's start time in clock ticks since boot (``/proc/<pid>/stat``), so
a pid the kernel gave to a later process is not taken for the owner.

A job is reported ``interrupted`` when it is open (pending or running) and no live process holds
it: it has no owner, its lease lapsed, or its owner ran on this host and that process is gone
(which is known at once, without waiting for the lease). The state is derived when a job is
read, never stored: a stored state needs a sweeper to set it and is wrong whenever no sweeper
runs; deriving costs one comparison per open job, and a ``/proc`` read for owners on this host.
Filtering by a derived state (``?status=interrupted``) reads the open jobs, which are few.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy.orm import Session

from modalign.catalog import repo
from modalign.catalog.models import Job, JobState, JobStatus, utcnow

PROC = Path("/proc")
GONE_STATES = ("Z", "X")  # zombie, dead: the process has exited
STARTTIME_FIELD = 19  # field 22 of /proc/<pid>/stat, counted after the command name


class Role(StrEnum):
    CLI = "cli"
    API = "api"
    WORKER = "worker"
    QUEUE = "queue"


DESCRIPTIONS = {
    Role.CLI: "modalign command, process {pid} on {host}",
    Role.API: "the API service, process {pid} on {host}",
    Role.WORKER: "Celery worker process {pid} on {host}",
    Role.QUEUE: "the Celery queue (batches sent by process {pid} on {host})",
}


@dataclass(frozen=True)
class Owner:
    """A process that holds jobs (see the module docstring)."""

    role: Role
    host: str
    pid: int
    token: str

    def __str__(self) -> str:
        return f"{self.role}:{self.host}:{self.pid}:{self.token}"

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        """The owner written as ``text``; None if it is not in the owner format."""
        parts = text.split(":")
        if len(parts) != 4 or parts[0] not in set(Role) or not parts[2].isdigit():
            return None
        return cls(Role(parts[0]), parts[1], int(parts[2]), parts[3])

    @classmethod
    def this_process(cls, role: Role) -> Owner:
        pid = os.getpid()
        return cls(role, socket.gethostname(), pid, start_token(pid) or "-")

    def with_role(self, role: Role) -> Owner:
        return replace(self, role=role)

    def gone(self) -> bool:
        """Whether this owner's process has ended (known only on its own host)."""
        if self.role is Role.QUEUE or self.host != socket.gethostname():
            return False
        if (PROC / "self" / "stat").exists():
            return start_token(self.pid) != self.token
        return not _pid_exists(self.pid)

    def describe(self) -> str:
        return DESCRIPTIONS[self.role].format(pid=self.pid, host=self.host)


def start_token(pid: int) -> str | None:
    """The start time of process ``pid`` (None if there is no such live process)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the command name may hold spaces and parens
    if len(fields) <= STARTTIME_FIELD or fields[0] in GONE_STATES:
        return None
    return fields[STARTTIME_FIELD]


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe_owner(owner: str | None) -> str:
    """The holder of a lease in words."""
    if owner is None:
        return "no process"
    parsed = Owner.parse(owner)
    return parsed.describe() if parsed is not None else owner


def live_holder(job: Job, now: datetime | None = None) -> str | None:
    """The owner holding this open job now, or None (finished, unowned, lapsed, gone)."""
    if JobStatus(job.status).terminal or job.owner is None or job.lease_expires_at is None:
        return None
    if job.lease_expires_at <= (now or utcnow()):
        return None
    parsed = Owner.parse(job.owner)
    return None if parsed is not None and parsed.gone() else job.owner


def reported_state(job: Job, now: datetime | None = None) -> JobState:
    """The job's stored status, or interrupted when it is open and no live process holds it."""
    if not JobStatus(job.status).terminal and live_holder(job, now) is None:
        return JobState.INTERRUPTED
    return JobState(job.status)


def resume_command(job_id: int) -> str:
    return f"modalign jobs resume {job_id}"


def jobs_in_state(
    *, session: Session, state: JobState | None, limit: int = 50, offset: int = 0
) -> list[Job]:
    """Jobs reported in ``state`` (every job if None), newest first."""
    if state is None or state.terminal:
        status = JobStatus(state.value) if state is not None else None
        return repo.list_jobs(session=session, status=status, limit=limit, offset=offset)
    now = utcnow()
    matching = [job for job in repo.open_jobs(session=session) if reported_state(job, now) == state]
    return matching[offset : offset + limit]
