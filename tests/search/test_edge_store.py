"""What only the qdrant-edge backend does: directory ownership, persistence, optimize()."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest

from modalign.config import StoreSettings
from modalign.errors import StoreError
from modalign.search import Kind, QueryParams
from modalign.search.edge_store import EdgeStore
from modalign.search.schema import CAPTION_FIELDS, IMAGE_FIELDS

from .conftest import load
from .dataset import CAPTION_DIM, IMAGE_DIM, exact_top, make_dataset


def test_one_process_owns_the_directory(tmp_path: Path) -> None:
    with (
        EdgeStore(tmp_path, StoreSettings()),
        pytest.raises(StoreError, match="another process"),
    ):
        EdgeStore(tmp_path, StoreSettings())
    EdgeStore(tmp_path, StoreSettings()).close()  # released on close


def test_payload_indexes_exist_before_any_point(tmp_path: Path) -> None:
    with EdgeStore(tmp_path, StoreSettings()) as store:
        store.create_version("v", image_dim=8, caption_dim=8)
        images = store.info(Kind.IMAGES, version="v")
        captions = store.info(Kind.CAPTIONS, version="v")
    assert images.points == 0
    assert set(images.payload_indexes) == set(IMAGE_FIELDS)
    assert set(captions.payload_indexes) == set(CAPTION_FIELDS)
    assert images.payload_indexes["created_at"] == "datetime"
    assert images.payload_indexes["width"] == "integer"


def test_data_and_active_version_survive_reopen(tmp_path: Path) -> None:
    data = make_dataset(n_images=200, seed=21)
    with EdgeStore(tmp_path, StoreSettings()) as store:
        load(store, data, version="v7")
        before = store.query(Kind.IMAGES, data.images[3].vector)
    with EdgeStore(tmp_path, StoreSettings()) as store:
        assert store.active_version() == "v7"
        assert store.count(Kind.IMAGES) == 200
        assert store.count(Kind.CAPTIONS) == len(data.captions)
        assert store.query(Kind.IMAGES, data.images[3].vector) == before


def test_each_write_survives_a_close_without_another_flush(tmp_path: Path) -> None:
    """Every upsert and delete is flushed when it returns; closing right after each keeps them."""
    data = make_dataset(n_images=30, seed=23)
    for start in range(0, 30, 10):  # one open-write-close cycle per batch, like Celery workers
        with EdgeStore(tmp_path, StoreSettings()) as store:
            store.create_version("v", image_dim=IMAGE_DIM, caption_dim=CAPTION_DIM)
            store.upsert(Kind.IMAGES, data.images[start : start + 10], version="v")
    with EdgeStore(tmp_path, StoreSettings()) as store:
        store.delete(Kind.IMAGES, [p.id for p in data.images[:4]], version="v")
    with EdgeStore(tmp_path, StoreSettings()) as store:
        assert store.count(Kind.IMAGES, version="v") == 26
        kept = store.retrieve(Kind.IMAGES, [p.id for p in data.images[:6]], version="v")
        assert [r.id for r in kept] == [p.id for p in data.images[4:6]]


def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, StoreSettings())
    store.create_version("v", image_dim=8, caption_dim=8)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count(Kind.IMAGES, version="v")


def test_fresh_points_are_searchable_before_and_after_optimize(tmp_path: Path) -> None:
    """With a tiny indexing threshold 1,000 points need a graph: yellow until optimize."""
    data = make_dataset(n_images=1000, seed=22)
    with EdgeStore(tmp_path, StoreSettings(), indexing_threshold_kb=32) as store:
        load(store, data)
        info = store.info(Kind.IMAGES)
        assert (info.status, info.indexed_points) == ("yellow", 0)
        queries = np.random.default_rng(0).normal(size=(20, IMAGE_DIM))
        before = [store.query(Kind.IMAGES, q) for q in queries]
        store.optimize()
        info = store.info(Kind.IMAGES)
        assert info.status == "green" and info.indexed_points == info.points == 1000
        recall = 0.0
        for q, plain in zip(queries, before, strict=True):
            truth = [i for i, _ in exact_top(data.images, data.image_vectors, q, None, 10)]
            assert [h.id for h in plain] == truth  # plain segment: exact
            graph = store.query(Kind.IMAGES, q, params=QueryParams(limit=10, hnsw_ef=256))
            recall += len({h.id for h in graph} & set(truth)) / 10
        assert recall / len(queries) >= 0.95


class _Started(logging.Handler):
    """Sets ``event`` when the store logs that it starts building a graph."""

    def __init__(self, event: threading.Event) -> None:
        super().__init__()
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("optimizing "):
            self.event.set()


def test_queries_answer_while_optimize_builds_the_graph(tmp_path: Path) -> None:
    """optimize() holds the store's gate shared, as queries do: they go on meanwhile."""
    data = make_dataset(n_images=1000, seed=23)
    started, finished = threading.Event(), threading.Event()
    handler, logger = _Started(started), logging.getLogger("modalign.search.edge_store")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    with EdgeStore(tmp_path, StoreSettings(), indexing_threshold_kb=32) as store:
        load(store, data)

        def optimize() -> None:
            store.optimize()
            finished.set()

        builder = threading.Thread(target=optimize)
        builder.start()
        try:
            assert started.wait(60), "optimize() did not start building"
            answered = 0
            for query in np.random.default_rng(1).normal(size=(1000, IMAGE_DIM)):
                hits = store.query(Kind.IMAGES, query)
                if finished.is_set():
                    break
                assert len(hits) == 10
                answered += 1
        finally:
            builder.join()
            logger.removeHandler(handler)
            logger.setLevel(level)
        assert answered > 0, "no query answered while the graph was being built"
        assert store.info(Kind.IMAGES).status == "green"
