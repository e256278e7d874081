"""Helpers shared by the ingest tests (settings, a tiny model version, store counts)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import psycopg
import torch

from modalign.catalog import repo
from modalign.catalog.db import make_engine, make_session_factory, session_scope
from modalign.catalog.migrate import upgrade
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


@contextmanager
def fresh_postgres(prefix: str = "modalign_ingest") -> Iterator[str]:
    """A new, migrated PostgreSQL database on 127.0.0.1 (dropped afterwards)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Worker:
    """A `modalign worker` subprocess in its own process group (so kill -9 takes it all)."""

    def __init__(self, env: dict[str, str], log_path: Path, *extra: str) -> None:
        command = [
            str(Path(sys.executable).parent / "modalign"),
            "worker",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            *extra,
        ]
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            command, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.log.close()

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then make sure nothing is left."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)  # the main process: warm shutdown
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        self.kill()
