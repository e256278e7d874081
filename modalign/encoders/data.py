"""Training and evaluation samples: an image file, its captions and its near-duplicate group.

``samples_from_manifest`` reads the JSONL manifest (``modalign.datasets.manifest``); tests and other
sources build ``Sample`` objects directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from modalign.errors import InvalidInputError
from modalign.images import to_rgb


@dataclass(frozen=True)
class Sample:
    """One image with its captions (``captions[0]`` is the name/title caption)."""

    path: Path
    key: str
    captions: tuple[str, ...]
    group: str
    split: str = "train"


def samples_from_manifest(manifest: Path, split: str | None = None) -> list[Sample]:
    """The samples of ``manifest`` (optionally one split), paths resolved against its folder."""
    from modalign.datasets.manifest import read_manifest

    base = manifest.parent
    samples = []
    for item in read_manifest(manifest):
        if split is not None and item.split != split:
            continue
        if not item.captions:
            continue
        key = item.sha256 or file_sha256(base / item.path)
        group = item.group or key
        samples.append(
            Sample(item.resolve(base), key, tuple(item.captions), group, item.split)
        )
    return samples


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_image(path: Path) -> Image.Image:
    """Decode ``path`` as an RGB image (transparency over white)."""
    try:
        with Image.open(path) as image:
            image.load()
            return to_rgb(image)
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot decode image {path}: {exc}") from exc


def data_hash(samples: Sequence[Sample]) -> str:
    """SHA-256 over the samples' image hashes, captions and splits (names the training data)."""
    digest = hashlib.sha256()
    for sample in sorted(samples, key=lambda s: (s.split, s.key)):
        digest.update(f"{sample.split}\t{sample.key}\t{chr(31).join(sample.captions)}\n".encode())
    return digest.hexdigest()
