"""``manifest.json``: what a backup holds, and the checks a restore runs on it before anything.

The manifest lists every file of the backup with its size and SHA-256, the modalign version, the
catalog's dialect, Alembic revision and rows per table, the store's backend, versions, active
version and points per collection, and the model versions with their folders. It is written last,
so a folder without one is not a finished backup.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modalign.config import Settings
from modalign.errors import InvalidInputError
from modalign.filecopy import hash_file, tree_files

MANIFEST_FILE = "manifest.json"
FORMAT = 1
SQLITE_FILE = "catalog.db"
PG_DUMP_FILE = "catalog.pgdump"
STORE_FOLDER = "qdrant"  # edge and local mode: the data directory's own layout
SERVER_SNAPSHOTS = "qdrant-snapshots"  # a Qdrant server's collections, one .snapshot file each
MODELS_FOLDER = "models"
TOP_LEVEL = frozenset({SQLITE_FILE, PG_DUMP_FILE, STORE_FOLDER, SERVER_SNAPSHOTS, MODELS_FOLDER})

StoreMode = Literal["edge", "local", "server"]


def store_layout(settings: Settings) -> tuple[str, StoreMode]:
    """Where a backup keeps the store of ``settings``, and which kind of copy it is."""
    if settings.store.backend == "edge":
        return STORE_FOLDER, "edge"
    if settings.store.url:
        return SERVER_SNAPSHOTS, "server"
    return f"{STORE_FOLDER}/local", "local"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Part):
    """One file: its path in the backup (POSIX, relative), size and SHA-256."""

    path: str
    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("path")
    @classmethod
    def _inside_backup(cls, path: str) -> str:
        parts = path.split("/")  # not PurePosixPath: it would drop "." and "//" silently
        if (
            "\\" in path or "\x00" in path
            or any(part in ("", ".", "..") for part in parts) or parts[0] not in TOP_LEVEL
        ):
            raise ValueError(f"{path!r} is not a path a backup holds")
        return path


class CatalogPart(_Part):
    """The catalog: SQLite file (online backup API) or PostgreSQL custom-format dump."""

    dialect: Literal["sqlite", "postgresql"]
    file: str
    revision: str | None
    rows: dict[str, int]


class StorePart(_Part):
    """The vector store, as it was inside the write pause."""

    backend: Literal["edge", "client"]
    mode: StoreMode
    collection_prefix: str
    versions: list[str]
    active: str | None
    points: dict[str, int]


class ModelPart(_Part):
    """A registered model version and the folder of its checkpoint (None: it was missing)."""

    name: str
    folder: str | None
    active: bool


class Manifest(_Part):
    """Everything a restore checks before it writes anything."""

    format: int
    modalign_version: str
    created_at: datetime
    catalog: CatalogPart
    store: StorePart
    models: list[ModelPart]
    left_out: list[str]
    files: list[FileEntry]

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.files)


def hash_tree(folder: Path) -> list[FileEntry]:
    """An entry for every file under ``folder``."""
    hashed = (hash_file(folder / name, name) for name in tree_files(folder))
    return [FileEntry(path=f.path, size=f.size, sha256=f.sha256) for f in hashed]


def write_manifest(folder: Path, manifest: Manifest) -> None:
    """Write ``manifest.json`` into ``folder`` and fsync it."""
    path = folder / MANIFEST_FILE
    with path.open("x", encoding="utf-8") as handle:
        handle.write(manifest.model_dump_json(indent=2))
        handle.flush()
        os.fsync(handle.fileno())


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the backup in ``folder``; InvalidInputError saying what is wrong."""
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise InvalidInputError(f"{folder} is not a modalign backup: it has no {MANIFEST_FILE}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError(
            f"the manifest {path} is not readable JSON (truncated or damaged?): {exc}"
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise InvalidInputError(f"the manifest {path} has format {found!r}; this modalign reads "
                                f"format {FORMAT}")
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidInputError(f"the manifest {path} is damaged: {where}: {first['msg']}") from exc


def verify_files(folder: Path, manifest: Manifest) -> None:
    """InvalidInputError naming every file that is missing or whose size or SHA-256 differs."""
    problems = [problem for entry in manifest.files if (problem := _check(folder, entry))]
    if problems:
        listed = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more"
                                              if len(problems) > 10 else "")
        raise InvalidInputError(f"the backup {folder} is damaged: {listed}")


def _check(folder: Path, entry: FileEntry) -> str | None:
    path = folder / entry.path
    if not path.is_file():
        return f"{entry.path} is missing"
    if path.stat().st_size != entry.size:
        return f"{entry.path} has {path.stat().st_size} bytes, the manifest says {entry.size}"
    actual = hash_file(path).sha256
    if actual != entry.sha256:
        return f"{entry.path} has SHA-256 {actual}, the manifest says {entry.sha256}"
    return None
