"""A PostgreSQL catalog: pg_dump inside the backup's pause, pg_restore into an empty database only,
and a clear refusal when the tools are not on PATH."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modalign.backup import create_backup, restore_backup
from modalign.backup.manifest import PG_DUMP_FILE, read_manifest
from modalign.errors import ConfigError, InvalidInputError

from .conftest import build_index, index_settings

pytestmark = pytest.mark.postgres


def test_pg_dump_is_run_on_the_counted_snapshot_and_a_used_database_is_refused(
    tmp_path: Path, tower_cache: Path, empty_postgres_url: str
) -> None:
    settings = build_index(index_settings(tmp_path / "a" / "data", tower_cache,
                                          database_url=empty_postgres_url), tower_cache)
    report = create_backup(settings, tmp_path / "backup")
    manifest = read_manifest(tmp_path / "backup")
    assert (manifest.catalog.dialect, manifest.catalog.file) == ("postgresql", PG_DUMP_FILE)
    assert (tmp_path / "backup" / PG_DUMP_FILE).read_bytes()[:5] == b"PGDMP"  # custom format
    assert report.rows == manifest.catalog.rows and report.rows["assets"] > 0
    target = index_settings(tmp_path / "b" / "data", tower_cache, database_url=empty_postgres_url)
    with pytest.raises(InvalidInputError, match="already has tables"):
        restore_backup(target, tmp_path / "backup")  # the source's database is still in use
    assert not target.paths.data_dir.exists()


def test_without_pg_dump_on_path_the_backup_says_so_and_writes_nothing(
    tmp_path: Path, tower_cache: Path, empty_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = build_index(index_settings(tmp_path / "a" / "data", tower_cache,
                                          database_url=empty_postgres_url), tower_cache)
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(ConfigError, match=r"pg_dump is not on PATH.*postgresql-client"):
        create_backup(settings, tmp_path / "backup")
    assert sorted(os.listdir(tmp_path)) == ["a", "bin"]
