"""Deleting assets by id, dataset and filter: both collections lose the points, the catalog rows
go, jobs keep their history, bad targets change nothing; on both stores and both catalogs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import JobItem
from modalign.errors import InvalidInputError, NotFoundError
from modalign.ingest.check import check
from modalign.ingest.deletes import create_delete_job, plan_delete
from modalign.ingest.removals import plan_removals, remove_points
from modalign.ingest.repair import repair
from modalign.ingest.resources import IngestResources
from modalign.ingest.spec import from_spec
from modalign.search.editing import DeleteTarget
from modalign.search.filters import Filter, Match

from .lifecycle import asset_ids, folder_of, hash_of, ingest, points_of, rows, run_job


def _two_datasets(res: IngestResources, tmp_path: Path) -> dict[str, int]:
    """Dataset a: a0 a1 a2; dataset b: b0 b1 and shared (the same bytes as a2)."""
    ingest(res, folder_of(tmp_path / "a", {"a0": 1, "a1": 2, "a2": 3}), "a", ["ta"])
    ingest(res, folder_of(tmp_path / "b", {"b0": 4, "b1": 5, "shared": 3}), "b")
    return asset_ids(res)


def _delete(res: IngestResources, target: DeleteTarget) -> int:
    with res.store.use() as store:
        plan = plan_delete(res.sessions, store, target)
    job_id = create_delete_job(res.sessions, plan, target)
    progress = run_job(res, job_id)
    assert progress.status == "completed", progress
    return job_id


def _clean(res: IngestResources) -> bool:
    with res.store.use() as store:
        return check(res.sessions, store).clean


def test_delete_by_id_dataset_and_filter(any_resources: IngestResources, tmp_path: Path) -> None:
    res = any_resources
    ids = _two_datasets(res, tmp_path)
    assert rows(res) == (5, 6, 6) and _clean(res)  # shared has both folders' captions
    a0 = hash_of(res, ids["a0"])
    _delete(res, DeleteTarget(asset_ids=(ids["a0"],)))
    assert points_of(res, a0) == (0, 0) and rows(res) == (4, 5, 5)
    with session_scope(res.sessions) as session:  # the job that ingested it keeps its item
        kept = session.scalars(select(JobItem).where(JobItem.uri == "a0.png")).one()
        assert kept.status == "done" and kept.asset_id is None
    shared = hash_of(res, ids["a2"])
    _delete(res, DeleteTarget(dataset="b"))
    assert rows(res) == (2, 2, 2)  # shared lost the caption only dataset b offered
    assert points_of(res, shared) == (1, 1)  # still in dataset a
    with session_scope(res.sessions) as session:
        assert repo.datasets_of(session=session, asset_ids=[ids["a2"]]) == {ids["a2"]: ["a"]}
    assert points_of(res, hash_of(res, ids["a1"])) == (1, 1)
    _delete(res, DeleteTarget(filter=Filter(must=[Match(field="tags", value="ta")])))
    assert rows(res) == (0, 0, 0) and points_of(res, shared) == (0, 0)
    assert _clean(res)


def test_bad_delete_targets_change_nothing(resources: IngestResources, tmp_path: Path) -> None:
    ids = _two_datasets(resources, tmp_path)
    before = rows(resources)
    with resources.store.use() as store:
        for target, error in (
            (DeleteTarget(), InvalidInputError),
            (DeleteTarget(asset_ids=(ids["a0"], 999_999)), InvalidInputError),
            (DeleteTarget(filter=Filter()), InvalidInputError),
            (DeleteTarget(dataset="nope"), NotFoundError),
            (DeleteTarget(dataset="a", everything=True), InvalidInputError),
        ):
            with pytest.raises(error):
                plan_delete(resources.sessions, store, target)
        preview = plan_delete(resources.sessions, store, DeleteTarget(everything=True))
    assert (preview.assets, preview.memberships) == (5, 0)
    assert rows(resources) == before


def test_a_crash_between_store_and_catalog_never_brings_the_asset_back(
    resources: IngestResources, tmp_path: Path
) -> None:
    ids = _two_datasets(resources, tmp_path)
    target = DeleteTarget(asset_ids=(ids["b0"],))
    with resources.store.use() as store:
        plan = plan_delete(resources.sessions, store, target)
        job_id = create_delete_job(resources.sessions, plan, target)
        with session_scope(resources.sessions) as session:
            items = [(i.id, from_spec(i.uri, i.spec).removal) for i in
                     repo.pending_items(session=session, job_id=job_id)]
            removals = plan_removals(session=session, items=[(i, r) for i, r in items if r])
        remove_points(store, removals)  # the process dies here: the catalog still has the rows
        report = check(resources.sessions, store)
    b0 = hash_of(resources, ids["b0"])
    assert points_of(resources, b0) == (0, 0)  # no search can return it
    assert report.unfinished_jobs == [job_id] and not report.clean
    done = repair(resources, report)
    assert done.resumed_jobs == [job_id] and done.embedded_images == 0  # not re-embedded
    assert ids["b0"] not in asset_ids(resources).values() and _clean(resources)
