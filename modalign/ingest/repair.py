"""Repair: make the store agree with the catalog (the source of truth), and report what it did.

In this order: jobs whose removals were cut short are run to the end (their intent is in the
catalog); the collections are checked again; then, per version, orphan points are deleted,
points whose payload disagrees get the catalog's payload (their vectors kept), missing caption
points are encoded from the catalog's text and missing image points from the asset's file
(decoded as ingestion does; a file that is gone or unreadable is reported, not guessed), and
assets no dataset holds are deleted like any removal. A repair must not run beside a writer
(the embedded store's lock keeps other processes out; with a Qdrant server, stop the workers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset
from modalign.ingest.check import CheckReport, Expected, VersionCheck, check
from modalign.ingest.dispatch import InProcessDispatcher
from modalign.ingest.encode import EncodeInput, encode_inputs
from modalign.ingest.keywords import ExpectedKeywords
from modalign.ingest.removals import RemovalPlan, remove_points, remove_rows
from modalign.ingest.resources import IngestResources
from modalign.ingest.spec import ItemSpec
from modalign.ingest.validate import validate_items
from modalign.search.naming import Kind
from modalign.search.store import PointIn, VectorStore

ENCODE_CHUNK = 64


@dataclass
class RepairReport:
    """What a repair did."""

    resumed_jobs: list[int] = field(default_factory=list)
    deleted_points: int = 0
    rewritten_payloads: int = 0
    embedded_images: int = 0
    embedded_captions: int = 0
    deleted_assets: int = 0
    unrepairable: list[tuple[int, str]] = field(default_factory=list)  # (asset id, reason)

    def as_dict(self) -> dict[str, Any]:
        return {
            "resumed_jobs": self.resumed_jobs, "deleted_points": self.deleted_points,
            "rewritten_payloads": self.rewritten_payloads,
            "embedded_images": self.embedded_images, "embedded_captions": self.embedded_captions,
            "deleted_assets": self.deleted_assets,
            "unrepairable": [{"asset_id": a, "reason": r} for a, r in self.unrepairable],
        }


def repair(res: IngestResources, report: CheckReport) -> RepairReport:
    """Bring the store in line with the catalog (see the module docstring)."""
    resumed = list(report.unfinished_jobs)
    if resumed:
        from modalign.ingest.jobs import resume

        for job_id in resumed:
            resume(res.settings, res.sessions, InProcessDispatcher(res), job_id)
    with res.store.use() as store:
        if resumed:
            report = check(res.sessions, store)
        done = repair_points(res, store, report)
    done.resumed_jobs = resumed
    return done


def repair_points(res: IngestResources, store: VectorStore, report: CheckReport) -> RepairReport:
    """The point-by-point part of :func:`repair` (no job is resumed)."""
    done = RepairReport()
    for version in report.versions:
        _repair_version(res, store, version, done)
    done.deleted_assets = _delete_memberless(res, store, report.memberless)
    return done


def _repair_version(
    res: IngestResources, store: VectorStore, version: VersionCheck, done: RepairReport
) -> None:
    keywords = ExpectedKeywords(version, res.keywords.get())
    for kind in Kind:
        found = version.of(kind)
        if found.orphans:
            store.delete(kind, found.orphans, version=version.version)
            done.deleted_points += len(found.orphans)
        _rewrite_payloads(store, kind, version, found.mismatched, done, keywords)
    _embed_missing(res, store, version, done, keywords)


def _rewrite_payloads(
    store: VectorStore,
    kind: Kind,
    version: VersionCheck,
    ids: Sequence[str],
    done: RepairReport,
    keywords: ExpectedKeywords,
) -> None:
    expected = version.expected[kind]
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        records = store.retrieve(kind, chunk, with_vectors=True, version=version.version)
        points = [PointIn(r.id, r.vector, expected[r.id].payload, keywords.of(kind, r.id))
                  for r in records if r.vector is not None]
        store.upsert(kind, points, version=version.version)
        done.rewritten_payloads += len(points)


def _embed_missing(
    res: IngestResources,
    store: VectorStore,
    version: VersionCheck,
    done: RepairReport,
    keywords: ExpectedKeywords,
) -> None:
    """Encode the missing points, asset by asset (an image from its file, captions from text)."""
    images = {version.expected[Kind.IMAGES][pid].asset_id: pid for pid in version.images.missing}
    captions: dict[int, list[str]] = {}
    for pid in version.captions.missing:
        captions.setdefault(version.expected[Kind.CAPTIONS][pid].asset_id, []).append(pid)
    assets = sorted(images.keys() | captions.keys())
    for start in range(0, len(assets), ENCODE_CHUNK):
        chunk = assets[start : start + ENCODE_CHUNK]
        _embed_chunk(res, store, version, chunk, images, captions, done, keywords)


def _embed_chunk(
    res: IngestResources,
    store: VectorStore,
    version: VersionCheck,
    assets: Sequence[int],
    images: dict[int, str],
    captions: dict[int, list[str]],
    done: RepairReport,
    keywords: ExpectedKeywords,
) -> None:
    pictures = _read_images(res, [a for a in assets if a in images], done)
    inputs = [
        EncodeInput(pictures.get(a), tuple(_text(version, pid) for pid in captions.get(a, [])))
        for a in assets
    ]
    outputs = encode_inputs(res.encoder(version.version), inputs)
    image_points: list[PointIn] = []
    caption_points: list[PointIn] = []
    for asset_id, out in zip(assets, outputs, strict=True):
        if out.error is not None:
            done.unrepairable.append((asset_id, out.error))
            continue
        if out.image_vector is not None:
            pid = images[asset_id]
            payload = version.expected[Kind.IMAGES][pid].payload
            image_points.append(
                PointIn(pid, out.image_vector, payload, keywords.of(Kind.IMAGES, pid))
            )
        for pid, vector in zip(captions.get(asset_id, []), out.caption_vectors, strict=True):
            payload = version.expected[Kind.CAPTIONS][pid].payload
            caption_points.append(PointIn(pid, vector, payload, keywords.of(Kind.CAPTIONS, pid)))
    store.upsert(Kind.IMAGES, image_points, version=version.version)
    store.upsert(Kind.CAPTIONS, caption_points, version=version.version)
    done.embedded_images += len(image_points)
    done.embedded_captions += len(caption_points)
    _mark_embedded(res, version.version, [_asset_of(p, version) for p in image_points])


def _text(version: VersionCheck, point_id: str) -> str:
    payload = version.expected[Kind.CAPTIONS][point_id].payload
    return str(getattr(payload, "text", ""))


def _asset_of(point: PointIn, version: VersionCheck) -> int:
    expected: Expected = version.expected[Kind.IMAGES][point.id]
    return expected.asset_id


def _read_images(
    res: IngestResources, asset_ids: Sequence[int], done: RepairReport
) -> dict[int, Any]:
    """The assets' pictures, decoded as ingestion decodes them (their hash checked)."""
    if not asset_ids:
        return {}
    stmt = select(Asset.id, Asset.uri, Asset.content_hash).where(Asset.id.in_(asset_ids))
    with session_scope(res.sessions) as session:
        rows = session.execute(stmt).all()
    items = [
        (asset_id, ItemSpec(uri, res.settings.paths.from_stored(uri), meta={"sha256": digest}))
        for asset_id, uri, digest in rows
    ]
    valid, failures = validate_items(items, res.settings, None)
    done.unrepairable += [(f.item_id, f"image file: {f.reason}") for f in failures]
    return {p.item_id: p.image.image for p in valid}


def _mark_embedded(res: IngestResources, version: str, asset_ids: Sequence[int]) -> None:
    if not asset_ids:
        return
    with session_scope(res.sessions) as session:
        version_id = repo.get_model_version(session=session, ref=version).id
        repo.record_embedded(session=session, asset_ids=asset_ids, model_version_id=version_id)


def _delete_memberless(res: IngestResources, store: VectorStore, asset_ids: Sequence[int]) -> int:
    if not asset_ids:
        return 0
    stmt = select(Asset.id, Asset.content_hash).where(Asset.id.in_(asset_ids))
    with session_scope(res.sessions) as session:
        plan = RemovalPlan(doomed={row.id: row.content_hash for row in session.execute(stmt)})
    remove_points(store, plan)
    with session_scope(res.sessions) as session:
        remove_rows(session=session, plan=plan)
    return len(plan.doomed)
