"""Check: compare the catalog with the store, model version by model version.

The catalog is the source of truth. For each version the store holds, the points it should have
are built from the catalog: an image point per asset embedded in that version (for the active
version, per catalogued asset: search must find every one) and a caption point per caption of
those assets, each with the payload the writer would give it. The store's points are read with
``scroll_all``. The report lists, per collection, the points missing, the points without an
asset (orphans), and the points whose payload disagrees with the catalog; and, for the catalog
as a whole, the assets no dataset holds and the jobs whose removals were cut short.
:mod:`modalign.ingest.repair` acts on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset, AssetEmbedding, AssetMember, Caption
from modalign.ingest.deletes import pending_removals
from modalign.ingest.payloads import caption_payload, catalog_payloads, normal
from modalign.search.filters import Filter, MatchAny
from modalign.search.naming import Kind, caption_point_id, image_point_id
from modalign.search.schema import ImagePayload, Payload
from modalign.search.store import VectorStore

CHUNK = 500
SAMPLE = 10


@dataclass(frozen=True)
class Expected:
    """A point the catalog says a collection holds."""

    asset_id: int
    payload: Payload


@dataclass
class CollectionCheck:
    """One collection of one version: counts and what disagrees (point ids)."""

    kind: Kind
    catalog: int = 0
    store: int = 0
    missing: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.orphans or self.mismatched)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value, "catalog": self.catalog, "store": self.store,
            "clean": self.clean, "missing": len(self.missing), "orphans": len(self.orphans),
            "mismatched": len(self.mismatched),
            "sample": {"missing": self.missing[:SAMPLE], "orphans": self.orphans[:SAMPLE],
                       "mismatched": self.mismatched[:SAMPLE]},
        }


@dataclass
class VersionCheck:
    """Both collections of one model version, and the points they should hold."""

    version: str
    active: bool
    images: CollectionCheck = field(default_factory=lambda: CollectionCheck(Kind.IMAGES))
    captions: CollectionCheck = field(default_factory=lambda: CollectionCheck(Kind.CAPTIONS))
    expected: dict[Kind, dict[str, Expected]] = field(default_factory=dict, repr=False)

    @property
    def clean(self) -> bool:
        return self.images.clean and self.captions.clean

    def of(self, kind: Kind) -> CollectionCheck:
        return self.images if kind is Kind.IMAGES else self.captions

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "active": self.active, "clean": self.clean,
                "collections": [self.images.as_dict(), self.captions.as_dict()]}


@dataclass
class CheckReport:
    """Every version's check, assets no dataset holds, jobs whose removals are unfinished."""

    versions: list[VersionCheck] = field(default_factory=list)
    memberless: list[int] = field(default_factory=list)
    unfinished_jobs: list[int] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        versions_clean = all(v.clean for v in self.versions)
        return versions_clean and not self.memberless and not self.unfinished_jobs

    def as_dict(self) -> dict[str, Any]:
        return {"clean": self.clean, "versions": [v.as_dict() for v in self.versions],
                "memberless_assets": len(self.memberless),
                "memberless_sample": self.memberless[:SAMPLE],
                "unfinished_jobs": self.unfinished_jobs}


def check(
    sessions: sessionmaker[Session], store: VectorStore, asset_ids: Sequence[int] | None = None
) -> CheckReport:
    """Compare catalog and store (only the given assets' points, when ``asset_ids`` is set)."""
    report = CheckReport(unfinished_jobs=pending_removals(sessions))
    active = store.active_version()
    with session_scope(sessions) as session:
        report.memberless = _memberless(session, asset_ids)
        for version in store.versions():
            expected = expected_points(session, version, version == active, asset_ids)
            report.versions.append(_check_version(store, version, active, expected, asset_ids))
    return report


def expected_points(
    session: Session, version: str, active: bool, asset_ids: Sequence[int] | None
) -> dict[Kind, dict[str, Expected]]:
    """The points both collections of ``version`` should hold, by point id."""
    ids = _version_assets(session, version, active, asset_ids)
    payloads: dict[int, ImagePayload] = {}
    for start in range(0, len(ids), CHUNK):
        payloads.update(catalog_payloads(session=session, asset_ids=ids[start : start + CHUNK]))
    images = {
        image_point_id(p.content_hash): Expected(a, p) for a, p in payloads.items()
    }
    return {Kind.IMAGES: images, Kind.CAPTIONS: _expected_captions(session, payloads)}


def _version_assets(
    session: Session, version: str, active: bool, asset_ids: Sequence[int] | None
) -> list[int]:
    """Assets whose points ``version`` should hold: all of them in the active version."""
    if active:
        column = Asset.id
        stmt = select(column)
    else:
        version_id = repo.get_model_version(session=session, ref=version).id
        column = AssetEmbedding.asset_id
        stmt = select(column).where(AssetEmbedding.model_version_id == version_id)
    if asset_ids is None:
        return sorted(session.scalars(stmt))
    found: list[int] = []
    for start in range(0, len(asset_ids), CHUNK):
        found += session.scalars(stmt.where(column.in_(asset_ids[start : start + CHUNK])))
    return sorted(found)


def _expected_captions(
    session: Session, payloads: Mapping[int, ImagePayload]
) -> dict[str, Expected]:
    out: dict[str, Expected] = {}
    ids = list(payloads)
    columns = (Caption.asset_id, Caption.text, Caption.text_hash, Caption.position)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        rows = session.execute(select(*columns).where(Caption.asset_id.in_(chunk)))
        for asset_id, text, text_hash, position in rows:
            image = payloads[asset_id]
            out[caption_point_id(image.content_hash, text_hash)] = Expected(
                asset_id, caption_payload(image, text, position)
            )
    return out


def _check_version(
    store: VectorStore,
    version: str,
    active: str | None,
    expected: dict[Kind, dict[str, Expected]],
    asset_ids: Sequence[int] | None,
) -> VersionCheck:
    result = VersionCheck(version, version == active, expected=expected)
    hashes = _hashes(expected) if asset_ids is not None else None
    for kind in Kind:
        actual = dict(_stored(store, kind, version, hashes))
        _compare(result.of(kind), expected[kind], actual)
    return result


def _hashes(expected: Mapping[Kind, Mapping[str, Expected]]) -> list[str]:
    return sorted({e.payload.content_hash for e in expected[Kind.IMAGES].values()})


def _stored(
    store: VectorStore, kind: Kind, version: str, hashes: list[str] | None
) -> Iterable[tuple[str, Mapping[str, Any]]]:
    if hashes is None:
        yield from ((r.id, r.payload) for r in store.scroll_all(kind, version=version))
        return
    for start in range(0, len(hashes), 64):
        flt = Filter(must=[MatchAny(field="content_hash", values=hashes[start : start + 64])])
        yield from ((r.id, r.payload) for r in store.scroll_all(kind, filter=flt, version=version))


def _compare(
    result: CollectionCheck, expected: Mapping[str, Expected], actual: Mapping[str, Any]
) -> None:
    result.catalog, result.store = len(expected), len(actual)
    result.missing = sorted(expected.keys() - actual.keys())
    result.orphans = sorted(actual.keys() - expected.keys())
    result.mismatched = sorted(
        pid for pid in expected.keys() & actual.keys()
        if normal(actual[pid]) != normal(expected[pid].payload.to_store())
    )


def _memberless(session: Session, asset_ids: Sequence[int] | None) -> list[int]:
    """Assets no dataset holds (left by a crash between a membership's move and the asset's
    deletion): nothing names them, so a repair deletes them."""
    held = select(AssetMember.asset_id).where(AssetMember.asset_id == Asset.id).exists()
    stmt = select(Asset.id).where(~held).order_by(Asset.id)
    found = list(session.scalars(stmt))
    return [a for a in found if asset_ids is None or a in set(asset_ids)]
