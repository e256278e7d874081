"""Write a folder whole or not at all: into a staging folder, moved into place at the end.

A backup's destination and a restore's data directory must be missing or empty. When missing,
the staging folder is made beside it and renamed to it; when it exists (it may be a mount point,
which cannot be renamed over), the staging folder is made inside it and its entries are moved up.
Either way a failure removes the staging folder and leaves the target as it was.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from modalign.disk import fsync_folder
from modalign.errors import InvalidInputError

STAGING_SUFFIX = ".partial"


def check_empty_target(target: Path, what: str) -> None:
    """InvalidInputError unless ``target`` is missing or an empty folder."""
    if not target.exists():
        return
    if not target.is_dir():
        raise InvalidInputError(f"{what} {target} exists and is not a folder")
    if any(target.iterdir()):
        raise InvalidInputError(f"{what} {target} is not empty; give a new or empty folder")


@contextmanager
def staged_folder(target: Path, what: str) -> Iterator[Path]:
    """A staging folder that becomes ``target`` when the block succeeds (see the docstring)."""
    check_empty_target(target, what)
    inside = target.exists()
    parent = target if inside else target.parent
    parent.mkdir(parents=True, exist_ok=True)
    work = parent / f".{target.name}.{secrets.token_hex(4)}{STAGING_SUFFIX}"
    work.mkdir()  # the umask's permissions, like any folder modalign makes
    try:
        yield work
        if inside:
            for entry in sorted(work.iterdir()):
                os.rename(entry, target / entry.name)
            work.rmdir()
        else:
            os.rename(work, target)
        fsync_folder(parent)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
