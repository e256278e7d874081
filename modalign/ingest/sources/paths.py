"""Safe path resolution: every file a source names must resolve inside the source's root."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from modalign.errors import InvalidInputError


def resolve_under(root: Path, relative: str) -> Path:
    """``relative`` resolved under ``root`` (itself already resolved), or InvalidInputError.

    Refused: empty names, absolute paths, ``..`` components, symlinks (at any level) that lead
    out of the root, and names that do not exist (including broken symlinks).
    """
    pure = _checked_relative(relative)
    candidate = root.joinpath(*pure.parts)
    try:
        resolved = candidate.resolve()
    except (OSError, RuntimeError) as exc:
        raise InvalidInputError(f"cannot resolve path (symlink loop?): {exc}") from exc
    if not resolved.is_relative_to(root):
        raise InvalidInputError("refused: a symlink leads outside the source root")
    if not resolved.exists():
        broken = candidate.is_symlink()
        raise InvalidInputError("broken symlink" if broken else "file not found")
    return resolved


def _checked_relative(relative: str) -> PurePosixPath:
    if not relative.strip() or "\x00" in relative:
        raise InvalidInputError("empty or malformed path")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or PureWindowsPath(relative).drive:
        raise InvalidInputError("refused: absolute path (paths must be relative to the root)")
    if ".." in pure.parts:
        raise InvalidInputError("refused: path leaves the source root ('..')")
    return pure
