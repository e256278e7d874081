"""open_store picks the backend from the settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modalign.config import PathsSettings, Settings, StoreSettings
from modalign.search import Kind, QueryParams, open_store
from modalign.search.edge_store import EdgeStore
from modalign.search.qdrant_client_store import ClientStore

from .dataset import CAPTION_DIM, IMAGE_DIM, make_dataset


def _settings(root: Path, backend: str) -> Settings:
    return Settings(paths=PathsSettings(data_dir=root), store=StoreSettings(backend=backend))  # type: ignore[arg-type]


def test_edge_is_the_default(tmp_path: Path) -> None:
    store = open_store(Settings(paths=PathsSettings(data_dir=tmp_path)))
    try:
        assert isinstance(store, EdgeStore)
    finally:
        store.close()
    assert (tmp_path / "qdrant" / ".lock").exists()


def test_client_without_url_is_local_mode_on_disk(tmp_path: Path) -> None:
    data = make_dataset(n_images=50, seed=5)
    store = open_store(_settings(tmp_path, "client"))
    assert isinstance(store, ClientStore)
    store.create_version("v", image_dim=IMAGE_DIM, caption_dim=CAPTION_DIM)
    store.upsert(Kind.IMAGES, data.images, version="v")
    store.set_active_version("v")
    store.close()
    store = open_store(_settings(tmp_path, "client"))
    try:
        assert store.active_version() == "v" and store.count(Kind.IMAGES) == 50
        hit = store.query(
            Kind.IMAGES, np.asarray(data.images[7].vector), params=QueryParams(limit=1)
        )
        assert hit[0].id == data.images[7].id
    finally:
        store.close()
