"""``restore_backup``: a backup back into an empty data directory (and empty catalog database).

Nothing is written before every check passed: the manifest reads, the backup fits these settings
(store backend and mode, collection prefix, catalog dialect, a known Alembic revision), the
targets are empty (data directory, catalog, a Qdrant server's collections) and every file has the
size and SHA-256 the manifest lists. The files are then copied into a staging folder, the store
is opened there and its points counted against the manifest, the catalog is restored and its rows
counted, its schema brought to head, and only then does the staging folder become the data
directory. A PostgreSQL catalog (``pg_restore``, one transaction) and a Qdrant server (snapshot
uploads) are written after the staged store checked out, so a damaged backup never reaches them.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from modalign.backup.catalog import (
    check_catalog_empty,
    check_restored,
    check_revision_known,
    restore_catalog,
    sqlite_file,
)
from modalign.backup.manifest import (
    MODELS_FOLDER,
    SERVER_SNAPSHOTS,
    STORE_FOLDER,
    Manifest,
    StorePart,
    read_manifest,
    store_layout,
    verify_files,
)
from modalign.backup.staging import check_empty_target, staged_folder
from modalign.config import PathsSettings, Settings
from modalign.errors import InvalidInputError, StoreError
from modalign.filecopy import copy_file, make_durable
from modalign.search.naming import Kind, collection_name

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"


class RestoreReport(BaseModel):
    """What a restore wrote and what it checked."""

    model_config = ConfigDict(frozen=True)

    data_dir: Path
    files: int
    bytes: int
    seconds: float
    catalog: str
    store: str
    revision: str | None
    rows: dict[str, int]
    points: dict[str, int]
    models: list[str]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def restore_backup(settings: Settings, src: Path) -> RestoreReport:
    """Restore the backup in ``src`` into the empty data directory of ``settings``."""
    started = time.perf_counter()
    manifest = read_manifest(src)
    _check_fits(settings, manifest)
    _check_targets_empty(settings, manifest)
    verify_files(src, manifest)
    outside = _sqlite_outside_data_dir(settings)
    try:
        with staged_folder(settings.paths.data_dir, "data directory") as work:
            staging = _staging_settings(settings, work, outside)
            _copy_data_files(src, manifest, work)
            _restore_server_store(staging, src, manifest)
            _check_store(staging, manifest.store)
            restore_catalog(staging.database_url, src, manifest.catalog)
            check_restored(staging.database_url, manifest.catalog)
            make_durable(work)
    except BaseException:
        if outside is not None:
            _move_sqlite(_partial(outside), None)
        raise
    if outside is not None:
        _move_sqlite(_partial(outside), outside)
    report = _report(settings, manifest, time.perf_counter() - started)
    log.info("restored %s into %s: %d files, %.1f MB in %.1f s", src, report.data_dir,
             report.files, report.bytes / 1e6, report.seconds)
    return report


def _check_fits(settings: Settings, manifest: Manifest) -> None:
    mode = store_layout(settings)[1]
    held = manifest.store
    if (held.backend, held.mode) != (settings.store.backend, mode):
        raise InvalidInputError(
            f"the backup's store is store.backend={held.backend} ({held.mode}); these settings "
            f"use store.backend={settings.store.backend} ({mode}): restore with settings like "
            "the ones it was made with"
        )
    if held.collection_prefix != settings.store.collection_prefix:
        raise InvalidInputError(
            f"the backup's collections have prefix {held.collection_prefix!r}; set "
            f"store.collection_prefix to it (it is {settings.store.collection_prefix!r})"
        )
    dialect = "postgresql" if sqlite_file(settings.database_url) is None else "sqlite"
    if dialect != manifest.catalog.dialect:
        raise InvalidInputError(
            f"the backup's catalog is {manifest.catalog.dialect}; these settings use {dialect}"
        )
    check_revision_known(manifest.catalog.revision)


def _check_targets_empty(settings: Settings, manifest: Manifest) -> None:
    check_empty_target(settings.paths.data_dir, "data directory")
    outside = _sqlite_outside_data_dir(settings)
    if outside is not None and (outside.exists() or _partial(outside).exists()):
        raise InvalidInputError(f"the catalog file {outside} exists; restore needs a new one")
    if manifest.catalog.dialect == "postgresql":
        check_catalog_empty(settings.database_url)
    if manifest.store.mode == "server":
        _check_server_empty(settings, manifest.store)


def _check_server_empty(settings: Settings, part: StorePart) -> None:
    from modalign.search.factory import open_store

    with closing(open_store(settings)) as store:
        taken = sorted(set(store.versions()) & set(part.versions))
    if taken:
        raise InvalidInputError(
            f"the Qdrant server already has the collections of version(s) {', '.join(taken)}; "
            "restore into a server without them"
        )


def _sqlite_outside_data_dir(settings: Settings) -> Path | None:
    """A SQLite catalog file configured outside the data directory (restored beside it)."""
    path = sqlite_file(settings.database_url)
    if path is None or path.resolve().is_relative_to(settings.paths.data_dir.resolve()):
        return None
    return path


def _partial(path: Path) -> Path:
    return path.with_name(path.name + PARTIAL_SUFFIX)


def _staging_settings(settings: Settings, work: Path, outside: Path | None) -> Settings:
    """``settings`` with the data directory (and a SQLite catalog) moved into ``work``."""
    database = settings.database
    path = sqlite_file(settings.database_url)
    if path is not None and database.url is not None:
        target = _partial(outside) if outside is not None else work / path.resolve().relative_to(
            settings.paths.data_dir.resolve())
        database = database.model_copy(update={"url": f"sqlite:///{target}"})
    return settings.model_copy(
        update={"paths": PathsSettings(data_dir=work), "database": database}
    )


def _copy_data_files(src: Path, manifest: Manifest, work: Path) -> None:
    """The store and model files, at their places in the data directory."""
    for entry in manifest.files:
        if entry.path.split("/", 1)[0] in (STORE_FOLDER, MODELS_FOLDER):
            copy_file(src / entry.path, work / entry.path)


def _restore_server_store(settings: Settings, src: Path, manifest: Manifest) -> None:
    if manifest.store.mode != "server":
        return
    from modalign.search.factory import open_store
    from modalign.search.server_snapshots import SNAPSHOT_SUFFIX, upload_snapshot

    for name in manifest.store.points:
        upload_snapshot(settings.store, name, src / SERVER_SNAPSHOTS / f"{name}{SNAPSHOT_SUFFIX}")
    if manifest.store.active is not None:
        with closing(open_store(settings)) as store:
            store.set_active_version(manifest.store.active)


def _check_store(settings: Settings, part: StorePart) -> None:
    """StoreError unless the restored store opens with the backup's versions and points."""
    from modalign.search.factory import open_store

    with closing(open_store(settings)) as store:
        versions = store.versions()
        found = (versions, store.active_version(), {
            collection_name(part.collection_prefix, v, kind): store.count(kind, version=v)
            for v in versions for kind in Kind
        })
    if found != (part.versions, part.active, part.points):
        raise StoreError(
            f"the restored store differs from the backup: versions {found[0]}, active "
            f"{found[1]}, points {found[2]}; the manifest says {part.versions}, {part.active}, "
            f"{part.points}"
        )


def _move_sqlite(partial: Path, target: Path | None) -> None:
    """Rename a restored SQLite file (and any WAL files beside it) into place, or remove them
    (``target`` None: the restore failed)."""
    for suffix in ("-wal", "-shm", ""):
        side = partial.with_name(partial.name + suffix)
        if not side.exists():
            continue
        if target is None:
            side.unlink()
        else:
            os.rename(side, target.with_name(target.name + suffix))


def _report(settings: Settings, manifest: Manifest, seconds: float) -> RestoreReport:
    return RestoreReport(
        data_dir=settings.paths.data_dir, files=len(manifest.files),
        bytes=manifest.total_bytes, seconds=seconds, catalog=manifest.catalog.dialect,
        store=manifest.store.mode, revision=manifest.catalog.revision,
        rows=manifest.catalog.rows, points=manifest.store.points,
        models=[m.name for m in manifest.models if m.folder],
    )
