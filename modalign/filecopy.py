"""Copy files and folders keeping their holes; hash them; make a copied tree durable.

qdrant-edge preallocates its WAL and payload-index pages as sparse files (measured: a store of
3,750 points is 424 MB long but takes 6 MB of disk), so a plain copy, which writes every hole out
as zeros, would make a backup 70 times its store. Here only the data extents are read and written
(``SEEK_DATA`` / ``SEEK_HOLE``). The SHA-256 covers the whole content, holes as the zeros they
read as, so ``sha256sum`` agrees with it.

Copies are not fsynced one by one (measured: 1 s more for the 257 files of a small store, where
the copy itself takes 0.1 s): :func:`make_durable` syncs the whole file system once at the end.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CHUNK_BYTES = 1 << 16  # zero chunks inside data extents become holes too
_ZEROS = memoryview(bytes(1 << 20))


@dataclass(frozen=True)
class HashedFile:
    """One file: a name for it (a path relative to a tree, POSIX), its size and SHA-256."""

    path: str
    size: int
    sha256: str


class _Digest(Protocol):
    def update(self, data: memoryview, /) -> None: ...


def _extents(fd: int, size: int) -> Iterator[tuple[int, int, bool]]:
    """``(start, end, is_data)`` runs covering the file: data extents and the holes between."""
    pos = 0
    while pos < size:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole is left
            data = size
        if data > pos:
            yield pos, data, False
        if data >= size:
            return
        hole = os.lseek(fd, data, os.SEEK_HOLE)
        yield data, hole, True
        pos = hole


def _chunks(fd: int, start: int, end: int) -> Iterator[tuple[int, memoryview]]:
    """``(offset, bytes)`` chunks of one data extent."""
    view = memoryview(bytearray(CHUNK_BYTES))
    pos = start
    while pos < end:
        read = os.preadv(fd, [view[: min(end - pos, CHUNK_BYTES)]], pos)
        if read == 0:
            raise OSError(f"the file shrank while being read (at byte {pos})")
        yield pos, view[:read]
        pos += read


def hash_file(path: Path, name: str | None = None) -> HashedFile:
    """Size and SHA-256 of ``path``, reading only its data extents."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        for start, end, is_data in _extents(fd, size):
            if is_data:
                for _, chunk in _chunks(fd, start, end):
                    digest.update(chunk)
            else:
                _hash_zeros(digest, end - start)
    finally:
        os.close(fd)
    return HashedFile(name or path.name, size, digest.hexdigest())


def _hash_zeros(digest: _Digest, count: int) -> None:
    while count > 0:
        step = min(count, len(_ZEROS))
        digest.update(_ZEROS[:step])
        count -= step


def copy_file(src: Path, dst: Path) -> None:
    """Copy ``src`` to the new file ``dst`` (never overwritten), holes kept."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    src_fd = os.open(src, os.O_RDONLY)
    try:
        dst_fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            size = os.fstat(src_fd).st_size
            for start, end, is_data in _extents(src_fd, size):
                if is_data:
                    _copy_extent(src_fd, dst_fd, start, end)
            os.ftruncate(dst_fd, size)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)


def _copy_extent(src: int, dst: int, start: int, end: int) -> None:
    for offset, chunk in _chunks(src, start, end):
        if chunk != _ZEROS[: len(chunk)]:
            os.pwrite(dst, chunk, offset)


def tree_files(root: Path, entries: Sequence[str] | None = None) -> list[str]:
    """Relative POSIX paths of the regular files under ``root`` (only under ``entries``, its
    top-level names, if given), sorted. Symlinked folders are not followed."""
    tops = [root / name for name in entries] if entries is not None else [root]
    found: list[str] = []
    for top in tops:
        if top.is_file():
            found.append(top.relative_to(root).as_posix())
            continue
        for folder, _dirs, files in os.walk(top):
            base = Path(folder)
            found.extend(
                (base / name).relative_to(root).as_posix()
                for name in files if (base / name).is_file()
            )
    return sorted(found)


def copy_tree(src: Path, dst: Path, entries: Sequence[str] | None = None) -> list[str]:
    """Copy the files of ``src`` (see :func:`tree_files`) into ``dst``; returns their paths."""
    names = tree_files(src, entries)
    for name in names:
        copy_file(src / name, dst / name)
    return names


def make_durable(folder: Path) -> None:
    """Flush everything written to the file system of ``folder`` to disk (``syncfs``; ``sync``
    where there is no syncfs)."""
    syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    fd = os.open(folder, os.O_RDONLY)
    try:
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)
