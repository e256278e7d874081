"""The confinement rule: every file a source reads resolves, and is opened, under its root.

A source's root is the folder its entries are relative to (the folder itself, a manifest's
folder, a COCO/Flickr file's image folder). Two functions apply the rule, one per moment:

- :func:`resolve_under` when an entry is planned: its name must be relative, without ``..``,
  encodable, and resolve (symlinks followed) to an existing path inside the root.
- :func:`read_under` whenever a file's bytes are read (images at batch time, caption sidecars):
  the file is opened without blocking and the *opened* descriptor is checked, so a symlink
  swapped in after planning cannot lead out: its real path (``/proc/self/fd``) must lie inside
  the root, and it must be a regular file (no device, FIFO or socket) within a byte limit.

Every refusal is an :class:`~modalign.errors.InvalidInputError` with a reason fit for a failed
item. A hard link inside the root is an ordinary file of the root and cannot be told apart; on
Linux, ``fs.protected_hardlinks`` (the default) stops users linking files they cannot read.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

from modalign.errors import InvalidInputError
from modalign.ingest.captions import clean_text

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_ABSENT = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG})
READ_CHUNK = 1 << 20


def resolve_under(root: Path, relative: str) -> Path:
    """``relative`` resolved under ``root`` (itself already resolved), or InvalidInputError.

    Refused: empty, malformed or non-UTF-8 names, absolute paths, ``..`` components, symlinks
    (at any level) that lead out of the root, and names that do not exist (broken symlinks too)
    or that the file system refuses (too long, permission denied on a folder).
    """
    pure = checked_relative(relative)
    candidate = root.joinpath(*pure.parts)
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:
        raise InvalidInputError(f"cannot resolve path (symlink loop?): {exc}") from exc
    if not resolved.is_relative_to(root):
        raise InvalidInputError("refused: a symlink leads outside the source root")
    try:
        os.stat(resolved)
    except FileNotFoundError:
        reason = "broken symlink" if _is_link(candidate) else "file not found"
        raise InvalidInputError(reason) from None
    except OSError as exc:
        raise InvalidInputError(f"cannot reach file: {_reason(exc)}") from exc
    return resolved


def checked_relative(relative: str) -> PurePosixPath:
    """``relative`` as a path that stays under any root, or InvalidInputError."""
    if not relative.strip() or "\x00" in relative:
        raise InvalidInputError("empty or malformed path")
    check_encodable(relative)
    pure = PurePosixPath(relative)
    if pure.is_absolute() or PureWindowsPath(relative).drive:
        raise InvalidInputError("refused: absolute path (paths must be relative to the root)")
    if ".." in pure.parts:
        raise InvalidInputError("refused: path leaves the source root ('..')")
    return pure


def check_encodable(name: str) -> str:
    """``name`` if it is valid UTF-8 text (file names are stored as text), else raise."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInputError("file name is not valid UTF-8 (rename the file)") from None
    return name


def printable_name(name: str) -> str:
    """A file name fit to store and show: undecodable bytes written as ``\\xNN`` escapes (other
    lone surrogates, from JSON escapes, as U+FFFD)."""
    try:
        return os.fsencode(name).decode("utf-8", errors="backslashreplace")
    except UnicodeEncodeError:
        return clean_text(name)


def read_under(root: Path | None, path: Path, *, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of ``path`` after checking the opened file against the rule (module docstring).

    ``root`` None (a catalogued asset read again for re-indexing, whose content hash is checked
    afterwards) skips the root check but not the others. ``what`` names the file in reasons.
    """
    found = read_optional_under(root, path, max_bytes=max_bytes, what=what)
    if found is None:
        raise InvalidInputError(f"{what} not found (or a broken symlink)")
    return found


def read_optional_under(
    root: Path | None, path: Path, *, max_bytes: int, what: str = "file"
) -> bytes | None:
    """:func:`read_under`, but None when no such file exists (a sidecar is optional)."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno in _ABSENT:
            return None
        raise InvalidInputError(f"cannot open {what}: {_reason(exc)}") from exc
    try:
        _check_opened(fd, root, max_bytes, what)
        return _read_fd(fd, max_bytes, what)
    finally:
        os.close(fd)


def _check_opened(fd: int, root: Path | None, max_bytes: int, what: str) -> None:
    if root is not None and not _opened_path(fd).is_relative_to(root):
        raise InvalidInputError(f"refused: {what} leads outside the source root")
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInputError(f"{what} is not a regular file (directory, FIFO, socket or device)")
    if info.st_size > max_bytes:
        raise InvalidInputError(f"{what} is {info.st_size} bytes, above the limit of {max_bytes}")


def _opened_path(fd: int) -> Path:
    """The real path of an open descriptor (what it names now, whatever the name used)."""
    try:
        return Path(os.readlink(f"/proc/self/fd/{fd}"))
    except OSError as exc:  # no /proc: refuse rather than read unchecked
        raise InvalidInputError(f"cannot check where the file lies: {_reason(exc)}") from exc


def _read_fd(fd: int, max_bytes: int, what: str) -> bytes:
    """Read to the end, never more than ``max_bytes`` (the file may grow while it is read)."""
    os.set_blocking(fd, True)
    parts: list[bytes] = []
    size = 0
    try:
        while chunk := os.read(fd, min(READ_CHUNK, max_bytes + 1 - size)):
            parts.append(chunk)
            size += len(chunk)
            if size > max_bytes:
                raise InvalidInputError(f"{what} grew above the limit of {max_bytes} bytes")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {what}: {_reason(exc)}") from exc
    return b"".join(parts)


def is_folder(path: Path) -> bool:
    """Whether ``path`` is a folder (False when it cannot be told: no error escapes)."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


def _is_link(path: Path) -> bool:
    try:
        return path.is_symlink()
    except OSError:
        return False


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
