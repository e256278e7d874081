"""LeaseKeeper on real catalogs: heartbeats, refusals naming the holder, forced take-overs,
giving jobs up, the Celery hand-over and workers' claims."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import db, repo
from modalign.catalog.models import Job, JobKind, JobState, JobStatus
from modalign.config import IngestSettings
from modalign.errors import JobLeaseError, NotFoundError
from modalign.ingest.lease import LeaseKeeper
from modalign.ingest.owners import Owner, Role, reported_state

FAST = IngestSettings(lease_seconds=30, heartbeat_seconds=0.1)


@pytest.fixture
def keepers(session_factory: sessionmaker[Session]) -> Iterator[Callable[..., LeaseKeeper]]:
    made: list[LeaseKeeper] = []

    def make(role: Role = Role.CLI, *, claim: bool = False) -> LeaseKeeper:
        keeper = LeaseKeeper(session_factory, Owner.this_process(role), FAST, claim=claim)
        made.append(keeper)
        return keeper

    yield make
    for keeper in made:
        keeper.close()


def create(factory: sessionmaker[Session], lease: repo.Lease | None = None) -> int:
    with db.session_scope(factory) as session:
        job = repo.create_job(
            session=session, kind=JobKind.INGEST, source_spec={}, dataset="d", lease=lease
        )
        return job.id


def read(factory: sessionmaker[Session], job_id: int) -> Job:
    with db.session_scope(factory) as session:
        return repo.get_job(session=session, job_id=job_id)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_the_heartbeat_renews_a_held_job(
    session_factory: sessionmaker[Session], keepers: Callable[..., LeaseKeeper]
) -> None:
    keeper = keepers()
    job_id = create(session_factory, keeper.lease)
    first = read(session_factory, job_id).heartbeat_at
    keeper.hold(job_id)
    wait_for(lambda: read(session_factory, job_id).heartbeat_at != first, "a heartbeat")
    assert reported_state(read(session_factory, job_id)) is JobState.PENDING


def test_a_job_held_by_a_live_process_is_refused_unless_forced(
    session_factory: sessionmaker[Session], keepers: Callable[..., LeaseKeeper]
) -> None:
    holder, taker = keepers(Role.API), keepers(Role.CLI)
    job_id = create(session_factory, holder.lease)
    holder.hold(job_id)
    with pytest.raises(JobLeaseError, match=r"held by the API service, process \d+") as refused:
        taker.take_over(job_id)
    assert f"modalign jobs resume {job_id} --force" in str(refused.value)
    assert read(session_factory, job_id).owner == holder.lease.owner

    taker.take_over(job_id, force=True)
    assert read(session_factory, job_id).owner == taker.lease.owner
    holder.beat()  # the old holder learns it at its next heartbeat, and stops
    with pytest.raises(JobLeaseError, match=r"taken over by modalign command, process \d+"):
        holder.check(job_id)
    assert not holder.holds(job_id) and taker.holds(job_id)
    holder.release(job_id)  # giving up a job it lost leaves the new holder's lease alone
    assert reported_state(read(session_factory, job_id)) is JobState.PENDING


def test_an_unowned_or_released_job_is_interrupted_and_taken_over_freely(
    session_factory: sessionmaker[Session], keepers: Callable[..., LeaseKeeper]
) -> None:
    first, second = keepers(Role.CLI), keepers(Role.API)
    job_id = create(session_factory)
    assert reported_state(read(session_factory, job_id)) is JobState.INTERRUPTED
    first.take_over(job_id)
    assert reported_state(read(session_factory, job_id)) is JobState.PENDING
    first.release(job_id)
    assert reported_state(read(session_factory, job_id)) is JobState.INTERRUPTED
    second.take_over(job_id)
    assert read(session_factory, job_id).owner == second.lease.owner
    with pytest.raises(NotFoundError):
        second.take_over(999_999)


def test_closing_gives_up_every_held_job(
    session_factory: sessionmaker[Session], keepers: Callable[..., LeaseKeeper]
) -> None:
    keeper = keepers()
    ids = [create(session_factory, keeper.lease) for _ in range(2)]
    for job_id in ids:
        keeper.hold(job_id)
    keeper.close()
    assert [reported_state(read(session_factory, i)) for i in ids] == [JobState.INTERRUPTED] * 2


def test_a_sent_job_is_handed_to_the_queue(
    session_factory: sessionmaker[Session], keepers: Callable[..., LeaseKeeper]
) -> None:
    keeper = keepers()
    job_id = create(session_factory, keeper.lease)
    keeper.hold(job_id)
    keeper.hand_to_queue(job_id)
    job = read(session_factory, job_id)
    assert job.owner == str(keeper.owner.with_role(Role.QUEUE))
    assert not keeper.holds(job_id)
    assert reported_state(job) is JobState.PENDING  # until the lease lapses with no worker


def test_workers_claim_a_job_for_each_batch_and_leave_the_lease_running(
    session_factory: sessionmaker[Session], keepers: Callable[..., LeaseKeeper]
) -> None:
    sender, worker = keepers(Role.CLI), keepers(Role.WORKER, claim=True)
    job_id = create(session_factory, sender.lease)
    sender.hand_to_queue(job_id)
    with worker.running(job_id):
        assert read(session_factory, job_id).owner == worker.lease.owner
        assert worker.holds(job_id)
    assert not worker.holds(job_id)
    assert reported_state(read(session_factory, job_id)) is JobState.PENDING
    with db.session_scope(session_factory) as session:
        repo.set_job_status(session=session, job_id=job_id, status=JobStatus.COMPLETED)
    with worker.running(job_id):  # a re-delivered batch of a finished job claims nothing
        pass
    assert reported_state(read(session_factory, job_id)) is JobState.COMPLETED
