"""Backups of an index: the catalog, the vector store and the model files, with a manifest.

    report = create_backup(settings, Path("/backups/2026-06-01"))   # a new or empty folder
    report = restore_backup(settings, Path("/backups/2026-06-01"))  # into an empty data dir

A backup folder mirrors the data directory (``catalog.db``, ``qdrant/``, ``models/<name>/``),
with ``catalog.pgdump`` instead of ``catalog.db`` for PostgreSQL and ``qdrant-snapshots/`` for a
Qdrant server, and ``manifest.json`` (:mod:`modalign.backup.manifest`) listing every file with
its SHA-256. Feature caches and the source images are not in it (see
:data:`modalign.backup.create.LEFT_OUT`). ``docs/operations.md`` (Backups) covers the procedures.
"""

from __future__ import annotations

from modalign.backup.create import BackupReport, create_backup
from modalign.backup.restore import RestoreReport, restore_backup

__all__ = ["BackupReport", "RestoreReport", "create_backup", "restore_backup"]
