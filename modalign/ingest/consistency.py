"""Did a crash lose or duplicate anything? The catalog against the store, as a crash leaves them.

Built on :func:`modalign.ingest.check.check` (the points the catalog says a version holds, against
the points it holds). A crash may leave, until the batch it cut short is retried, the store and
the catalog apart in ways the write order allows (:mod:`modalign.ingest.write`):

- *pending*: points of assets not marked embedded yet (their points written or not, their
  outcome not), points of an embedded asset's new captions (recorded with the outcome), payloads
  of such assets not relabelled yet: the retry settles them;
- *lost*: a point of an asset marked embedded that the store lacks, which no retry rewrites;
- *extra*: a point no catalogued asset accounts for, which nothing removes.

:func:`check_consistency` counts them for one version, and :func:`check_job` whether a job's
counters match its items (each item counted once); the crash tests and ``bench/faults.py`` use
both. A finished job leaves nothing pending.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset, AssetEmbedding, ItemStatus, JobItem
from modalign.ingest.check import check
from modalign.search.naming import Kind
from modalign.search.store import VectorStore


@dataclass(frozen=True)
class Consistency:
    """One version after a crash (see the module docstring)."""

    assets: int
    embedded: int
    image_points: int
    caption_points: int
    lost: int
    extra: int
    pending: int

    @property
    def complete(self) -> bool:
        """Nothing lost, extra or pending, every asset embedded: a finished state."""
        return (self.lost, self.extra, self.pending) == (0, 0, 0) and self.assets == self.embedded


def check_consistency(
    sessions: sessionmaker[Session], store: VectorStore, version: str
) -> Consistency:
    """The version's points against the catalog, sorted into lost, extra and pending."""
    report = next((v for v in check(sessions, store).versions if v.version == version), None)
    with session_scope(sessions) as session:
        hashes = set(session.scalars(select(Asset.content_hash)))
        version_id = repo.get_model_version(session=session, ref=version).id
        marked = set(
            session.scalars(
                select(AssetEmbedding.asset_id).where(AssetEmbedding.model_version_id == version_id)
            )
        )
    if report is None:  # no collections yet: nothing written, nothing marked
        return Consistency(len(hashes), len(marked), 0, 0, len(marked), 0, 0)
    lost, extra, pending = 0, 0, 0
    for kind in Kind:
        result = report.of(kind)
        missing = [report.expected[kind][pid].asset_id for pid in result.missing]
        owners = _owners(store, kind, version, result.orphans)
        missing_marked = sum(asset in marked for asset in missing)
        orphaned = sum(owner not in hashes for owner in owners)
        lost += missing_marked
        extra += orphaned
        pending += len(missing) - missing_marked + len(owners) - orphaned + len(result.mismatched)
    images, captions = report.images.store, report.captions.store
    return Consistency(len(hashes), len(marked), images, captions, lost, extra, pending)


def _owners(store: VectorStore, kind: Kind, version: str, ids: list[str]) -> list[str]:
    """The content hash each point's payload names (the image it belongs to)."""
    records = store.retrieve(kind, ids, version=version) if ids else []
    return [str(record.payload.get("content_hash")) for record in records]


@dataclass(frozen=True)
class JobCheck:
    """A job's status and counters beside the statuses its items hold."""

    status: str
    total: int
    counted: dict[ItemStatus, int]  # the job's done / failed / skipped counters
    items: dict[ItemStatus, int]  # its items by status
    new_points: int

    @property
    def counters_agree(self) -> bool:
        """Every finished item counted once, and the total is the number of items."""
        finished = {s: n for s, n in self.items.items() if s is not ItemStatus.PENDING}
        return self.counted == finished and self.total == sum(self.items.values())


def check_job(sessions: sessionmaker[Session], job_id: int) -> JobCheck:
    """The job's counters and its items' statuses (see :class:`JobCheck`)."""
    with session_scope(sessions) as session:
        job = repo.get_job(session=session, job_id=job_id)
        rows = session.execute(
            select(JobItem.status, func.count())
            .where(JobItem.job_id == job_id)
            .group_by(JobItem.status)
        ).all()
        items = {status: 0 for status in ItemStatus}
        items.update({ItemStatus(status): int(n) for status, n in rows})
        counted = {
            ItemStatus.DONE: job.done_items,
            ItemStatus.FAILED: job.failed_items,
            ItemStatus.SKIPPED: job.skipped_items,
        }
        return JobCheck(job.status, job.total_items, counted, items, job.new_points)
