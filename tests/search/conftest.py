"""Stores of both backends: qdrant-edge on a tmp dir, qdrant-client in local mode (for a server).

``loaded_store`` (read-only tests) holds ``dataset`` in version ``v1``, active; it is built once per
session and backend. ``fresh_store`` is an empty store of its own for tests that write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from modalign.config import StoreSettings
from modalign.search import Kind, VectorStore
from modalign.search.edge_store import EdgeStore
from modalign.search.qdrant_client_store import ClientStore

from .dataset import CAPTION_DIM, IMAGE_DIM, Dataset, make_dataset

BACKENDS = ["edge", "client"]
StoreMaker = Callable[[str], VectorStore]


def open_backend(backend: str, root: Path) -> VectorStore:
    """An empty store of the named backend (edge under ``root``)."""
    if backend == "edge":
        return EdgeStore(root, StoreSettings())
    return ClientStore(QdrantClient(location=":memory:"), StoreSettings(), local=True)


def load(store: VectorStore, data: Dataset, version: str = "v1") -> VectorStore:
    """Create ``version``, write the dataset in batches and activate it."""
    store.create_version(version, image_dim=IMAGE_DIM, caption_dim=CAPTION_DIM)
    for start in range(0, len(data.images), 500):
        store.upsert(Kind.IMAGES, data.images[start : start + 500], version=version)
    for start in range(0, len(data.captions), 500):
        store.upsert(Kind.CAPTIONS, data.captions[start : start + 500], version=version)
    store.set_active_version(version)
    return store


@pytest.fixture(scope="session")
def dataset() -> Dataset:
    return make_dataset()


def _loaded(backend: str, factory: pytest.TempPathFactory, data: Dataset) -> Iterator[VectorStore]:
    store = load(open_backend(backend, factory.mktemp(f"store-{backend}")), data)
    yield store
    store.close()


@pytest.fixture(scope="session")
def edge_loaded(
    tmp_path_factory: pytest.TempPathFactory, dataset: Dataset
) -> Iterator[VectorStore]:
    yield from _loaded("edge", tmp_path_factory, dataset)


@pytest.fixture(scope="session")
def client_loaded(
    tmp_path_factory: pytest.TempPathFactory, dataset: Dataset
) -> Iterator[VectorStore]:
    yield from _loaded("client", tmp_path_factory, dataset)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def loaded_store(backend: str, request: pytest.FixtureRequest) -> VectorStore:
    store = request.getfixturevalue(f"{backend}_loaded")
    assert isinstance(store, EdgeStore | ClientStore)
    return store


@pytest.fixture
def fresh_store(backend: str, tmp_path: Path) -> Iterator[VectorStore]:
    store = open_backend(backend, tmp_path / "store")
    yield store
    store.close()
