"""The writer stage: assets and captions, then points, then the batch's outcome.

0. New images near-duplicating an indexed one or an earlier one of the batch are found in the
   store (:mod:`~modalign.ingest.duplicates`; no transaction open); under ``skip`` those new to
   the catalog are left out here, their items skipped in step 3.
1. One short transaction upserts the assets, their memberships (dataset and file of each item,
   with what it offered: :mod:`~modalign.catalog.repo.members`), their near-duplicate relations
   and captions (their ids, datasets and caption positions go into the payloads). The new
   captions of an asset already embedded in the version are not recorded yet, only given the
   positions they will have.
2. Both collections are upserted, durable when the call returns, with no transaction open: a
   store flush takes a third of a second, and on SQLite every transaction holds the database's
   write lock, so holding one across the upsert would stall every other reader and writer.
   Assets already embedded whose datasets or tags changed (an image ingested again under
   another dataset or with new tags, or one a moved membership left) get their new image fields
   in every version embedding them, without new vectors (:func:`~modalign.ingest.payloads.relabel`):
   every such asset of the batch whose points' fields differ from the catalog's, so that a retry
   relabels what a crash left stale although the catalog change is already recorded.
3. One transaction records those captions, the embedded marks, the item outcomes and the job
   counters together, and closes the job when it was the last batch. An item whose image was
   already embedded is ``done`` when it recorded something (a membership, tags), ``skipped``
   when nothing changed.

A crash before step 3 leaves assets without embedded marks and the items pending: the retry
sees the assets as not embedded, re-encodes them and overwrites the same points (their ids come
from content), so nothing is lost or counted twice; memberships are recorded again as they are.
An embedded asset keeps its mark, so its new captions are recorded only with the outcome:
recorded in step 1, the retry would find them in the catalog, take them for embedded and never
write their points. Until the retry, a crash after step 2 leaves their points in the store ahead
of their rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset, ItemStatus
from modalign.config import PathsSettings
from modalign.faults import fault_point
from modalign.ingest.duplicates import (
    Original,
    Policy,
    find_near_duplicates,
    relation_rows,
    skip_reason,
    skippable,
)
from modalign.ingest.payloads import (
    caption_payload,
    catalog_payloads,
    embedded_versions,
    relabel,
    stale_versions,
)
from modalign.ingest.removals import RemovalPlan, plan_removals, remove_points, remove_rows
from modalign.ingest.resources import IngestResources
from modalign.ingest.skip import AssetWork
from modalign.ingest.spec import CATALOG_SOURCE, Removal, entry_uri
from modalign.ingest.timing import StageTimer
from modalign.ingest.validate import Failure
from modalign.search.naming import Kind, caption_point_id, image_point_id
from modalign.search.schema import ImagePayload
from modalign.search.sparse import KeywordEncoder, image_text
from modalign.search.store import PointIn

SOURCE_CHARS, SPLIT_CHARS = 64, 32


@dataclass(frozen=True)
class BatchTarget:
    """Where a batch goes: its job, the job's dataset/tags/source, and the model version."""

    job_id: int
    dataset: str
    tags: tuple[str, ...]
    source_kind: str
    version: str
    version_id: int
    dim: int
    root: Path | None = None  # every file of the job is read under it (None: catalogued assets)


@dataclass(frozen=True)
class WriteOutcome:
    done: int
    failed: int
    skipped: int
    new_points: int
    finished_job: bool


@dataclass
class Recorded:
    """What the first transaction wrote: the points to upsert and the points to relabel."""

    images: list[PointIn] = field(default_factory=list)
    captions: list[PointIn] = field(default_factory=list)
    assets: dict[str, int] = field(default_factory=dict)  # content hash -> asset id
    changed: set[int] = field(default_factory=set)  # assets whose membership or tags changed
    left: set[int] = field(default_factory=set)  # assets a moved membership left
    relabel: dict[int, ImagePayload] = field(default_factory=dict)  # candidates, by asset
    relabel_versions: dict[str, set[int]] = field(default_factory=dict)
    relabelled: set[int] = field(default_factory=set)  # the candidates whose points were stale
    retracted: list[str] = field(default_factory=list)  # caption points of retracted captions
    later: dict[int, list[str]] = field(default_factory=dict)  # captions recorded in step 3
    skipped: dict[str, str] = field(default_factory=dict)  # near-duplicates left out: reasons

    @property
    def points(self) -> int:
        return len(self.images) + len(self.captions)


def write_batch(
    res: IngestResources,
    target: BatchTarget,
    works: Sequence[AssetWork],
    failures: Sequence[Failure],
    timer: StageTimer | None = None,
    removals: Sequence[tuple[int, Removal]] = (),
) -> WriteOutcome:
    """Record the batch (see the module docstring and :mod:`~modalign.ingest.removals` for its
    removal items); returns what changed. The store part (with any wait for the writer lock) is
    timed as ``upsert`` on ``timer``, the near-duplicate search as ``near_duplicates``."""
    good = [w for w in works if w.error is None]
    policy = Policy.of(res.settings.ingest)
    with (timer or StageTimer()).stage("near_duplicates"):
        originals = _near_duplicates(res, target, good, policy)
    left_out = {w.content_hash for w in good if w.content_hash in originals
                and skippable(w, policy)}
    with session_scope(res.sessions) as session:
        _drop_images_embedded_meanwhile(session, target, good)
        kept = [w for w in good if w.content_hash not in left_out]
        recorded = _record_assets(
            session, res.settings.paths, target, kept, res.keywords.get()
        )
        _record_near_duplicates(session, target, kept, originals, recorded)
        recorded.skipped = {
            h: skip_reason(originals[h], recorded.assets) for h in sorted(left_out)
        }
        plan = plan_removals(session=session, items=removals)
        _doom_orphans(session, plan, recorded.left)
        fault_point("catalog.assets")
    fault_point("catalog.assets.committed")
    with (timer or StageTimer()).stage("upsert"):
        _write_points(res, target, recorded, plan)
    with session_scope(res.sessions) as session:
        repo.add_captions_to_assets(session=session, texts_by_asset=recorded.later)
        repo.record_embedded(
            session=session, asset_ids=recorded.assets.values(), model_version_id=target.version_id
        )
        remove_rows(session=session, plan=plan)
        updates = _updates(works, recorded, failures, target.version)
        updates += _removal_updates(removals, plan)
        changed = repo.mark_items(session=session, updates=updates)
        outcome = _count(session, target, changed, recorded.points)
        fault_point("catalog.outcome")
    fault_point("catalog.outcome.committed")
    return outcome


def _near_duplicates(
    res: IngestResources, target: BatchTarget, works: Sequence[AssetWork], policy: Policy
) -> dict[str, Original]:
    if policy.mode == "off" or not any(w.image_vector is not None for w in works):
        return {}
    with res.store.use() as store:
        return find_near_duplicates(store, target.version, works, policy)


def _record_near_duplicates(
    session: Session,
    target: BatchTarget,
    works: Sequence[AssetWork],
    originals: dict[str, Original],
    recorded: Recorded,
) -> None:
    """The kept images' relations (those embedded by another batch meanwhile left out)."""
    linked = [w for w in works if w.image_vector is not None]
    repo.record_near_duplicates(
        session=session, model_version_id=target.version_id,
        pairs=relation_rows(linked, originals, recorded.assets),
    )


def _write_points(
    res: IngestResources, target: BatchTarget, recorded: Recorded, plan: RemovalPlan
) -> None:
    with res.store.use() as store:
        store.create_version(target.version, image_dim=target.dim, caption_dim=target.dim)
        if recorded.images:
            store.upsert(Kind.IMAGES, recorded.images, version=target.version)
        if recorded.captions:
            store.upsert(Kind.CAPTIONS, recorded.captions, version=target.version)
        stale = stale_versions(store, recorded.relabel, recorded.relabel_versions)
        relabel(store, recorded.relabel, stale)
        recorded.relabelled = set().union(*stale.values())
        for version in store.versions() if recorded.retracted else ():
            store.delete(Kind.CAPTIONS, recorded.retracted, version=version)
        if plan:
            remove_points(store, plan)


def _doom_orphans(session: Session, plan: RemovalPlan, left: set[int]) -> None:
    """Assets a moved membership left with none (their file now holds another image) go."""
    if not left:
        return
    kept = repo.members_of_assets(session=session, asset_ids=left)
    orphans = [a for a in left if a not in kept]
    for asset_id, digest in session.execute(
        select(Asset.id, Asset.content_hash).where(Asset.id.in_(orphans))
    ):
        plan.doomed[asset_id] = digest
        plan.survivors.pop(asset_id, None)


def _removal_updates(
    removals: Sequence[tuple[int, Removal]], plan: RemovalPlan
) -> list[repo.ItemUpdate]:
    return [
        repo.ItemUpdate(item_id, ItemStatus.DONE)
        if item_id in plan.effective
        else repo.ItemUpdate(item_id, ItemStatus.SKIPPED, error="already removed")
        for item_id, _ in removals
    ]


def _drop_images_embedded_meanwhile(
    session: Session, target: BatchTarget, works: Sequence[AssetWork]
) -> None:
    """An image embedded by another batch since this one was planned is not written again."""
    hashes = [w.content_hash for w in works if w.image_vector is not None]
    if not hashes:
        return
    done = repo.embedded_hashes(session=session, model_version_id=target.version_id, hashes=hashes)
    for work in works:
        if work.content_hash in done:
            work.image_vector = None
            work.embed_image = False


def _count(
    session: Session, target: BatchTarget, changed: dict[ItemStatus, int], points: int
) -> WriteOutcome:
    done, failed = changed[ItemStatus.DONE], changed[ItemStatus.FAILED]
    skipped = changed[ItemStatus.SKIPPED]
    new_points = points if done else 0  # an earlier delivery of this batch already counted them
    repo.increment_job_counters(
        session=session,
        job_id=target.job_id,
        done=done,
        failed=failed,
        skipped=skipped,
        new_points=new_points,
    )
    finished = repo.finish_job_if_complete(session=session, job_id=target.job_id)
    return WriteOutcome(done, failed, skipped, new_points, finished)


def _record_assets(
    session: Session,
    paths: PathsSettings,
    target: BatchTarget,
    works: Sequence[AssetWork],
    keywords: KeywordEncoder,
) -> Recorded:
    """Upsert assets, memberships and captions (a few statements for the whole batch); build the
    points of both collections, and the payloads of embedded assets whose labels changed."""
    recorded = Recorded(assets={  # nothing new for these: no asset or caption write either
        w.content_hash: w.asset_id for w in works if not w.writes_points and w.asset_id is not None
    })
    todo = [w for w in works if w.content_hash not in recorded.assets]
    rows = repo.upsert_assets(session=session, assets=[_new_asset(paths, target, w) for w in todo])
    recorded.assets.update({d: row.asset.id for d, row in rows.items()})
    members = repo.record_members(
        session=session, members=_members(paths, target, works, recorded), tags=target.tags
    )
    recorded.changed, recorded.left = members.changed, members.left
    now: dict[int, list[str]] = {}
    for work in todo:  # an embedded asset's new captions wait for step 3 (module docstring)
        texts = now if work.embed_image else recorded.later
        texts.setdefault(recorded.assets[work.content_hash], []).extend(work.captions)
    caption_rows = repo.add_captions_to_assets(session=session, texts_by_asset=now)
    caption_rows.update(repo.plan_captions(session=session, texts_by_asset=recorded.later))
    written = {recorded.assets[w.content_hash] for w in todo}
    payloads = catalog_payloads(
        session=session, asset_ids=[*written, *recorded.assets.values(), *members.changed]
    )
    for work in todo:
        payload = payloads[recorded.assets[work.content_hash]]
        _add_points(recorded, work, payload, caption_rows, keywords)
    # labels reach the points already stored too (an embedded image that gained a dataset and a
    # caption has only the new caption's point written here); which are stale is read at step 2
    recorded.relabel = payloads
    recorded.relabel_versions = embedded_versions(session=session, asset_ids=recorded.relabel)
    recorded.retracted = [
        caption_point_id(payloads[a].content_hash, digest)
        for a, digest in members.retracted if a in payloads
    ]
    return recorded


def _members(
    paths: PathsSettings, target: BatchTarget, works: Sequence[AssetWork], recorded: Recorded
) -> list[repo.NewMember]:
    """One membership per item: its dataset, its file, what it offered (none for a reindex,
    whose items are the catalog's own assets)."""
    if target.source_kind == CATALOG_SOURCE:
        return []
    return [
        repo.NewMember(
            asset_id=recorded.assets[work.content_hash],
            dataset=target.dataset,
            uri=entry_uri(paths, target.root, prepared.spec.key),
            captions=prepared.spec.captions,
            tags=prepared.spec.tags,
        )
        for work in works
        for prepared in work.items
    ]


def _add_points(
    recorded: Recorded,
    work: AssetWork,
    payload: ImagePayload,
    caption_rows: dict[int, list[repo.CaptionRow]],
    keywords: KeywordEncoder,
) -> None:
    """The image point (its keywords from every caption it has and its tags) and the caption
    points (keywords from their text) of one asset."""
    positions = {row.text_hash: row.position for row in caption_rows.get(payload.asset_id, [])}
    if work.image_vector is not None:
        point_id = image_point_id(payload.content_hash)
        sparse = keywords.document(image_text(work.embed_captions, payload.tags))
        recorded.images.append(PointIn(point_id, work.image_vector, payload, sparse))
    for text, vector in zip(work.embed_captions, work.caption_vectors, strict=True):
        position = positions.get(repo.caption_hash(text), len(positions))
        point = _caption_point(payload, text, position, vector)
        recorded.captions.append(replace(point, sparse=keywords.document([text])))


def _new_asset(paths: PathsSettings, target: BatchTarget, work: AssetWork) -> repo.NewAsset:
    spec, image = work.first.spec, work.first.image
    source = spec.meta.get("source")
    split = spec.meta.get("split")
    tags = dict.fromkeys([*target.tags, *(t for p in work.items for t in p.spec.tags)])
    return repo.NewAsset(
        content_hash=image.sha256,
        uri=entry_uri(paths, target.root, spec.key),
        width=image.width,
        height=image.height,
        mime=image.mime,
        size_bytes=image.size_bytes,
        source=(source if isinstance(source, str) and source else target.source_kind)[
            :SOURCE_CHARS
        ],
        dataset=target.dataset,
        split=split[:SPLIT_CHARS] if isinstance(split, str) and split else None,
        tags=list(tags),
    )


def _caption_point(payload: ImagePayload, text: str, position: int, vector: Any) -> PointIn:
    point_id = caption_point_id(payload.content_hash, repo.caption_hash(text))
    return PointIn(point_id, vector, caption_payload(payload, text, position))


def _updates(
    works: Sequence[AssetWork],
    recorded: Recorded,
    failures: Sequence[Failure],
    version: str,
) -> list[repo.ItemUpdate]:
    updates = [repo.ItemUpdate(f.item_id, ItemStatus.FAILED, error=f.reason) for f in failures]
    for work in works:
        if work.content_hash in recorded.skipped:
            note = recorded.skipped[work.content_hash]
            updates += [repo.ItemUpdate(p.item_id, ItemStatus.SKIPPED, error=note)
                        for p in work.items]
            continue
        asset_id = recorded.assets.get(work.content_hash)
        relabelled = asset_id in recorded.changed or asset_id in recorded.relabelled
        for prepared in work.items:
            updates.append(_update(work, prepared.item_id, asset_id, version, relabelled))
    return updates


def _update(
    work: AssetWork, item_id: int, asset_id: int | None, version: str, relabelled: bool
) -> repo.ItemUpdate:
    if work.error is not None:
        return repo.ItemUpdate(item_id, ItemStatus.FAILED, error=work.error)
    if work.writes_points or relabelled:
        return repo.ItemUpdate(item_id, ItemStatus.DONE, asset_id=asset_id)
    note = f"already embedded in {version}"
    return repo.ItemUpdate(item_id, ItemStatus.SKIPPED, error=note, asset_id=asset_id)
