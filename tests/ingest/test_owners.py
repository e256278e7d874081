"""Owners and the reported state: real processes (live, exited, zombie, pid reused), real jobs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import db, repo
from modalign.catalog.models import Job, JobKind, JobState, JobStatus, utcnow
from modalign.ingest.owners import (
    Owner,
    Role,
    describe_owner,
    jobs_in_state,
    live_holder,
    reported_state,
    start_token,
)


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield process
    process.kill()
    process.wait()


def owner_of(process: subprocess.Popen[bytes], role: Role = Role.CLI) -> Owner:
    token = start_token(process.pid)
    assert token is not None
    return Owner(role, socket.gethostname(), process.pid, token)


def test_an_owner_reads_back_from_its_text() -> None:
    me = Owner.this_process(Role.API)
    assert Owner.parse(str(me)) == me
    assert str(me).startswith(f"api:{socket.gethostname()}:{os.getpid()}:")
    for junk in ("", "cli:h:1", "boss:h:1:2", "cli:h:one:2", "a:b:c:d:e"):
        assert Owner.parse(junk) is None, junk
    assert describe_owner("something else") == "something else"
    assert describe_owner(None) == "no process"


def test_a_live_process_is_not_gone_and_a_killed_one_is(
    child: subprocess.Popen[bytes],
) -> None:
    owner = owner_of(child)
    assert not Owner.this_process(Role.CLI).gone()
    assert not owner.gone()
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert owner.gone()


def test_a_zombie_is_gone(child: subprocess.Popen[bytes]) -> None:
    owner = owner_of(child)
    os.kill(child.pid, signal.SIGKILL)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped
    assert owner.gone()


def test_a_reused_pid_is_not_taken_for_the_owner(child: subprocess.Popen[bytes]) -> None:
    earlier = Owner(Role.CLI, socket.gethostname(), child.pid, "1")  # started at another time
    assert earlier.gone()


def test_other_hosts_and_the_queue_are_left_to_the_lease(
    child: subprocess.Popen[bytes],
) -> None:
    owner = owner_of(child)
    child.kill()
    child.wait()
    assert Owner(Role.CLI, "elsewhere", owner.pid, owner.token).gone() is False
    assert owner.with_role(Role.QUEUE).gone() is False


def job_held_by(owner: str | None, *, seconds: float = 30, status: JobStatus = JobStatus.RUNNING,
                ) -> Job:
    now = utcnow()
    return Job(
        id=1, status=status.value, owner=owner, heartbeat_at=now,
        lease_expires_at=now + timedelta(seconds=seconds),
    )


def test_reported_state(child: subprocess.Popen[bytes]) -> None:
    live = str(owner_of(child))
    elsewhere = "cli:elsewhere:1:1"
    assert reported_state(job_held_by(live)) is JobState.RUNNING
    assert reported_state(job_held_by(live, status=JobStatus.PENDING)) is JobState.PENDING
    assert reported_state(job_held_by(elsewhere)) is JobState.RUNNING
    assert reported_state(job_held_by(elsewhere, seconds=-1)) is JobState.INTERRUPTED
    assert reported_state(job_held_by(None)) is JobState.INTERRUPTED
    assert reported_state(job_held_by(live, seconds=-1)) is JobState.INTERRUPTED
    finished = job_held_by(None, status=JobStatus.COMPLETED)
    assert reported_state(finished) is JobState.COMPLETED and live_holder(finished) is None
    child.kill()
    child.wait()
    assert reported_state(job_held_by(live)) is JobState.INTERRUPTED  # at once, lease or not
    assert live_holder(job_held_by(live)) is None


def test_jobs_in_state_filters_on_the_derived_state(
    session_factory: sessionmaker[Session],
) -> None:
    me = repo.Lease(str(Owner.this_process(Role.CLI)), 30)
    gone = repo.Lease("cli:elsewhere:1:1", -1)
    with db.session_scope(session_factory) as session:
        ids = {
            name: repo.create_job(
                session=session, kind=JobKind.INGEST, source_spec={}, dataset=name, lease=lease
            ).id
            for name, lease in (("a", gone), ("b", me), ("c", gone), ("d", None), ("e", me))
        }
        repo.set_job_status(session=session, job_id=ids["e"], status=JobStatus.RUNNING)
        repo.set_job_status(session=session, job_id=ids["c"], status=JobStatus.COMPLETED)

    def names(state: JobState | None, **paging: int) -> list[str]:
        with db.session_scope(session_factory) as session:
            return [j.dataset for j in jobs_in_state(session=session, state=state, **paging)]

    assert names(JobState.INTERRUPTED) == ["d", "a"]
    assert names(JobState.INTERRUPTED, limit=1, offset=1) == ["a"]
    assert names(JobState.PENDING) == ["b"]
    assert names(JobState.RUNNING) == ["e"]
    assert names(JobState.COMPLETED) == ["c"]
    assert names(None) == ["e", "d", "c", "b", "a"]


def test_job_states_are_the_statuses_and_interrupted() -> None:
    assert {s.value for s in JobState} == {s.value for s in JobStatus} | {"interrupted"}
    assert all(JobState(s.value).terminal == s.terminal for s in JobStatus)
    assert not JobState.INTERRUPTED.terminal
