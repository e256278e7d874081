"""A source's own file (manifest, COCO JSON, Flickr captions): opened safely, read or refused.

The file must be a regular file (a FIFO or device named like a manifest would block or never
end); it is opened without blocking and checked before it is read. Any failure to open or read it
is an :class:`~modalign.errors.InvalidInputError` that names the file: the job's error, since
nothing of the source can be listed without it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from modalign.errors import InvalidInputError

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
FIRST_LINE_BYTES = 4096


@contextmanager
def open_source_file(path: Path, what: str) -> Iterator[BinaryIO]:
    """``path`` open for binary reading, after checking it is a regular file."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise InvalidInputError(f"cannot open {what} {path}: {exc.strerror or exc}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InvalidInputError(f"{what} {path} is not a regular file")
        os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        try:
            yield handle
        except OSError as exc:
            raise InvalidInputError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def source_lines(path: Path, what: str) -> Iterator[bytes]:
    """The file's lines as bytes, streamed."""
    with open_source_file(path, what) as handle:
        yield from handle


def source_bytes(path: Path, what: str) -> bytes:
    """The whole file."""
    with open_source_file(path, what) as handle:
        return handle.read()


def first_line(path: Path, what: str = "source") -> str:
    """The file's first line (at most 4 KiB), decoded leniently: for telling its kind."""
    with open_source_file(path, what) as handle:
        return handle.readline(FIRST_LINE_BYTES).decode("utf-8", errors="replace")
