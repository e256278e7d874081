"""``create_backup``: a consistent copy of the catalog, the store and the model files.

Inside one write pause (the service's job runner between batches, if given, then the store's
writes) the catalog is copied (SQLite online backup, or ``pg_dump`` on the counting transaction's
snapshot) and the store snapshotted, so both describe the same moment; queries keep answering.
The model checkpoints the copied catalog names are copied after the pause (they do not change
once registered). Everything goes into a staging folder that becomes ``dest`` only when the
manifest, written last, is on disk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from modalign.backup.catalog import CatalogCopy, ModelRow, backup_catalog, check_catalog_exists
from modalign.backup.manifest import (
    FORMAT,
    MODELS_FOLDER,
    Manifest,
    ModelPart,
    StorePart,
    hash_tree,
    store_layout,
    write_manifest,
)
from modalign.backup.staging import staged_folder
from modalign.config import Settings
from modalign.errors import InvalidInputError
from modalign.filecopy import copy_tree, make_durable
from modalign.search.naming import Kind, check_version, collection_name
from modalign.search.store import VectorStore

log = logging.getLogger(__name__)

Quiesce = Callable[[], AbstractContextManager[None]]

LEFT_OUT = (
    "cache/: tower feature caches and ONNX exports (derived; rebuilt on first use)",
    "source images and caption files: assets point at them by uri; they are the user's data, "
    "not the index, and need a backup of their own",
    "demo/, reports/, backups/ and anything else in the data directory",
)


class BackupReport(BaseModel):
    """What a backup wrote and how long it took (``paused_seconds``: how long writes were held
    back; ``bytes`` counts the holes of sparse files, which take no disk)."""

    model_config = ConfigDict(frozen=True)

    path: Path
    files: int
    bytes: int
    seconds: float
    paused_seconds: float
    catalog: str
    store: str
    rows: dict[str, int]
    points: dict[str, int]
    models: list[str]
    missing_models: list[str]
    left_out: list[str]

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


@dataclass(frozen=True)
class _Consistent:
    catalog: CatalogCopy
    store: StorePart
    paused_seconds: float


def create_backup(
    settings: Settings, dest: Path, *, store: VectorStore | None = None,
    quiesce: Quiesce | None = None,
) -> BackupReport:
    """Back up the catalog, store and models of ``settings`` into ``dest`` (a new or empty folder).

    ``store``: the store when this process already holds it open (the service), else it is
    opened here; ``quiesce``: a pause of other writers to hold with the store's (the service's
    job runner, between batches).
    """
    started = time.perf_counter()
    _check_destination(settings, dest)
    check_catalog_exists(settings.database_url)
    with staged_folder(dest, "backup destination") as work:
        with _opened(settings, store) as live:
            consistent = _consistent_copy(settings, live, work, quiesce)
        models = _copy_models(settings, consistent.catalog.models, work)
        manifest = _manifest(consistent, models, work)
        make_durable(work)
        write_manifest(work, manifest)
    report = _report(dest, manifest, consistent, time.perf_counter() - started)
    log.info("backup %s: %d files, %.1f MB in %.1f s (writes paused %.2f s)", dest, report.files,
             report.bytes / 1e6, report.seconds, report.paused_seconds)
    return report


def _check_destination(settings: Settings, dest: Path) -> None:
    """InvalidInputError for a destination inside what the backup copies."""
    real = dest.resolve()
    for copied in (settings.paths.store_dir, settings.paths.models_dir):
        if real.is_relative_to(copied.resolve()):
            raise InvalidInputError(f"the backup destination {dest} is inside {copied}, which "
                                    "the backup copies; choose a folder outside it")


@contextmanager
def _opened(settings: Settings, store: VectorStore | None) -> Iterator[VectorStore]:
    if store is not None:
        yield store
        return
    from modalign.search.factory import open_store

    opened = open_store(settings)
    try:
        yield opened
    finally:
        opened.close()


def _consistent_copy(
    settings: Settings, store: VectorStore, work: Path, quiesce: Quiesce | None
) -> _Consistent:
    folder, mode = store_layout(settings)
    with quiesce() if quiesce is not None else nullcontext(), store.pause_writes():
        began = time.perf_counter()
        catalog = backup_catalog(settings.database_url, work)
        store.snapshot(work / folder)
        versions = store.versions()
        part = StorePart(
            backend=settings.store.backend, mode=mode,
            collection_prefix=settings.store.collection_prefix, versions=versions,
            active=store.active_version(), points=_points(settings, store, versions),
        )
        return _Consistent(catalog, part, time.perf_counter() - began)


def _points(settings: Settings, store: VectorStore, versions: list[str]) -> dict[str, int]:
    prefix = settings.store.collection_prefix
    return {
        collection_name(prefix, version, kind): store.count(kind, version=version)
        for version in versions for kind in Kind
    }


def _copy_models(settings: Settings, rows: list[ModelRow], work: Path) -> list[ModelPart]:
    """Each registered checkpoint into ``models/<name>/`` (where a restore looks for it)."""
    parts = []
    for row in rows:
        source = _checkpoint_folder(settings, row)
        folder = f"{MODELS_FOLDER}/{check_version(row.name)}"
        if source is None:
            log.warning("model %s: no checkpoint at %s; backed up without it",
                        row.name, row.checkpoint_path)
        else:
            copy_tree(source, work / folder)
        parts.append(ModelPart(name=row.name, folder=folder if source else None, active=row.active))
    return parts


def _checkpoint_folder(settings: Settings, row: ModelRow) -> Path | None:
    """The folder the catalog names, or ``<models>/<name>`` when that is gone (as the model
    registry resolves it)."""
    for folder in (settings.paths.from_stored(row.checkpoint_path),
                   settings.paths.models_dir / row.name):
        if folder.is_dir() and any(folder.iterdir()):
            return folder
    return None


def _manifest(consistent: _Consistent, models: list[ModelPart], work: Path) -> Manifest:
    return Manifest(
        format=FORMAT, modalign_version=package_version("modalign"),
        created_at=datetime.now(UTC), catalog=consistent.catalog.part, store=consistent.store,
        models=models, left_out=list(LEFT_OUT), files=hash_tree(work),
    )


def _report(
    dest: Path, manifest: Manifest, consistent: _Consistent, seconds: float
) -> BackupReport:
    return BackupReport(
        path=dest, files=len(manifest.files), bytes=manifest.total_bytes, seconds=seconds,
        paused_seconds=consistent.paused_seconds, catalog=manifest.catalog.dialect,
        store=manifest.store.mode, rows=manifest.catalog.rows, points=manifest.store.points,
        models=[m.name for m in manifest.models if m.folder],
        missing_models=[m.name for m in manifest.models if not m.folder],
        left_out=manifest.left_out,
    )
