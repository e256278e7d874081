"""The JSONL manifest: one image per line with its captions, tags, provenance and split.

Every dataset modalign trains on or ingests can be written as a manifest. ``path`` is relative to
the manifest's own directory, so a manifest and its images move together. Lines are validated one
at a time while streaming; a bad line raises :class:`InvalidInputError` naming its line number.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modalign.errors import InvalidInputError, NotFoundError

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")


class ManifestItem(BaseModel):
    """One image of a dataset and the text that describes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str = Field(description="Image path, relative to the manifest's directory (POSIX).")
    captions: list[str] = Field(
        min_length=1, description="captions[0] is the name/title caption; later ones add detail."
    )
    tags: list[str] = Field(default_factory=list, description="Keywords for filtering.")
    source: str = Field("manifest", min_length=1, description="Where the image comes from.")
    license: str | None = Field(None, description="License of the image (SPDX id or words).")
    split: Split = Field("train", description="train, val or test.")
    group: str | None = Field(None, description="Items sharing a group are duplicates/variants.")
    sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the image file bytes."
    )
    width: int | None = Field(None, gt=0, description="Image width in pixels.")
    height: int | None = Field(None, gt=0, description="Image height in pixels.")

    @field_validator("path")
    @classmethod
    def _relative_path(cls, value: str) -> str:
        posix = PurePosixPath(value)
        if not value or posix.is_absolute() or ".." in posix.parts or "\\" in value:
            raise ValueError("path must be a relative POSIX path without '..'")
        return value

    @field_validator("captions")
    @classmethod
    def _clean_captions(cls, value: list[str]) -> list[str]:
        cleaned = [" ".join(caption.split()) for caption in value]
        if any(not caption for caption in cleaned):
            raise ValueError("captions must not be blank")
        return list(dict.fromkeys(cleaned))

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(t for t in (" ".join(tag.split()) for tag in value) if t))

    def resolve(self, base_dir: Path) -> Path:
        """The image's path on disk, given the manifest's directory."""
        return base_dir / self.path


def parse_line(line: str, *, where: str = "line") -> ManifestItem:
    """Validate one JSON line; raise InvalidInputError naming ``where`` when it is unusable."""
    try:
        return ManifestItem.model_validate(json.loads(line))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{where}: not valid JSON ({exc.msg})") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'item'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InvalidInputError(f"{where}: {problems}") from exc


def read_manifest(path: Path) -> Iterator[ManifestItem]:
    """Stream the items of a JSONL manifest, validating each line; blank lines are skipped."""
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFoundError(f"manifest {path} does not exist") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield parse_line(line, where=f"{path}:{number}")


def write_manifest(path: Path, items: Iterable[ManifestItem]) -> int:
    """Write items as JSONL atomically (temp file + rename); return how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for item in items:
                handle.write(item.model_dump_json() + "\n")
                count += 1
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return count
