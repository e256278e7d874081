"""The allow-list of folders ``POST /v1/jobs`` may ingest from.

A requested source path is resolved (symlinks followed, ``..`` collapsed) and must then lie under
one of ``settings.service.source_roots`` or the data directory, and so must the folder its
entries resolve under (a COCO file's ``../<split>`` image folder, a Flickr file's
``flickr30k-images`` beside it, which may be symlinks); anything else is refused before a job is
created, so the API cannot be used to read arbitrary files of the host. Every file the job then
reads is confined to that folder (:mod:`modalign.ingest.sources.paths`).
"""

from __future__ import annotations

from pathlib import Path

from modalign.config import Settings
from modalign.errors import InvalidInputError
from modalign.service.problems import ProblemError


def allowed_roots(settings: Settings) -> list[Path]:
    """The resolved folders sources may come from."""
    roots = [*settings.service.source_roots, settings.paths.data_dir]
    return [root.expanduser().resolve() for root in roots]


def resolve_source(settings: Settings, requested: str) -> Path:
    """The real path of ``requested`` if it exists under an allowed root.

    Relative paths are taken relative to the data directory. Raises a 403 problem outside the
    allow-list and InvalidInputError (422) when the path does not exist.
    """
    if "\x00" in requested:
        raise InvalidInputError("source path contains a NUL byte")
    path = Path(requested).expanduser()
    if not path.is_absolute():
        path = settings.paths.data_dir / path
    try:
        real = path.resolve(strict=False)
    except (OSError, RuntimeError) as exc:
        raise InvalidInputError(f"cannot resolve source path: {exc}") from exc
    check_allowed(settings, real, requested)
    if not real.exists():
        raise InvalidInputError(f"source {requested!r} does not exist")
    return real


def check_allowed(settings: Settings, real: Path, shown: str) -> None:
    """A 403 problem unless the resolved path ``real`` lies under an allowed root."""
    if not any(real == root or real.is_relative_to(root) for root in allowed_roots(settings)):
        raise ProblemError(403, f"{shown!r} is outside the allowed source folders")
