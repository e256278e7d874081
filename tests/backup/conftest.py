"""Fixtures of the backup tests: a small real index (ingested with a tiny real model) per catalog
and store backend, and what it holds, to compare a restored index against.

The model version is a real checkpoint (the real towers, small random linear heads), registered
the way ``modalign train`` registers one (its path kept relative to the data directory). The ONNX
image tower is exported once per session into a cache every data directory links to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from modalign.backup.catalog import table_rows
from modalign.catalog import migrate
from modalign.catalog.db import make_engine, make_session_factory
from modalign.config import Settings
from modalign.encoders.checkpoint import ModelCard, save_checkpoint
from modalign.encoders.heads import AlignmentHeads, HeadSpec
from modalign.encoders.model_versions import register_checkpoint
from modalign.ingest.runner import JobRunner
from modalign.ingest.sources import SourceSpec
from modalign.search.client import SearchClient
from modalign.search.factory import open_store
from modalign.search.hydrate import CatalogLookup
from modalign.search.naming import Kind
from modalign.search.store import QueryParams, VectorStore

MODEL = "tiny-v1"
DIM = 32
IMAGES = 20
BACKENDS = ["edge", "client"]


@pytest.fixture(scope="session")
def tower_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tower-cache")


def index_settings(
    data_dir: Path, cache: Path, *, backend: str = "edge", database_url: str | None = None
) -> Settings:
    """Settings of an index in ``data_dir`` (nothing is created)."""
    return Settings(
        paths={"data_dir": data_dir}, database={"url": database_url},
        store={"backend": backend},
        encoders={"torch_threads": 1, "image_backend": "onnx"},
        ingest={"batch_size": 8, "encoder_process": False},
    )


def link_cache(settings: Settings, cache: Path) -> None:
    settings.paths.data_dir.mkdir(parents=True, exist_ok=True)
    settings.paths.cache_dir.symlink_to(cache, target_is_directory=True)


def register_tiny_model(settings: Settings, name: str = MODEL) -> None:
    torch.manual_seed(0)
    spec = HeadSpec(embed_dim=DIM, kind="linear")
    card = ModelCard(name=name, towers={}, heads=spec.to_dict(), temperature=0.07, data_hash="t")
    directory = save_checkpoint(settings.paths.models_dir / name, AlignmentHeads(spec), card)
    register_checkpoint(settings, directory, card)


def make_images(folder: Path, count: int, offset: int = 0) -> None:
    """``count`` distinct drawings (a disc of its own colour and size) with a caption each."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(offset, offset + count):
        image = Image.new("RGB", (64, 64), (255, 255, 255))
        colour = ((i * 47) % 256, (i * 91) % 256, (i * 13) % 256)
        ImageDraw.Draw(image).ellipse((4 + i % 9, 4, 60, 60 - i % 11), fill=colour)
        image.save(folder / f"disc{i:03d}.png")
        (folder / f"disc{i:03d}.txt").write_text(f"disc number {i}\n")


def ingest_folder(settings: Settings, folder: Path) -> None:
    runner = JobRunner(settings)
    try:
        job_id = runner.create(SourceSpec(path=folder, kind="folder"), dataset="shapes")
        runner.run_here(job_id)
    finally:
        runner.close()


def build_index(settings: Settings, cache: Path, images: int = IMAGES) -> Settings:
    """A data directory with the tiny model and ``images`` drawings ingested."""
    link_cache(settings, cache)
    migrate.upgrade(settings.database_url)
    register_tiny_model(settings)
    folder = settings.paths.data_dir.parent / "sources"
    make_images(folder, images)
    ingest_folder(settings, folder)
    return settings


@dataclass(frozen=True)
class IndexState:
    """What an index holds, compared before a backup and after its restore."""

    rows: dict[str, int]
    versions: list[str]
    active: str | None
    point_ids: dict[str, list[str]]
    hits: list[list[tuple[str, float]]]
    similar: list[list[tuple[int, str | None]]]


def state_of(settings: Settings) -> IndexState:
    """The catalog's rows, the store's point ids, and a few searches' hits."""
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            rows = table_rows(connection)
        with closing(open_store(settings)) as store:
            lookup = CatalogLookup(make_session_factory(engine, read_only=True))
            return _store_state(store, rows, SearchClient(store, assets=lookup))
    finally:
        engine.dispose()


def _store_state(store: VectorStore, rows: dict[str, int], client: SearchClient) -> IndexState:
    ids = {
        f"{version}/{kind.value}": sorted(r.id for r in store.scroll(kind, limit=10_000,
                                                                      version=version))
        for version in store.versions() for kind in Kind
    }
    probes = store.scroll(Kind.IMAGES, limit=3, with_vectors=True)
    hits = [
        [(h.id, round(h.score, 5)) for h in store.query(kind, np.asarray(p.vector),
                                                         params=QueryParams(limit=5, exact=True))]
        for p in probes for kind in Kind
    ]
    similar = [
        [(h.asset_id, h.asset.uri if h.asset else None)
         for h in client.similar_images(int(p.payload["asset_id"]), limit=5, exact=True)]
        for p in probes
    ]
    return IndexState(rows, store.versions(), store.active_version(), ids, hits, similar)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def edge_index(tmp_path: Path, tower_cache: Path) -> Iterator[Settings]:
    """An index of its own: SQLite catalog, qdrant-edge store."""
    yield build_index(index_settings(tmp_path / "data", tower_cache), tower_cache)
