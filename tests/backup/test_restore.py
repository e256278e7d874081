"""Backup then restore, on both store backends and both catalogs, and every refusal of a restore.

A restored index must hold what was backed up (catalog rows, store versions and point ids, the
hits of searches through the store and through the catalog) with the original data directory
gone, and a restore that is refused must leave its target as it was.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from modalign.backup import create_backup, restore_backup
from modalign.backup.manifest import MANIFEST_FILE, read_manifest
from modalign.config import Settings
from modalign.encoders.model_versions import checkpoint_dir
from modalign.errors import InvalidInputError
from modalign.filecopy import copy_tree
from modalign.ingest.check import check
from modalign.ingest.resources import open_resources

from .conftest import (
    IMAGES,
    MODEL,
    build_index,
    index_settings,
    ingest_folder,
    make_images,
    state_of,
)

CATALOGS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _empty_postgres(url: str) -> None:
    """What a lost database comes back as: no tables at all."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


@pytest.fixture(params=CATALOGS)
def catalog(request: pytest.FixtureRequest) -> str | None:
    """None (SQLite in the data directory) or an empty PostgreSQL database's URL."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("empty_postgres_url"))


def _check_is_clean(settings: Settings) -> bool:
    """``modalign check`` on a data directory: catalog and store agree."""
    res = open_resources(settings, shared=False)
    try:
        with res.store.use() as store:
            return check(res.sessions, store).clean
    finally:
        res.close()


def test_a_restored_index_holds_what_was_backed_up(
    backend: str, catalog: str | None, tmp_path: Path, tower_cache: Path
) -> None:
    source = index_settings(tmp_path / "a" / "data", tower_cache, backend=backend,
                            database_url=catalog)
    build_index(source, tower_cache)
    before = state_of(source)
    report = create_backup(source, tmp_path / "backup")
    assert report.rows == before.rows and report.rows["assets"] == IMAGES
    assert sorted(report.points.values()) == [IMAGES, IMAGES] and report.models == [MODEL]
    shutil.rmtree(source.paths.data_dir)
    if catalog is not None:
        _empty_postgres(catalog)
    target = index_settings(tmp_path / "b" / "data", tower_cache, backend=backend,
                            database_url=catalog)
    restored = restore_backup(target, tmp_path / "backup")
    assert (restored.rows, restored.points) == (report.rows, report.points)
    assert state_of(target) == before
    assert _check_is_clean(target)
    name, folder = checkpoint_dir(target)
    assert name == MODEL and folder.is_relative_to(target.paths.data_dir.resolve())


def test_a_restored_index_takes_new_images(tmp_path: Path, tower_cache: Path) -> None:
    source = build_index(index_settings(tmp_path / "a" / "data", tower_cache), tower_cache)
    create_backup(source, tmp_path / "backup")
    target = index_settings(tmp_path / "b" / "data", tower_cache)
    restore_backup(target, tmp_path / "backup")
    target.paths.cache_dir.symlink_to(tower_cache, target_is_directory=True)
    make_images(tmp_path / "more", 4, offset=IMAGES)
    ingest_folder(target, tmp_path / "more")
    assert state_of(target).rows["assets"] == IMAGES + 4


@pytest.fixture(scope="module")
def backed_up(tmp_path_factory: pytest.TempPathFactory, tower_cache: Path) -> Iterator[Path]:
    """A backup of an edge + SQLite index, shared by the refusal tests (they never change it)."""
    base = tmp_path_factory.mktemp("refusals")
    settings = build_index(index_settings(base / "data", tower_cache), tower_cache)
    create_backup(settings, base / "backup")
    yield base / "backup"


def _target(tmp_path: Path, tower_cache: Path, **kwargs: str) -> Settings:
    return index_settings(tmp_path / "restored" / "data", tower_cache, **kwargs)


def _untouched(settings: Settings) -> bool:
    """Nothing was written: no data directory, no staging folder beside it."""
    parent = settings.paths.data_dir.parent
    return not settings.paths.data_dir.exists() and not (parent.exists() and any(parent.iterdir()))


def test_a_restore_into_a_data_directory_in_use_is_refused(
    backed_up: Path, tmp_path: Path, tower_cache: Path
) -> None:
    target = _target(tmp_path, tower_cache)
    target.paths.data_dir.mkdir(parents=True)
    (target.paths.data_dir / "catalog.db").write_bytes(b"the user's own")
    with pytest.raises(InvalidInputError, match="not empty"):
        restore_backup(target, backed_up)
    assert [p.name for p in target.paths.data_dir.iterdir()] == ["catalog.db"]
    assert (target.paths.data_dir / "catalog.db").read_bytes() == b"the user's own"


def test_a_restore_into_an_empty_existing_folder_fills_it(
    backed_up: Path, tmp_path: Path, tower_cache: Path
) -> None:
    target = _target(tmp_path, tower_cache)
    target.paths.data_dir.mkdir(parents=True)  # e.g. a mounted volume: it cannot be renamed over
    restore_backup(target, backed_up)
    assert sorted(p.name for p in target.paths.data_dir.iterdir()) == [
        "catalog.db", "models", "qdrant"]


def _flip_a_store_byte(backup: Path) -> str:
    segment = next(p for p in sorted((backup / "qdrant" / "collections").rglob("*"))
                   if p.is_file() and p.stat().st_size > 0)
    with segment.open("r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0xFF]))
    return rf"{segment.relative_to(backup).as_posix()} has SHA-256 [0-9a-f]+, the manifest says"


def _truncate_the_manifest(backup: Path) -> str:
    manifest = backup / MANIFEST_FILE
    manifest.write_bytes(manifest.read_bytes()[: manifest.stat().st_size // 2])
    return r"not readable JSON \(truncated or damaged\?\)"


def _remove_a_model_file(backup: Path) -> str:
    (backup / "models" / MODEL / "card.json").unlink()
    return rf"models/{MODEL}/card\.json is missing"


@pytest.mark.parametrize("damage", [_flip_a_store_byte, _truncate_the_manifest,
                                    _remove_a_model_file])
def test_a_damaged_backup_is_refused_naming_the_damage_and_nothing_is_written(
    backed_up: Path, tmp_path: Path, tower_cache: Path, damage: Callable[[Path], str]
) -> None:
    backup = tmp_path / "backup"
    copy_tree(backed_up, backup)
    message = damage(backup)
    target = _target(tmp_path, tower_cache)
    with pytest.raises(InvalidInputError, match=message):
        restore_backup(target, backup)
    assert _untouched(target)


def test_a_backup_of_another_store_backend_is_refused(
    backed_up: Path, tmp_path: Path, tower_cache: Path
) -> None:
    target = _target(tmp_path, tower_cache, backend="client")
    wrong = r"store\.backend=edge \(edge\); these settings use store\.backend=client"
    with pytest.raises(InvalidInputError, match=wrong):
        restore_backup(target, backed_up)
    assert _untouched(target)


def test_a_backup_for_another_catalog_dialect_is_refused(
    backed_up: Path, tmp_path: Path, tower_cache: Path, empty_postgres_url: str
) -> None:
    target = _target(tmp_path, tower_cache, database_url=empty_postgres_url)
    with pytest.raises(InvalidInputError, match="catalog is sqlite; these settings use postgresql"):
        restore_backup(target, backed_up)
    assert _untouched(target)
    assert read_manifest(backed_up).catalog.dialect == "sqlite"
