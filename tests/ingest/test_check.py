"""Check and repair: a store corrupted on purpose (points removed, orphans added, a payload
changed, an asset left in no dataset) is reported exactly, and repair restores agreement with
the vectors ingestion gave; on both stores and both catalogs."""

from __future__ import annotations

import uuid
from pathlib import Path

import numpy as np
from sqlalchemy import delete

from modalign.catalog.db import session_scope
from modalign.catalog.models import AssetMember
from modalign.ingest.check import CheckReport, check
from modalign.ingest.payloads import by_content
from modalign.ingest.repair import repair
from modalign.ingest.resources import IngestResources
from modalign.search.naming import Kind, image_point_id
from modalign.search.schema import ImagePayload
from modalign.search.store import PayloadUpdate, PointIn

from .helpers import TINY_MODEL
from .lifecycle import asset_ids, folder_of, hash_of, ingest, points_of, rows

V = TINY_MODEL


def _check(res: IngestResources) -> CheckReport:
    with res.store.use() as store:
        return check(res.sessions, store)


def _counts(report: CheckReport) -> dict[str, tuple[int, int, int]]:
    [version] = report.versions
    return {k.value: (len(c.missing), len(c.orphans), len(c.mismatched))
            for k, c in ((k, version.of(k)) for k in Kind)}


def test_a_corrupted_store_is_reported_and_repaired(
    any_resources: IngestResources, tmp_path: Path
) -> None:
    res = any_resources
    ingest(res, folder_of(tmp_path / "f", {f"p{i}": i for i in range(6)}), "f", ["t"])
    ids = asset_ids(res)
    assert _check(res).clean
    lost, relabelled = hash_of(res, ids["p0"]), hash_of(res, ids["p1"])
    with res.store.use() as store:
        [before] = store.retrieve(Kind.IMAGES, [image_point_id(lost)], with_vectors=True, version=V)
        store.delete_where(Kind.IMAGES, by_content(lost), version=V)
        store.delete_where(Kind.CAPTIONS, by_content(lost), version=V)
        payload = ImagePayload.model_validate(before.payload)
        orphan = PointIn(str(uuid.uuid4()), np.ones(32, np.float32), payload)
        store.upsert(Kind.IMAGES, [orphan], version=V)
        wrong = payload.model_copy(update={"tags": ["wrong"], "content_hash": relabelled})
        store.set_payload(Kind.IMAGES, [PayloadUpdate(by_content(relabelled), wrong)], version=V)
    report = _check(res)
    assert _counts(report) == {"images": (1, 1, 1), "captions": (1, 0, 0)}
    done = repair(res, report)
    assert (done.deleted_points, done.rewritten_payloads) == (1, 1)
    assert (done.embedded_images, done.embedded_captions) == (1, 1)
    assert _check(res).clean and points_of(res, lost) == (1, 1)
    with res.store.use() as store:
        [after] = store.retrieve(Kind.IMAGES, [image_point_id(lost)], with_vectors=True, version=V)
        [fixed] = store.retrieve(Kind.IMAGES, [image_point_id(relabelled)], version=V)
    assert before.vector is not None and after.vector is not None
    assert np.allclose(before.vector, after.vector, atol=1e-5)  # decoded and encoded as ingested
    assert fixed.payload["tags"] == ["t"] and fixed.payload["asset_id"] == ids["p1"]


def test_an_asset_in_no_dataset_is_deleted_and_a_missing_file_reported(
    resources: IngestResources, tmp_path: Path
) -> None:
    folder = folder_of(tmp_path / "f", {"a": 1, "b": 2, "c": 3})
    ingest(resources, folder, "f")
    ids = asset_ids(resources)
    with session_scope(resources.sessions) as session:
        session.execute(delete(AssetMember).where(AssetMember.asset_id == ids["a"]))
    with resources.store.use() as store:
        store.delete_where(Kind.IMAGES, by_content(hash_of(resources, ids["b"])), version=V)
    (folder / "b.png").unlink()
    report = _check(resources)
    assert report.memberless == [ids["a"]]
    done = repair(resources, report)
    assert done.deleted_assets == 1 and rows(resources)[0] == 2
    assert [a for a, _ in done.unrepairable] == [ids["b"]]
    assert "not found" in done.unrepairable[0][1]
    after = _check(resources)
    assert not after.memberless and _counts(after)["images"] == (1, 0, 0)  # b's file is gone
