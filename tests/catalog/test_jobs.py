"""Jobs and job items: planning, item outcomes, counters, completion, failures."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import db, repo
from modalign.catalog.models import ItemStatus, Job, JobKind, JobStatus, utcnow
from modalign.catalog.repo import ItemUpdate, NewJobItem
from modalign.errors import NotFoundError

from .helpers import make_asset


def new_job(factory: sessionmaker[Session], items: int = 0, per_batch: int = 4) -> Job:
    with db.session_scope(factory) as session:
        job = repo.create_job(
            session=session, kind=JobKind.INGEST, source_spec={"kind": "folder", "path": "/x"},
            dataset="demo", tags=["t1"],
        )
        planned = [
            NewJobItem(uri=f"/x/{i}.png", batch_no=i // per_batch, spec={"captions": [str(i)]})
            for i in range(items)
        ]
        repo.add_job_items(session=session, job_id=job.id, items=planned)
    return job


def read_job(factory: sessionmaker[Session], job_id: int) -> Job:
    with db.session_scope(factory) as session:
        return repo.get_job(session=session, job_id=job_id)


def outcomes(factory: sessionmaker[Session], updates: list[ItemUpdate]) -> dict[ItemStatus, int]:
    with db.session_scope(factory) as session:
        return repo.mark_items(session=session, updates=updates)


def test_create_get_list(session_factory: sessionmaker[Session]) -> None:
    first = new_job(session_factory)
    second = new_job(session_factory)
    with db.session_scope(session_factory) as session:
        repo.set_job_status(session=session, job_id=second.id, status=JobStatus.RUNNING)
        newest_first = [j.id for j in repo.list_jobs(session=session)]
        running = [j.id for j in repo.list_jobs(session=session, status=JobStatus.RUNNING)]
        paged = [j.id for j in repo.list_jobs(session=session, limit=1, offset=1)]
    job = read_job(session_factory, first.id)
    assert (job.kind, job.status, job.dataset, job.tags) == ("ingest", "pending", "demo", ["t1"])
    assert job.source_spec == {"kind": "folder", "path": "/x"}
    assert job.created_at.tzinfo is not None
    assert newest_first == [second.id, first.id]
    assert running == [second.id]
    assert paged == [first.id]


def test_items_get_consecutive_seq_and_grow_total(session_factory: sessionmaker[Session]) -> None:
    job = new_job(session_factory, items=6)
    with db.session_scope(session_factory) as session:
        repo.add_job_items(session=session, job_id=job.id, items=[NewJobItem(uri="/x/late.png")])
        items = repo.pending_items(session=session, job_id=job.id)
        batch_one = repo.pending_items(session=session, job_id=job.id, batch_no=1)
    assert [i.seq for i in items] == list(range(7))
    assert items[-1].uri == "/x/late.png"
    assert [i.uri for i in batch_one] == ["/x/4.png", "/x/5.png"]
    assert batch_one[0].spec == {"captions": ["4"]}
    assert read_job(session_factory, job.id).total_items == 7


def test_mark_items_counts_only_real_transitions(session_factory: sessionmaker[Session]) -> None:
    job = new_job(session_factory, items=4)
    with db.session_scope(session_factory) as session:
        ids = [i.id for i in repo.pending_items(session=session, job_id=job.id)]
        asset = make_asset(session, "a")
    batch = [
        ItemUpdate(ids[0], ItemStatus.DONE, asset_id=asset.id),
        ItemUpdate(ids[1], ItemStatus.FAILED, error="truncated PNG"),
        ItemUpdate(ids[2], ItemStatus.SKIPPED),
        ItemUpdate(ids[3], ItemStatus.PENDING, error="timeout, will retry"),
    ]
    first = outcomes(session_factory, batch)
    redelivered = outcomes(session_factory, batch)
    assert first == {ItemStatus.DONE: 1, ItemStatus.FAILED: 1, ItemStatus.SKIPPED: 1,
                     ItemStatus.PENDING: 1}
    assert redelivered == {ItemStatus.DONE: 0, ItemStatus.FAILED: 0, ItemStatus.SKIPPED: 0,
                           ItemStatus.PENDING: 1}
    with db.session_scope(session_factory) as session:
        counts = repo.job_item_status_counts(session=session, job_id=job.id)
        retried = repo.pending_items(session=session, job_id=job.id)
        failures = repo.list_failures(session=session, job_id=job.id)
    assert counts == {ItemStatus.PENDING: 1, ItemStatus.DONE: 1, ItemStatus.FAILED: 1,
                      ItemStatus.SKIPPED: 1}
    assert [(i.id, i.attempts, i.error) for i in retried] == [(ids[3], 2, "timeout, will retry")]
    assert [(f.id, f.error, f.attempts) for f in failures] == [(ids[1], "truncated PNG", 1)]


def test_mark_items_keeps_a_known_asset(session_factory: sessionmaker[Session]) -> None:
    job = new_job(session_factory, items=1)
    with db.session_scope(session_factory) as session:
        item = repo.pending_items(session=session, job_id=job.id)[0]
        asset = make_asset(session, "kept")
    outcomes(session_factory, [ItemUpdate(item.id, ItemStatus.PENDING, asset_id=asset.id)])
    outcomes(session_factory, [ItemUpdate(item.id, ItemStatus.DONE)])
    with db.session_scope(session_factory) as session:
        assert repo.job_item_status_counts(session=session, job_id=job.id)[ItemStatus.DONE] == 1
        done = session.get(type(item), item.id)
    assert done is not None and done.asset_id == asset.id and done.attempts == 2


def test_counters_and_completion(session_factory: sessionmaker[Session]) -> None:
    job = new_job(session_factory, items=3)
    with db.session_scope(session_factory) as session:
        assert repo.set_job_status(session=session, job_id=job.id, status=JobStatus.RUNNING)
        repo.increment_job_counters(session=session, job_id=job.id, done=1, new_points=4)
        assert not repo.finish_job_if_complete(session=session, job_id=job.id)
        repo.increment_job_counters(session=session, job_id=job.id, done=1, failed=1, new_points=3)
        assert repo.finish_job_if_complete(session=session, job_id=job.id)
        assert not repo.finish_job_if_complete(session=session, job_id=job.id)
    done = read_job(session_factory, job.id)
    assert (done.done_items, done.failed_items, done.skipped_items, done.new_points) == (2, 1, 0, 7)
    assert done.status == JobStatus.COMPLETED_WITH_ERRORS
    assert done.started_at is not None and done.finished_at is not None
    assert done.finished_at >= done.started_at


def test_final_status_follows_the_outcomes(session_factory: sessionmaker[Session]) -> None:
    cases = [({"done": 2}, JobStatus.COMPLETED), ({"skipped": 2}, JobStatus.COMPLETED),
             ({"failed": 2}, JobStatus.FAILED), ({"done": 1, "failed": 1},
                                                 JobStatus.COMPLETED_WITH_ERRORS)]
    for deltas, expected in cases:
        job = new_job(session_factory, items=2)
        with db.session_scope(session_factory) as session:
            repo.increment_job_counters(session=session, job_id=job.id, **deltas)
            assert repo.finish_job_if_complete(session=session, job_id=job.id)
        assert read_job(session_factory, job.id).status == expected


def test_finished_jobs_stay_finished(session_factory: sessionmaker[Session]) -> None:
    job = new_job(session_factory, items=2)
    with db.session_scope(session_factory) as session:
        assert repo.set_job_status(
            session=session, job_id=job.id, status=JobStatus.CANCELLED, error="by user"
        )
        assert not repo.set_job_status(session=session, job_id=job.id, status=JobStatus.RUNNING)
        repo.increment_job_counters(session=session, job_id=job.id, done=2)
        assert not repo.finish_job_if_complete(session=session, job_id=job.id)
    cancelled = read_job(session_factory, job.id)
    assert (cancelled.status, cancelled.error) == ("cancelled", "by user")
    assert cancelled.finished_at is not None and cancelled.started_at is None


def test_list_failures_pages_in_job_order(session_factory: sessionmaker[Session]) -> None:
    job = new_job(session_factory, items=6)
    with db.session_scope(session_factory) as session:
        ids = [i.id for i in repo.pending_items(session=session, job_id=job.id)]
    outcomes(session_factory, [ItemUpdate(i, ItemStatus.FAILED, error=f"bad {i}") for i in ids[1:]])
    with db.session_scope(session_factory) as session:
        page = repo.list_failures(session=session, job_id=job.id, limit=2, offset=1)
    assert [f.id for f in page] == ids[2:4]


def test_unknown_job(session_factory: sessionmaker[Session]) -> None:
    with pytest.raises(NotFoundError), db.session_scope(session_factory) as session:
        repo.get_job(session=session, job_id=999)
    with pytest.raises(NotFoundError), db.session_scope(session_factory) as session:
        repo.increment_job_counters(session=session, job_id=999, done=1)


def leased_job(factory: sessionmaker[Session], lease: repo.Lease) -> Job:
    with db.session_scope(factory) as session:
        return repo.create_job(
            session=session, kind=JobKind.INGEST, source_spec={}, dataset="d", lease=lease
        )


MINE, THEIRS = repo.Lease("cli:h:1:9", 30), repo.Lease("cli:h:2:9", 30)


def mine_and_theirs(factory: sessionmaker[Session]) -> tuple[Job, Job]:
    return leased_job(factory, MINE), leased_job(factory, THEIRS)


def renew(
    factory: sessionmaker[Session], lease: repo.Lease, ids: list[int], *, claim: bool = False
) -> set[int]:
    with db.session_scope(factory) as session:
        return repo.renew_leases(session=session, lease=lease, job_ids=ids, claim=claim)


def test_a_job_created_under_a_lease_records_it(session_factory: sessionmaker[Session]) -> None:
    job = read_job(session_factory, leased_job(session_factory, repo.Lease("cli:h:1:9", 30)).id)
    assert job.owner == "cli:h:1:9"
    assert job.heartbeat_at is not None and job.lease_expires_at is not None
    assert (job.lease_expires_at - job.heartbeat_at).total_seconds() == 30
    assert read_job(session_factory, new_job(session_factory).id).owner is None


def test_taking_over_is_a_compare_and_set(session_factory: sessionmaker[Session]) -> None:
    job = read_job(session_factory, leased_job(session_factory, repo.Lease("cli:h:1:9", 30)).id)
    takers = [repo.Lease("cli:h:2:9", 30), repo.Lease("cli:h:3:9", 30)]
    won = []
    for lease in takers:  # both read the lease before either wrote: only the first wins
        with db.session_scope(session_factory) as session:
            won.append(repo.take_over_job(
                session=session, job_id=job.id, lease=lease, holder=job.owner,
                expires=job.lease_expires_at,
            ))
    assert won == [True, False]
    assert read_job(session_factory, job.id).owner == "cli:h:2:9"


def test_renewal_keeps_updated_at_and_tells_what_was_taken(
    session_factory: sessionmaker[Session],
) -> None:
    kept, taken = mine_and_theirs(session_factory)
    before = read_job(session_factory, kept.id)
    renewed = renew(session_factory, MINE, [kept.id, taken.id])
    after = read_job(session_factory, kept.id)
    assert renewed == {kept.id}
    assert after.updated_at == before.updated_at
    assert after.heartbeat_at is not None and before.heartbeat_at is not None
    assert after.heartbeat_at > before.heartbeat_at
    assert read_job(session_factory, taken.id).owner == "cli:h:2:9"


def test_claiming_takes_open_jobs_whoever_holds_them(
    session_factory: sessionmaker[Session],
) -> None:
    worker = repo.Lease("worker:h:5:9", 30)
    held, done = (leased_job(session_factory, repo.Lease("queue:h:1:9", 30)) for _ in range(2))
    with db.session_scope(session_factory) as session:
        repo.set_job_status(session=session, job_id=done.id, status=JobStatus.COMPLETED)
    assert renew(session_factory, worker, [held.id, done.id], claim=True) == {held.id}
    assert read_job(session_factory, held.id).owner == "worker:h:5:9"
    assert read_job(session_factory, done.id).owner == "queue:h:1:9"


def test_release_and_hand_over_touch_only_the_holders_jobs(
    session_factory: sessionmaker[Session],
) -> None:
    job, other = mine_and_theirs(session_factory)
    queue = repo.Lease("queue:h:1:9", 30)
    with db.session_scope(session_factory) as session:
        repo.release_leases(session=session, owner=MINE.owner, job_ids=[job.id, other.id])
        assert not repo.hand_over_job(
            session=session, job_id=other.id, holder=MINE.owner, lease=queue
        )
    released, untouched = read_job(session_factory, job.id), read_job(session_factory, other.id)
    assert released.lease_expires_at is not None and untouched.lease_expires_at is not None
    assert released.lease_expires_at <= utcnow() < untouched.lease_expires_at
    with db.session_scope(session_factory) as session:
        assert repo.hand_over_job(session=session, job_id=job.id, holder=MINE.owner, lease=queue)
    assert read_job(session_factory, job.id).owner == "queue:h:1:9"


def test_open_jobs_are_the_pending_and_running_ones(
    session_factory: sessionmaker[Session],
) -> None:
    pending, running, done = (new_job(session_factory) for _ in range(3))
    with db.session_scope(session_factory) as session:
        repo.set_job_status(session=session, job_id=running.id, status=JobStatus.RUNNING)
        repo.set_job_status(session=session, job_id=done.id, status=JobStatus.FAILED)
        assert [j.id for j in repo.open_jobs(session=session)] == [running.id, pending.id]
