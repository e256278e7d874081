"""Helpers shared by the ingest tests (settings, a tiny model version, store counts)."""

from __future__ import annotations

from pathlib import Path

import torch

from modalign.catalog import repo
from modalign.catalog.db import make_engine, make_session_factory, session_scope
from modalign.config import Settings
from modalign.encoders.checkpoint import ModelCard, save_checkpoint
from modalign.encoders.heads import AlignmentHeads, HeadSpec
from modalign.ingest.resources import IngestResources
from modalign.search.factory import open_store
from modalign.search.naming import Kind
from modalign.search.store import VectorStore

TINY_MODEL = "tiny-v1"
TINY_DIM = 32


def make_settings(data_dir: Path, database_url: str, shared_cache: Path, **ingest: int) -> Settings:
    """Settings for a test: its own data dir (tower cache shared), one torch thread."""
    data_dir.mkdir(parents=True, exist_ok=True)
    cache = data_dir / "cache"
    if not cache.exists():
        cache.symlink_to(shared_cache, target_is_directory=True)
    return Settings(
        paths={"data_dir": data_dir},
        database={"url": database_url},
        encoders={"torch_threads": 1, "image_backend": "onnx"},
        ingest={"batch_size": 8, **ingest},
    )


def register_tiny_model(settings: Settings, name: str, *, activate: bool = True) -> None:
    """A checkpoint with small random linear heads, registered in the catalog."""
    torch.manual_seed(0)
    spec = HeadSpec(embed_dim=TINY_DIM, kind="linear")
    heads = AlignmentHeads(spec)
    card = ModelCard(name=name, towers={}, heads=spec.to_dict(), temperature=0.07, data_hash="t")
    directory = save_checkpoint(settings.paths.models_dir / name, heads, card)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            repo.register_model_version(
                session=session,
                name=name,
                dims=TINY_DIM,
                checkpoint_path=str(directory),
                activate=activate,
            )
    finally:
        engine.dispose()


def counts_in(store: VectorStore, version: str) -> tuple[int, int]:
    """(image points, caption points) of a version."""
    if version not in store.versions():
        return 0, 0
    return store.count(Kind.IMAGES, version=version), store.count(Kind.CAPTIONS, version=version)


def store_counts(source: Settings | IngestResources, version: str) -> tuple[int, int]:
    """Counts through the resources' store, or a store opened just for this."""
    if isinstance(source, IngestResources):
        with source.store.use() as store:
            return counts_in(store, version)
    store = open_store(source)
    try:
        return counts_in(store, version)
    finally:
        store.close()
