"""The writer stage keeps memberships: an image ingested again under another dataset or with new
tags records them, in the catalog and on its points, instead of being skipped."""

from __future__ import annotations

from pathlib import Path

from PIL import Image
from sqlalchemy import select

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset
from modalign.ingest.dispatch import InProcessDispatcher
from modalign.ingest.jobs import submit
from modalign.ingest.progress import job_progress
from modalign.ingest.resources import IngestResources
from modalign.ingest.sources import SourceSpec
from modalign.search.filters import Filter, Match
from modalign.search.naming import Kind

from .helpers import TINY_MODEL


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (20, 20), (60 * i, 200, 0)).save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(f"picture {i}\n")
    return folder


def _ingest(res: IngestResources, folder: Path, dataset: str, *tags: str) -> tuple[int, int, int]:
    spec = SourceSpec(folder, "folder")
    job_id = submit(
        res.settings, res.sessions, InProcessDispatcher(res), spec, dataset=dataset, tags=tags
    )
    progress = job_progress(res.sessions, job_id)
    return progress.done, progress.skipped, progress.new_points


def _count(res: IngestResources, kind: Kind, field: str, value: str) -> int:
    with res.store.use() as store:
        return store.count(
            kind, filter=Filter(must=[Match(field=field, value=value)]), version=TINY_MODEL
        )


def test_an_image_ingested_under_another_dataset_keeps_both(
    resources: IngestResources, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    assert _ingest(resources, folder, "first", "t1") == (3, 0, 6)
    assert _ingest(resources, folder, "second", "t2") == (3, 0, 0)
    with session_scope(resources.sessions) as session:
        assets = session.scalars(select(Asset).order_by(Asset.id)).all()
        datasets = repo.datasets_of(session=session, asset_ids=[a.id for a in assets])
    assert len(assets) == 3
    assert all(datasets[a.id] == ["first", "second"] for a in assets)
    assert all(a.tags == ["t1", "t2"] and a.dataset == "first" for a in assets)
    for kind in Kind:
        assert _count(resources, kind, "dataset", "second") == 3
        assert _count(resources, kind, "dataset", "first") == 3
        assert _count(resources, kind, "tags", "t2") == 3
    assert _ingest(resources, folder, "second", "t2") == (0, 3, 0)  # nothing new: skipped


def test_new_tags_under_the_same_dataset_are_recorded(
    resources: IngestResources, tmp_path: Path
) -> None:
    folder = _folder(tmp_path)
    _ingest(resources, folder, "pics")
    assert _ingest(resources, folder, "pics", "late") == (3, 0, 0)
    for kind in Kind:
        assert _count(resources, kind, "tags", "late") == 3
