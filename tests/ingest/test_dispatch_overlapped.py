"""In-process jobs with the encoder in a child process: same outcome as the sequential path."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from modalign.catalog.db import session_scope
from modalign.catalog.migrate import upgrade
from modalign.catalog.models import Asset, JobItem
from modalign.config import Settings
from modalign.encoders.towers import image_tower_id
from modalign.errors import EncoderError, NotFoundError
from modalign.ingest.dispatch import InProcessDispatcher
from modalign.ingest.dispatch.overlapped import OverlappedDispatcher
from modalign.ingest.encoder_process import EncoderProcess
from modalign.ingest.jobs import submit
from modalign.ingest.plan import create_ingest_job, plan_job
from modalign.ingest.progress import job_progress, unfinished_batches
from modalign.ingest.resources import IngestResources, open_resources
from modalign.ingest.sources import SourceSpec, detect_source
from modalign.search.naming import Kind

from .helpers import TINY_MODEL, make_settings, register_tiny_model, store_counts
from .test_pipeline import FlakyStore

Corpus = tuple[Path, dict[str, str | None]]


@pytest.fixture
def encoder(ingest_settings: Settings) -> Iterator[EncoderProcess]:
    process = EncoderProcess(ingest_settings)
    yield process
    process.close()


def _overlapped(res: IngestResources, encoder: EncoderProcess, path: Path) -> int:
    source = SourceSpec(path, detect_source(path))
    return submit(res.settings, res.sessions, OverlappedDispatcher(res, encoder), source)


def _items(res: IngestResources) -> dict[str, tuple[str, str | None, str | None]]:
    """uri -> (status, error, asset content hash)."""
    with session_scope(res.sessions) as session:
        hashes = {i: h for i, h in session.execute(select(Asset.id, Asset.content_hash))}
        rows = session.scalars(select(JobItem)).all()
        return {
            r.uri: (r.status, r.error, hashes.get(r.asset_id) if r.asset_id else None) for r in rows
        }


def _points(res: IngestResources, kind: Kind) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """Point id -> (vector, payload without its time stamp)."""
    with res.store.use() as store:
        records = store.scroll(kind, limit=10_000, with_vectors=True, version=TINY_MODEL)
    out = {}
    for record in records:
        assert record.vector is not None
        payload = {k: v for k, v in record.payload.items() if k != "created_at"}
        out[record.id] = (record.vector, payload)
    return out


def test_overlapped_job_matches_the_sequential_one_on_the_bad_file_corpus(
    resources: IngestResources, corpus: Corpus, tmp_path: Path
) -> None:
    root, expected = corpus
    source = SourceSpec(root / "manifest.jsonl", "manifest")
    submit(resources.settings, resources.sessions, InProcessDispatcher(resources), source)
    cache = resources.settings.paths.cache_dir.resolve()
    other = make_settings(tmp_path / "twin", f"sqlite:///{tmp_path / 'twin.db'}", cache)
    upgrade(other.database_url)
    register_tiny_model(other, TINY_MODEL)
    twin, encoder = open_resources(other, shared=False), EncoderProcess(other)
    try:
        _overlapped(twin, encoder, root / "manifest.jsonl")
        items = _items(twin)
        assert items == _items(resources)
        for key, reason in expected.items():  # each bad file failed alone, with its reason
            status, error, _ = items[key]
            assert status == "failed" and reason in (error or "") if reason else status != "failed"
        for kind in Kind:
            sequential, overlapped = _points(resources, kind), _points(twin, kind)
            assert sequential.keys() == overlapped.keys() and sequential
            for point_id, (vector, payload) in sequential.items():
                assert overlapped[point_id][1] == payload
                np.testing.assert_allclose(overlapped[point_id][0], vector, atol=1e-6)
    finally:
        encoder.close()
        twin.close()


def _picture(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 24), colour).save(path)


def test_duplicates_in_neighbouring_batches_make_one_asset(
    resources: IngestResources, encoder: EncoderProcess, tmp_path: Path
) -> None:
    for i in range(12):  # batches of 8: 07 (batch 0) and 08 (batch 1) are the same image
        _picture(tmp_path / f"src/{i:02d}.png", ((7 if i == 8 else i) * 20, 50, 7))
    (tmp_path / "src/08.txt").write_text("the same picture, another caption\n")
    job_id = _overlapped(resources, encoder, tmp_path / "src")
    progress = job_progress(resources.sessions, job_id)
    assert (progress.status, progress.done, progress.failed) == ("completed", 12, 0)
    items = _items(resources)
    assert items["07.png"][2] == items["08.png"][2] is not None
    assert store_counts(resources, TINY_MODEL) == (11, 1)


def test_transient_store_errors_are_retried(
    resources: IngestResources, encoder: EncoderProcess, tmp_path: Path
) -> None:
    for i in range(20):
        _picture(tmp_path / f"src/{i:02d}.png", (i * 12, 40, 40))
    flaky = FlakyStore(resources.store, failures=2)
    resources.store = flaky
    job_id = _overlapped(resources, encoder, tmp_path / "src")
    progress = job_progress(resources.sessions, job_id)
    assert flaky.failures == 0
    assert (progress.status, progress.done, progress.new_points) == ("completed", 20, 20)
    assert store_counts(resources, TINY_MODEL) == (20, 0)


def test_a_broken_encoder_leaves_items_pending(resources: IngestResources, tmp_path: Path) -> None:
    settings = resources.settings
    broken_cache = tmp_path / "broken-cache"
    size = settings.encoders.image_size
    (broken_cache / "onnx").mkdir(parents=True)
    (broken_cache / "onnx" / f"{image_tower_id(size)}.onnx").write_bytes(b"not a model")
    (settings.paths.data_dir / "cache").unlink()
    (settings.paths.data_dir / "cache").symlink_to(broken_cache, target_is_directory=True)
    for i in range(12):
        _picture(tmp_path / f"src/{i:02d}.png", (i * 20, 10, 10))
    job_id = create_ingest_job(resources.sessions, SourceSpec(tmp_path / "src", "folder"))
    plan_job(settings, resources.sessions, job_id)
    process = EncoderProcess(settings)
    try:
        with pytest.raises(EncoderError, match="known-good input"):
            OverlappedDispatcher(resources, process).dispatch(job_id, [0, 1])
        assert process.outstanding == 0
    finally:
        process.close()
    progress = job_progress(resources.sessions, job_id)
    assert (progress.done, progress.failed, progress.finished) == (0, 0, False)
    assert unfinished_batches(resources.sessions, job_id) == [0, 1]


def _kill(process: EncoderProcess) -> None:
    child = process._process
    assert child is not None and child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)


def test_the_encoder_process_reports_errors_and_its_death(ingest_settings: Settings) -> None:
    process = EncoderProcess(ingest_settings)
    try:
        process.submit("no-such-model", [])
        _kill(process)
        with pytest.raises(EncoderError, match="exited"):
            process.receive()
        process.submit("no-such-model", [])
        _kill(process)
        with pytest.raises(EncoderError, match="exited"):  # a reply was owed: no silent restart
            process.submit("no-such-model", [])
        assert process.outstanding == 0
        process.submit("no-such-model", [])  # a new child
        with pytest.raises(NotFoundError):
            process.receive()
        assert process.outstanding == 0
    finally:
        process.close()
