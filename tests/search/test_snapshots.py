"""Store snapshots on both backends (qdrant-edge, qdrant-client local mode on disk): a copy taken
inside ``pause_writes`` opens with the same versions, points and search results; queries answer
during the pause while writes wait for its end."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import cast

import numpy as np
import pytest
from qdrant_client import QdrantClient

from modalign.config import Settings, StoreSettings
from modalign.errors import StoreError
from modalign.search import Kind, QueryParams, VectorStore
from modalign.search.factory import open_store
from modalign.search.filters import Filter, Match
from modalign.search.qdrant_client_store import ClientStore
from modalign.search.schema import ImagePayload
from modalign.search.store import PayloadUpdate

from .conftest import BACKENDS, load
from .dataset import CAPTION_DIM, IMAGE_DIM, Dataset

WAIT_S = 30.0
BLOCKED_S = 0.3
POINTS = 300  # local mode persists point by point: the whole dataset takes half a minute there


def _settings(backend: str, data_dir: Path) -> Settings:
    return Settings(paths={"data_dir": data_dir}, store={"backend": backend})


def _store_folder(backend: str, data_dir: Path) -> Path:
    store_dir = _settings(backend, data_dir).paths.store_dir
    return store_dir if backend == "edge" else store_dir / "local"


@pytest.fixture(scope="module", params=BACKENDS)
def on_disk(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, dataset: Dataset
) -> Iterator[tuple[str, VectorStore]]:
    """A loaded store of each backend, on disk, opened the way modalign opens it."""
    backend = str(request.param)
    store = open_store(_settings(backend, tmp_path_factory.mktemp(f"snap-{backend}")))
    part = Dataset(dataset.images[:POINTS], dataset.image_vectors[:POINTS],
                   dataset.captions[:POINTS], dataset.caption_vectors[:POINTS])
    load(store, part)
    yield backend, store
    store.close()


def _contents(store: VectorStore) -> tuple[object, ...]:
    ids = {
        kind: sorted(r.id for r in store.scroll(kind, limit=10_000)) for kind in Kind
    }
    probe = np.random.default_rng(7).normal(size=IMAGE_DIM).astype(np.float32)
    hits = [(h.id, round(h.score, 5)) for h in
            store.query(Kind.IMAGES, probe, params=QueryParams(limit=10, exact=True))]
    return store.versions(), store.active_version(), ids, hits


def test_a_snapshot_opens_with_the_same_points_and_hits(
    on_disk: tuple[str, VectorStore], tmp_path: Path
) -> None:
    backend, store = on_disk
    copy = tmp_path / "copy"
    with store.pause_writes():
        store.snapshot(_store_folder(backend, copy))
    assert not any(p.name == ".lock" for p in _store_folder(backend, copy).iterdir())
    with closing(open_store(_settings(backend, copy))) as reopened:
        assert _contents(reopened) == _contents(store)
        assert reopened.count(Kind.CAPTIONS) == store.count(Kind.CAPTIONS) > 0


def test_a_snapshot_needs_the_writes_paused(
    on_disk: tuple[str, VectorStore], tmp_path: Path
) -> None:
    store = on_disk[1]
    with pytest.raises(StoreError, match="writes paused"):
        store.snapshot(tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def test_queries_answer_and_writes_wait_during_a_pause(
    on_disk: tuple[str, VectorStore], dataset: Dataset
) -> None:
    _, store = on_disk
    before = store.count(Kind.IMAGES)
    point = dataset.images[0]
    moved = type(point)(id=point.id, vector=-np.asarray(point.vector), payload=point.payload)
    answered, wrote = threading.Event(), threading.Event()

    def query() -> None:
        store.query(Kind.IMAGES, np.asarray(point.vector), params=QueryParams(limit=3))
        answered.set()

    def write() -> None:
        store.upsert(Kind.IMAGES, [moved])
        wrote.set()

    with store.pause_writes():
        writer = threading.Thread(target=write)
        writer.start()
        threading.Thread(target=query).start()
        assert answered.wait(WAIT_S)
        assert not wrote.wait(BLOCKED_S)
    assert wrote.wait(WAIT_S)
    writer.join(WAIT_S)
    store.upsert(Kind.IMAGES, [point])  # back as loaded, for the other tests
    assert store.count(Kind.IMAGES) == before


NOTHING = Filter(must=[Match(field="source", value="no-such-source")])
WRITES: dict[str, Callable[[VectorStore, Dataset], None]] = {
    "upsert": lambda store, data: store.upsert(Kind.IMAGES, data.images[:1]),
    "delete": lambda store, data: store.delete(Kind.IMAGES, [str(uuid.UUID(int=1))]),
    "delete_where": lambda store, data: store.delete_where(Kind.IMAGES, NOTHING),
    "set_payload": lambda store, data: store.set_payload(
        Kind.IMAGES, [PayloadUpdate(NOTHING, cast(ImagePayload, data.images[0].payload))]),
    "create_version": lambda store, data: store.create_version(
        "v1", image_dim=IMAGE_DIM, caption_dim=CAPTION_DIM),
    "set_active_version": lambda store, data: store.set_active_version("v1"),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_every_write_waits_for_the_pause(
    on_disk: tuple[str, VectorStore], dataset: Dataset, write: str
) -> None:
    store = on_disk[1]
    done = threading.Event()

    def run() -> None:
        WRITES[write](store, dataset)
        done.set()

    with store.pause_writes():
        thread = threading.Thread(target=run)
        thread.start()
        assert not done.wait(BLOCKED_S)
    assert done.wait(WAIT_S)
    thread.join(WAIT_S)


def test_an_in_memory_store_has_nothing_to_snapshot(tmp_path: Path) -> None:
    store = ClientStore(QdrantClient(location=":memory:"), StoreSettings(), local=True)
    with store.pause_writes(), pytest.raises(StoreError, match="in-memory"):
        store.snapshot(tmp_path / "copy")
