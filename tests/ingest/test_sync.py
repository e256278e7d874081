"""Sync: a dataset follows its folder. After deleting a dataset, editing captions, removing and
replacing files and syncing, the index equals a fresh ingest of the final folder (same assets,
same points and vectors, same search results); a sync with nothing changed plans nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import select

from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset
from modalign.ingest.check import check
from modalign.ingest.deletes import create_delete_job, plan_delete
from modalign.ingest.dispatch import InProcessDispatcher
from modalign.ingest.jobs import submit
from modalign.ingest.progress import JobProgress, job_progress
from modalign.ingest.resources import IngestResources
from modalign.ingest.sources import SourceSpec
from modalign.search.editing import DeleteTarget
from modalign.search.naming import Kind
from modalign.search.store import QueryParams

from .helpers import TINY_MODEL
from .lifecycle import folder_of, ingest, picture, run_job

Factory = Callable[[str], IngestResources]
QUERIES = [f"the picture p{i}" for i in range(10)] + [f"a new caption {i}" for i in range(10)]


def _sync(res: IngestResources, folder: Path, dataset: str) -> JobProgress:
    spec = SourceSpec(folder, "folder")
    dispatcher = InProcessDispatcher(res)
    job_id = submit(res.settings, res.sessions, dispatcher, spec, dataset=dataset, sync=True)
    return job_progress(res.sessions, job_id)


def _change(folder: Path) -> None:
    """Edit captions, remove files, replace one, add one."""
    (folder / "p0.txt").write_text("a new caption 0\n")  # replaced caption
    (folder / "p1.txt").write_text("the picture p1\na new caption 1\n")  # one added
    for name in ("p2", "p3"):
        (folder / f"{name}.png").unlink()
        (folder / f"{name}.txt").unlink()
    picture(folder / "p4.png", 44)  # the same name, other content
    picture(folder / "p9.png", 99)
    (folder / "p9.txt").write_text("a new caption 9\n")


def _points(res: IngestResources) -> dict[Kind, dict[str, np.ndarray]]:
    with res.store.use() as store:
        return {kind: {r.id: r.vector for r in store.scroll_all(kind, with_vectors=True,
                                                               version=TINY_MODEL)
                       if r.vector is not None} for kind in Kind}


def _hits(res: IngestResources) -> list[list[str]]:
    encoder = res.encoder(TINY_MODEL)
    with res.store.use() as store:
        return [
            [h.id for h in store.query(Kind.IMAGES, encoder.encode_texts([q])[0],
                                       params=QueryParams(limit=5, exact=True), version=TINY_MODEL)]
            for q in QUERIES
        ]


def _assets(res: IngestResources) -> set[str]:
    with session_scope(res.sessions) as session:
        return set(session.scalars(select(Asset.content_hash)))


def test_a_synced_dataset_equals_a_fresh_ingest_of_its_folder(
    resources_factory: Factory, tmp_path: Path
) -> None:
    res = resources_factory("lived")
    folder = folder_of(tmp_path / "f", {f"p{i}": i for i in range(9)})
    other = folder_of(tmp_path / "g", {"g0": 50, "g1": 51, "p5": 5})
    assert _sync(res, folder, "f").counts == {
        "added": 9, "changed": 0, "removed": 0, "unchanged": 0, "failed": 0}
    ingest(res, other, "g")
    with res.store.use() as store:
        plan = plan_delete(res.sessions, store, DeleteTarget(dataset="g"))
    run_job(res, create_delete_job(res.sessions, plan, DeleteTarget(dataset="g")))
    _change(folder)
    synced = _sync(res, folder, "f")
    assert synced.status == "completed", synced
    assert synced.counts == {
        "added": 1, "changed": 3, "removed": 2, "unchanged": 4, "failed": 0}
    again = _sync(res, folder, "f")
    assert (again.total, again.new_points) == (0, 0) and again.counts is not None
    assert again.counts["unchanged"] == 8
    fresh = resources_factory("fresh")
    ingest(fresh, folder, "f")
    assert _assets(res) == _assets(fresh)
    lived, made = _points(res), _points(fresh)
    for kind in Kind:
        assert lived[kind].keys() == made[kind].keys(), kind
        for pid, vector in made[kind].items():
            assert np.allclose(lived[kind][pid], vector, atol=1e-5), (kind, pid)
    assert _hits(res) == _hits(fresh)
    with res.store.use() as store:
        assert check(res.sessions, store).clean
