"""On-disk state of an edge store: its versions, the active one, and the directory lock.

``state.json`` holds every version's vector sizes, quantization and whether its collections
have keyword vectors (a version recorded before either existed has neither) and the active
version. It is replaced whole with ``os.replace`` after an fsync, so a crash leaves either the
old or the new state, never a mix; the active version is one value, so the images and captions
"aliases" can only move together.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

from modalign.errors import StoreBusyError, StoreError

STATE_FILE = "state.json"
LOCK_FILE = ".lock"


@dataclass(frozen=True)
class VersionSpec:
    """Vector sizes, quantization and keyword vectors of one model version's collections."""

    image_dim: int
    caption_dim: int
    quantization: str = "none"
    keywords: bool = False  # a version recorded before keyword vectors existed has none


@dataclass(frozen=True)
class StoreState:
    """Versions present and the active one."""

    versions: dict[str, VersionSpec] = field(default_factory=dict)
    active: str | None = None

    def with_version(self, version: str, spec: VersionSpec) -> StoreState:
        return replace(self, versions={**self.versions, version: spec})

    def without_version(self, version: str) -> StoreState:
        versions = {k: v for k, v in self.versions.items() if k != version}
        return replace(self, versions=versions)


def load_state(root: Path) -> StoreState:
    """The state saved under ``root`` (empty if none was saved yet)."""
    path = root / STATE_FILE
    if not path.exists():
        return StoreState()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        versions = {k: VersionSpec(**v) for k, v in data["versions"].items()}
        return StoreState(versions=versions, active=data.get("active"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"cannot read store state {path}: {exc}") from exc


def save_state(root: Path, state: StoreState) -> None:
    """Write ``state`` atomically: temporary file, fsync, rename over the old one, fsync the dir."""
    data = {
        "versions": {k: vars(v) for k, v in sorted(state.versions.items())},
        "active": state.active,
    }
    tmp = root / f".{STATE_FILE}.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / STATE_FILE)
    dir_fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def lock_directory(root: Path) -> IO[str]:
    """Take the store's exclusive lock (qdrant-edge shards allow one owning process)."""
    handle = (root / LOCK_FILE).open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreBusyError(
            f"the vector store at {root} is open in another process; qdrant-edge lets one process"
            " own it (stop that process, or use store.backend=client with a Qdrant server)"
        ) from None
    return handle
