"""Reindex: every catalogued asset into another version, resumable, then switched to."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import JobKind
from modalign.ingest.dispatch import InProcessDispatcher
from modalign.ingest.jobs import resume, submit
from modalign.ingest.plan import plan_job
from modalign.ingest.progress import job_progress, unfinished_batches
from modalign.ingest.reindex import reindex_job
from modalign.ingest.resources import IngestResources
from modalign.ingest.sources import SourceSpec

from .helpers import TINY_MODEL, register_tiny_model, store_counts

NEW_MODEL = "tiny-v2"


def _folder(root: Path, n: int) -> Path:
    root.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (40, 30), (i * 12, 50, 90)).save(root / f"{i:02d}.png")
        (root / f"{i:02d}.txt").write_text(f"image {i}\nsecond caption {i}\n")
    return root


def _active(res: IngestResources) -> str | None:
    with session_scope(res.sessions) as session:
        active = repo.get_active_model_version(session=session)
        return active.name if active else None


def test_reindex_resumes_then_switches(resources: IngestResources, tmp_path: Path) -> None:
    source = SourceSpec(_folder(tmp_path / "src", 18), "folder")
    submit(resources.settings, resources.sessions, InProcessDispatcher(resources), source)
    register_tiny_model(resources.settings, NEW_MODEL, activate=False)
    job_id = reindex_job(resources.sessions, NEW_MODEL)
    plan_job(resources.settings, resources.sessions, job_id)
    InProcessDispatcher(resources).dispatch(job_id, [0])  # then "interrupted"
    with resources.store.use() as store:
        assert store.active_version() == TINY_MODEL
    assert _active(resources) == TINY_MODEL
    assert reindex_job(resources.sessions, NEW_MODEL) == job_id  # resumes the open job
    assert resume(resources.settings, resources.sessions, InProcessDispatcher(resources), job_id)
    progress = job_progress(resources.sessions, job_id)
    assert progress.kind == JobKind.REINDEX.value
    assert (progress.status, progress.done, progress.new_points) == ("completed", 18, 54)
    assert _active(resources) == NEW_MODEL
    with resources.store.use() as store:
        assert store.active_version() == NEW_MODEL
    assert store_counts(resources, NEW_MODEL) == store_counts(resources, TINY_MODEL) == (18, 36)
    assert unfinished_batches(resources.sessions, job_id) == []


def test_reindex_reports_vanished_files(resources: IngestResources, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "src", 4)
    submit(
        resources.settings,
        resources.sessions,
        InProcessDispatcher(resources),
        SourceSpec(folder, "folder"),
    )
    (folder / "01.png").unlink()
    register_tiny_model(resources.settings, NEW_MODEL, activate=False)
    job_id = reindex_job(resources.sessions, NEW_MODEL)
    resume(resources.settings, resources.sessions, InProcessDispatcher(resources), job_id)
    progress = job_progress(resources.sessions, job_id)
    assert (progress.status, progress.done, progress.failed) == ("completed_with_errors", 3, 1)
    assert _active(resources) == NEW_MODEL
