"""create_backup: what a backup holds, and the destinations and data directories it refuses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from modalign.backup import create_backup, restore_backup
from modalign.backup.manifest import MANIFEST_FILE, read_manifest, verify_files
from modalign.config import Settings
from modalign.errors import InvalidInputError

from .conftest import MODEL, index_settings


def test_a_backup_holds_the_index_and_not_the_caches(edge_index: Settings, tmp_path: Path) -> None:
    (edge_index.paths.data_dir / "reports").mkdir()
    (edge_index.paths.data_dir / "reports" / "eval.json").write_text("{}")
    report = create_backup(edge_index, tmp_path / "backup")
    manifest = read_manifest(tmp_path / "backup")
    tops = {entry.path.split("/")[0] for entry in manifest.files}
    assert tops == {"catalog.db", "qdrant", "models"}
    assert not any(e.path.endswith(".lock") for e in manifest.files)
    assert {"qdrant/state.json", f"models/{MODEL}/card.json"} <= {e.path for e in manifest.files}
    assert manifest.store.active == MODEL and manifest.catalog.revision
    assert report.files == len(manifest.files) and report.bytes == manifest.total_bytes
    assert any("source images" in item for item in report.left_out)
    verify_files(tmp_path / "backup", manifest)
    assert not (tmp_path / "backup" / "catalog.db-wal").exists()  # one self-contained file


def test_a_backup_into_a_folder_in_use_is_refused(edge_index: Settings, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not empty"):
        create_backup(edge_index, dest)
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]


def test_a_backup_into_what_it_copies_is_refused(edge_index: Settings) -> None:
    for inside in (edge_index.paths.models_dir / MODEL / "b", edge_index.paths.store_dir / "b"):
        with pytest.raises(InvalidInputError, match="which the backup copies"):
            create_backup(edge_index, inside)
        assert not inside.exists()


def test_a_data_directory_without_catalog_is_refused(tmp_path: Path) -> None:
    settings = index_settings(tmp_path / "data", tmp_path / "cache")
    with pytest.raises(InvalidInputError, match="no catalog"):
        create_backup(settings, tmp_path / "backup")
    assert list(tmp_path.iterdir()) == []


def test_a_model_without_files_is_reported_and_left_out(
    edge_index: Settings, tmp_path: Path, tower_cache: Path
) -> None:
    shutil.rmtree(edge_index.paths.models_dir / MODEL)
    report = create_backup(edge_index, tmp_path / "backup")
    assert report.missing_models == [MODEL] and report.models == []
    assert (tmp_path / "backup" / MANIFEST_FILE).exists()
    restored = restore_backup(index_settings(tmp_path / "b", tower_cache), tmp_path / "backup")
    assert restored.models == [] and restored.points == report.points
