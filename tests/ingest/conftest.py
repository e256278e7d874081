"""Fixtures of the ingest tests: the bad-file corpus, settings, a tiny registered model version.

The model version is a real checkpoint (real towers, small linear heads with random weights):
the same code path as a trained model, cheap to make. The ONNX image tower is exported once per
session into a shared cache that every test's data directory links to.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from modalign.config import Settings
from modalign.ingest.resources import IngestResources, open_resources

from .corpus import build_corpus
from .helpers import TINY_MODEL, make_settings, register_tiny_model


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str | None]]:
    """(corpus root, manifest key -> expected reason or None)."""
    base = tmp_path_factory.mktemp("corpus")
    expected = build_corpus(base)
    return base / "root", expected


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tower-cache")


@pytest.fixture
def ingest_settings(tmp_path: Path, sqlite_url: str, shared_cache: Path) -> Settings:
    """Settings on a fresh SQLite catalog with the tiny model registered and active."""
    settings = make_settings(tmp_path / "data", sqlite_url, shared_cache)
    register_tiny_model(settings, TINY_MODEL)
    return settings


@pytest.fixture
def resources(ingest_settings: Settings) -> Iterator[IngestResources]:
    res = open_resources(ingest_settings, shared=False)
    yield res
    res.close()
