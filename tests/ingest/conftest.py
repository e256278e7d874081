"""Fixtures of the ingest tests: the bad-file corpus, settings, a tiny registered model version,
and for the crash tests a source folder and a data dir to copy.

The model version is a real checkpoint (real towers, small linear heads with random weights):
the same code path as a trained model, cheap to make. The ONNX image tower is exported once per
session into a shared cache that every test's data directory links to.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from modalign.catalog.migrate import upgrade
from modalign.config import Settings
from modalign.ingest.resources import IngestResources, open_resources

from .corpus import build_corpus
from .faults import make_source
from .helpers import TINY_MODEL, fresh_postgres, make_settings, register_tiny_model


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


COMBINATIONS = [
    pytest.param(("edge", "sqlite"), id="edge-sqlite"),
    pytest.param(("client", "sqlite"), id="client-sqlite"),
    pytest.param(("edge", "postgres"), id="edge-postgres", marks=pytest.mark.postgres),
    pytest.param(("client", "postgres"), id="client-postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=COMBINATIONS)
def resources_factory(
    request: pytest.FixtureRequest, tmp_path: Path, shared_cache: Path
) -> Iterator[Callable[[str], IngestResources]]:
    """Makes resources (each its own data dir and catalog) on one store backend (qdrant-edge;
    qdrant-client in local mode, standing in for a server) and one catalog (SQLite;
    PostgreSQL), the tiny model active in each."""
    backend, catalog = request.param
    with ExitStack() as stack:

        def make(name: str) -> IngestResources:
            if catalog == "sqlite":
                url = f"sqlite:///{tmp_path / name / 'catalog.db'}"
                (tmp_path / name).mkdir(parents=True, exist_ok=True)
                upgrade(url)
            else:
                url = stack.enter_context(fresh_postgres())
            res = _resources_on(backend, url, tmp_path / name, shared_cache)
            stack.callback(res.close)
            return res

        yield make


@pytest.fixture
def any_resources(resources_factory: Callable[[str], IngestResources]) -> IngestResources:
    """Resources on each store backend and each catalog (see ``resources_factory``)."""
    return resources_factory("main")


def _resources_on(backend: str, url: str, base: Path, shared_cache: Path) -> IngestResources:
    settings = make_settings(base / "data", url, shared_cache)
    settings = settings.model_copy(
        update={"store": settings.store.model_copy(update={"backend": backend})}
    )
    register_tiny_model(settings, TINY_MODEL)
    return open_resources(settings, shared=False)


@pytest.fixture(scope="session")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The crash tests' source folder (see ``faults.make_source``)."""
    return make_source(tmp_path_factory.mktemp("source") / "drawings")


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Path:
    """A data dir with a migrated SQLite catalog and the tiny model version, for copying."""
    data = tmp_path_factory.mktemp("template") / "data"
    settings = make_settings(data, f"sqlite:///{(data / 'catalog.db').resolve()}", shared_cache)
    upgrade(settings.database_url)
    register_tiny_model(settings, TINY_MODEL)
    return data


def copy_template(template: Path, data: Path) -> Path:
    """A data dir of a test's own: ``template`` copied (the tower cache stays a link)."""
    shutil.copytree(template, data, symlinks=True)
    return data


@pytest.fixture
def crash_data(template: Path, tmp_path: Path) -> Path:
    """A copy of ``template`` in the test's tmp dir."""
    return copy_template(template, tmp_path / "data")
