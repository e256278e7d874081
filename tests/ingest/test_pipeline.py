"""The batch pipeline through whole in-process jobs: corpus, idempotence, captions, resume."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset, Caption, Job, JobItem, JobState, JobStatus
from modalign.config import Settings
from modalign.encoders.dual import DualEncoder
from modalign.encoders.towers import ImageTower
from modalign.errors import EncoderError, TransientError
from modalign.ingest.dispatch import InProcessDispatcher
from modalign.ingest.jobs import resume, submit
from modalign.ingest.pipeline import map_stage, read_stage, run_batch, write_stage
from modalign.ingest.plan import create_ingest_job, plan_job
from modalign.ingest.progress import job_progress, unfinished_batches
from modalign.ingest.resources import IngestResources, StoreAccess
from modalign.ingest.sources import SourceSpec, detect_source
from modalign.search.store import VectorStore

from .corpus import assert_items_as_expected
from .helpers import TINY_MODEL, store_counts

Corpus = tuple[Path, dict[str, str | None]]


def _submit(res: IngestResources, path: Path, **kw: object) -> int:
    source = SourceSpec(path, detect_source(path))
    return submit(res.settings, res.sessions, InProcessDispatcher(res), source, **kw)  # type: ignore[arg-type]


def _items(res: IngestResources, job_id: int) -> dict[str, JobItem]:
    with session_scope(res.sessions) as session:
        rows = session.scalars(select(JobItem).where(JobItem.job_id == job_id)).all()
        return {row.uri: row for row in rows}


def _count(res: IngestResources, model: type[Asset] | type[Caption]) -> int:
    with session_scope(res.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_bad_file_corpus_through_a_whole_job(resources: IngestResources, corpus: Corpus) -> None:
    root, expected = corpus
    job_id = _submit(resources, root / "manifest.jsonl", dataset="corpus", tags=["t1"])
    progress = job_progress(resources.sessions, job_id)
    items = _items(resources, job_id)
    assert progress.status == JobStatus.COMPLETED_WITH_ERRORS.value
    assert progress.total == len(expected) == len(items)
    assert_items_as_expected(items, expected)
    assert progress.failed == sum(r is not None for r in expected.values())
    assert items["good/dup_a.png"].asset_id == items["good/dup_b.png"].asset_id
    assets = _count(resources, Asset)
    captions = _count(resources, Caption)
    assert store_counts(resources, TINY_MODEL) == (assets, captions)
    assert progress.new_points == assets + captions
    assert len(expected) - progress.failed - assets == 2  # dup_b and inner_link share an asset


def test_rerun_writes_no_new_points(resources: IngestResources, corpus: Corpus) -> None:
    root = corpus[0]
    first = job_progress(resources.sessions, _submit(resources, root / "manifest.jsonl"))
    before = store_counts(resources, TINY_MODEL)
    second = job_progress(resources.sessions, _submit(resources, root / "manifest.jsonl"))
    assert first.new_points > 0 and second.new_points == 0
    assert second.done == 0 and second.skipped == first.done + first.skipped
    assert store_counts(resources, TINY_MODEL) == before


def _picture(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 24), colour).save(path)


def _planned_job(resources: IngestResources, folder: Path) -> int:
    """A job over an image folder, planned (its items and batches recorded), not run."""
    job_id = create_ingest_job(resources.sessions, SourceSpec(folder, "folder"))
    plan_job(resources.settings, resources.sessions, job_id)
    return job_id


def test_new_captions_of_known_images_are_embedded(
    resources: IngestResources, tmp_path: Path
) -> None:
    folder = tmp_path / "pics"
    _picture(folder / "red.png", (255, 0, 0))
    (folder / "red.txt").write_text("a red square\n")
    _picture(folder / "blue.png", (0, 0, 255))
    (folder / "blue.json").write_text(json.dumps({"captions": ["blue"], "tags": ["colour"]}))
    first = job_progress(resources.sessions, _submit(resources, folder))
    assert (first.done, first.new_points) == (2, 4)
    (folder / "red.txt").write_text("a red square\na crimson block\n")
    second = job_progress(resources.sessions, _submit(resources, folder))
    assert (second.done, second.skipped, second.new_points) == (1, 1, 1)
    assert store_counts(resources, TINY_MODEL) == (2, 3)


def test_resume_runs_only_unfinished_batches(resources: IngestResources, tmp_path: Path) -> None:
    for i in range(20):
        _picture(tmp_path / f"src/{i:02d}.png", (i * 10, 100, 200 - i * 5))
    source = SourceSpec(tmp_path / "src", "folder")
    job_id = create_ingest_job(resources.sessions, source)
    assert plan_job(resources.settings, resources.sessions, job_id) == 20
    assert unfinished_batches(resources.sessions, job_id) == [0, 1, 2]
    InProcessDispatcher(resources).dispatch(job_id, [1])
    stopped = job_progress(resources.sessions, job_id)
    # running, but created without a lease and held by no process: reported interrupted
    assert not stopped.finished and stopped.status == JobState.INTERRUPTED.value
    dispatcher = InProcessDispatcher(resources)
    assert resume(resources.settings, resources.sessions, dispatcher, job_id) == [0, 2]
    progress = job_progress(resources.sessions, job_id)
    assert (progress.status, progress.done, progress.new_points) == ("completed", 20, 20)
    assert resume(resources.settings, resources.sessions, dispatcher, job_id) == []
    assert store_counts(resources, TINY_MODEL) == (20, 0)


def test_interrupted_planning_continues_without_duplicates(
    resources: IngestResources, tmp_path: Path
) -> None:
    for i in range(10):
        _picture(tmp_path / f"src/{i:02d}.png", (i * 20, 0, 0))
    settings: Settings = resources.settings
    job_id = _planned_job(resources, tmp_path / "src")
    with session_scope(resources.sessions) as session:  # simulate a plan cut after 8 items
        rows = session.scalars(select(JobItem).where(JobItem.job_id == job_id, JobItem.seq >= 8))
        for row in rows:
            session.delete(row)
        job = session.get_one(Job, job_id)
        job.total_items, job.source_spec = 8, {**job.source_spec, "planned": False}
    assert plan_job(settings, resources.sessions, job_id) == 10
    assert sorted(_items(resources, job_id)) == [f"{i:02d}.png" for i in range(10)]


class FlakyStore:
    """A real store access that fails its first ``failures`` uses with a transient error."""

    def __init__(self, inner: StoreAccess, failures: int) -> None:
        self.inner, self.failures = inner, failures

    @contextmanager
    def use(self) -> Iterator[VectorStore]:
        if self.failures > 0:
            self.failures -= 1
            raise TransientError("connection reset by peer (injected)")
        with self.inner.use() as store:
            yield store

    def close(self) -> None:
        self.inner.close()


def test_transient_store_errors_are_retried(resources: IngestResources, tmp_path: Path) -> None:
    for i in range(12):
        _picture(tmp_path / f"src/{i:02d}.png", (i * 20, 40, 40))
    flaky = FlakyStore(resources.store, failures=2)
    resources.store = flaky
    progress = job_progress(resources.sessions, _submit(resources, tmp_path / "src"))
    assert flaky.failures == 0
    assert (progress.status, progress.done, progress.new_points) == ("completed", 12, 12)
    assert store_counts(resources, TINY_MODEL) == (12, 0)


def test_resume_reopens_a_job_failed_with_pending_items(
    resources: IngestResources, tmp_path: Path
) -> None:
    for i in range(5):
        _picture(tmp_path / f"src/{i}.png", (i * 40, 0, 90))
    job_id = _planned_job(resources, tmp_path / "src")
    with session_scope(resources.sessions) as session:  # e.g. the API's job thread crashed
        repo.set_job_status(session=session, job_id=job_id, status=JobStatus.FAILED, error="x")
    resume(resources.settings, resources.sessions, InProcessDispatcher(resources), job_id)
    progress = job_progress(resources.sessions, job_id)
    assert (progress.status, progress.done) == ("completed", 5)


def test_a_batch_delivered_twice_is_counted_once(
    resources: IngestResources, tmp_path: Path
) -> None:
    for i in range(6):
        _picture(tmp_path / f"src/{i}.png", (i * 40, 90, 0))
    job_id = _planned_job(resources, tmp_path / "src")
    first_read = read_stage(resources, job_id, 0)
    second_read = read_stage(resources, job_id, 0)  # the broker re-delivered it meanwhile
    first = write_stage(resources, map_stage(resources, first_read))
    second = write_stage(resources, map_stage(resources, second_read))
    assert (first.done, first.new_points, first.finished_job) == (6, 6, True)
    assert (second.done, second.skipped, second.new_points) == (0, 0, 0)
    assert run_batch(resources, job_id, 0).items == 0  # a third delivery finds nothing pending
    progress = job_progress(resources.sessions, job_id)
    assert (progress.done, progress.new_points) == (6, 6)
    assert store_counts(resources, TINY_MODEL) == (6, 0)


def test_a_broken_encoder_leaves_items_pending(resources: IngestResources, tmp_path: Path) -> None:
    for i in range(4):
        _picture(tmp_path / f"src/{i}.png", (i * 60, 10, 10))
    real = resources.encoder(TINY_MODEL)

    def no_tower() -> ImageTower:
        raise EncoderError("cannot load the ONNX image tower (injected)")

    broken = DualEncoder(real.heads, TINY_MODEL, no_tower, real._text_tower)
    resources.encoder_loader = lambda version: broken
    resources._encoders.clear()
    job_id = _planned_job(resources, tmp_path / "src")
    with pytest.raises(EncoderError, match="known-good input"):
        run_batch(resources, job_id, 0)
    progress = job_progress(resources.sessions, job_id)
    assert (progress.done, progress.failed, progress.finished) == (0, 0, False)
    assert unfinished_batches(resources.sessions, job_id) == [0]
