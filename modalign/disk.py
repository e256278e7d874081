"""A full disk, told apart from other I/O failures and reported with the disk it is.

Writers call :func:`check_free_space` before writes that cannot fail cleanly and wrap their
library's errors with :func:`disk_full_error` when :func:`is_disk_full` says so. The check
matters for qdrant-edge: its segment files are sparse memory maps, and a store page touched for
the first time on a full disk raises SIGBUS, which kills the process instead of failing a call.
Stopping while a reserve is left turns that into a :class:`~modalign.errors.DiskFullError`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

from modalign.errors import DiskFullError

FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
FULL_MESSAGES = (
    "no space left on device",  # strerror(ENOSPC), Rust's io::Error included
    "database or disk is full",  # SQLITE_FULL
    "disk quota exceeded",
    "could not extend file",  # PostgreSQL out of space
)
MB = 1024 * 1024


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps) says the disk is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in FULL_ERRNOS:
            return True
        if any(text in str(current).lower() for text in FULL_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False


def existing_part(path: Path) -> Path:
    """``path`` if it exists, else its nearest existing parent."""
    current = path.absolute()
    while not current.exists():
        current = current.parent
    return current


def mount_point(path: Path) -> Path:
    """The mount point of the file system holding ``path``."""
    current = existing_part(path)
    while not os.path.ismount(current):
        current = current.parent
    return current


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the file system holding ``path``."""
    stats = os.statvfs(existing_part(path))
    return stats.f_bavail * stats.f_frsize


def disk_full_error(path: Path, doing: str) -> DiskFullError:
    """The error to raise when ``doing`` failed (or would fail) for lack of space at ``path``."""
    free = free_bytes(path)
    return DiskFullError(
        f"no space left on the disk holding {path} (mounted at {mount_point(path)}, "
        f"{free / MB:.1f} MB free) while {doing}; free space there and run the command again "
        "(`modalign jobs resume <job>` finishes an interrupted job; nothing committed is lost)"
    )


def check_free_space(path: Path, min_free_bytes: int, doing: str) -> None:
    """Raise DiskFullError if less than ``min_free_bytes`` are free at ``path``."""
    if min_free_bytes > 0 and free_bytes(path) < min_free_bytes:
        raise disk_full_error(path, doing)


def write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` whole or not at all: a temporary file beside it, fsync,
    rename over, fsync the folder. On a full disk the temporary file is removed and
    DiskFullError raised; ``path`` keeps its old content (or stays absent)."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        if is_disk_full(exc):
            raise disk_full_error(path, f"writing {path.name}") from exc
        raise
    fsync_folder(path.parent)


def fsync_folder(folder: Path) -> None:
    """Make a rename or creation in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
