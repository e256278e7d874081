"""Delete jobs: assets by id, a dataset's memberships, or the assets a payload filter matches.

``plan_delete`` resolves what a target names into removal items (see
:mod:`~modalign.ingest.removals` for the order of writes) without changing anything, so a dry run
is the same call; ``create_delete_job`` records them as a job whose batches any dispatcher runs.
A dataset is withdrawn membership by membership: an image it shares with another dataset stays,
in that one. A filter is the search's own, matched against the active version's image points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset, AssetMember, ItemStatus, Job, JobItem, JobKind
from modalign.errors import InvalidInputError, NotFoundError
from modalign.ingest.spec import Removal
from modalign.search.editing import DeleteTarget
from modalign.search.naming import Kind
from modalign.search.store import VectorStore

DELETE_BATCH = 500  # removal items per batch: no decoding or encoding, one store write per chunk
SAMPLE = 20


@dataclass
class DeletePlan:
    """The removals a target resolves to, and what they amount to."""

    removals: list[tuple[str, Removal]] = field(default_factory=list)  # (uri, removal)
    assets: int = 0  # whole assets named
    memberships: int = 0  # memberships named (their asset goes with its last one)
    sample: list[str] = field(default_factory=list)  # uris of the first few

    def add(self, uri: str, removal: Removal) -> None:
        self.removals.append((uri, removal))
        if removal.member_id is None:
            self.assets += 1
        else:
            self.memberships += 1
        if len(self.sample) < SAMPLE:
            self.sample.append(uri)


def plan_delete(
    sessions: sessionmaker[Session], store: VectorStore | None, target: DeleteTarget
) -> DeletePlan:
    """The removals ``target`` names; InvalidInputError for an empty target (unless
    ``everything``) or unknown ids, NotFoundError for a dataset with no assets."""
    _check_target(target)
    plan = DeletePlan()
    with session_scope(sessions) as session:
        ids = _asset_ids(session, store, target)
        for asset_id, uri, digest in _assets(session, ids):
            plan.add(uri, Removal(asset_id, digest))
        if target.dataset is not None:
            _add_dataset(session, plan, target.dataset, skip=set(ids))
    return plan


def _check_target(target: DeleteTarget) -> None:
    named = target.asset_ids or target.dataset is not None or target.filter is not None
    if target.everything and named:
        raise InvalidInputError("--all deletes everything: give it alone")
    if not (named or target.everything):
        raise InvalidInputError(
            "refused: name what to delete (asset ids, a dataset or a filter), or --all"
        )
    if target.filter is not None and target.filter.is_empty():
        raise InvalidInputError("refused: an empty filter matches everything; use --all")


def _asset_ids(session: Session, store: VectorStore | None, target: DeleteTarget) -> list[int]:
    """Whole assets to delete: by id (all must exist), by filter, or every one."""
    if target.everything:
        return list(session.scalars(select(Asset.id).order_by(Asset.id)))
    found = set(session.scalars(select(Asset.id).where(Asset.id.in_(target.asset_ids))))
    unknown = sorted(set(target.asset_ids) - found)
    if unknown:
        raise InvalidInputError(f"no such asset: {', '.join(map(str, unknown[:SAMPLE]))}")
    ids = list(dict.fromkeys(target.asset_ids))
    if target.filter is not None:
        if store is None:
            raise InvalidInputError("deleting by filter needs the vector store")
        points = store.scroll_all(Kind.IMAGES, filter=target.filter)
        named = set(ids)
        ids += [a for a in dict.fromkeys(int(p.payload["asset_id"]) for p in points)
                if a not in named]
    return ids


def _assets(session: Session, ids: Sequence[int]) -> list[tuple[int, str, str]]:
    rows: list[tuple[int, str, str]] = []
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        stmt = select(Asset.id, Asset.uri, Asset.content_hash).where(Asset.id.in_(chunk))
        rows += [(row.id, row.uri, row.content_hash) for row in session.execute(stmt)]
    order = {asset_id: n for n, asset_id in enumerate(ids)}
    return sorted(rows, key=lambda row: order[row[0]])


def _add_dataset(session: Session, plan: DeletePlan, dataset: str, skip: set[int]) -> None:
    stmt = (
        select(AssetMember.id, AssetMember.asset_id, AssetMember.uri, Asset.content_hash)
        .join(Asset, Asset.id == AssetMember.asset_id)
        .where(AssetMember.dataset == dataset)
        .order_by(AssetMember.id)
    )
    rows = session.execute(stmt).all()
    if not rows:
        raise NotFoundError(f"dataset {dataset!r} has no assets")
    for member_id, asset_id, uri, digest in rows:
        if asset_id not in skip:
            plan.add(uri, Removal(asset_id, digest, member_id))


def create_delete_job(
    sessions: sessionmaker[Session],
    plan: DeletePlan,
    target: DeleteTarget,
    lease: repo.Lease | None = None,
) -> int:
    """A planned delete job holding the plan's removals (nothing is removed until it runs),
    held under ``lease`` from the start."""
    with session_scope(sessions) as session:
        version = _version_id(session)
        job = repo.create_job(
            session=session, kind=JobKind.DELETE, dataset=target.dataset or "*",
            source_spec={"kind": "delete", "path": "", "target": target.describe(),
                         "planned": True},
            model_version_id=version, lease=lease,
        )
        items = [
            repo.NewJobItem(uri, n // DELETE_BATCH, removal.to_spec())
            for n, (uri, removal) in enumerate(plan.removals)
        ]
        repo.add_job_items(session=session, job_id=job.id, items=items)
        repo.finish_job_if_complete(session=session, job_id=job.id)
        return job.id


def _version_id(session: Session) -> int:
    """The version a delete job is filed under (its removals reach every version)."""
    active = repo.get_active_model_version(session=session)
    if active is not None:
        return active.id
    versions = repo.list_model_versions(session=session)
    if not versions:
        raise NotFoundError("nothing is indexed: there is no model version")
    return versions[-1].id


def pending_removals(sessions: sessionmaker[Session]) -> list[int]:
    """Ids of jobs with removal items still pending (a delete or sync cut short)."""
    stmt = (
        select(Job.id)
        .join(JobItem, JobItem.job_id == Job.id)
        .where(Job.kind.in_([JobKind.DELETE.value, JobKind.SYNC.value]))
        .where(JobItem.status == ItemStatus.PENDING.value)
        .distinct()
        .order_by(Job.id)
    )
    with session_scope(sessions) as session:
        return list(session.scalars(stmt))
