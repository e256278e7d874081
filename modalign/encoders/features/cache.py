"""On-disk cache of tower features, keyed by tower id and content hash.

Each tower id gets a directory ``<cache_dir>/features/<tower_id>/`` of chunk files (``.npz``
holding ``keys`` and ``features``). Keys are content hashes: the image file's SHA-256 (plus a view
suffix for augmented views) or the SHA-256 of a caption's text. Chunks are only ever added (written
atomically), so concurrent writers cannot corrupt the cache; a key present twice maps to identical
features.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def text_key(text: str) -> str:
    """Cache key of a caption: SHA-256 of its UTF-8 text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FeatureCache:
    """Features of one tower, loaded into memory from disk; ``add`` appends a chunk."""

    def __init__(self, root: Path, tower_id: str, dim: int) -> None:
        self.directory = root / "features" / tower_id
        self.dim = dim
        self.rows: dict[str, int] = {}
        self.blocks: list[np.ndarray] = []
        self._size = 0
        for chunk in sorted(self.directory.glob("chunk-*.npz")):
            self._load_chunk(chunk)

    def _load_chunk(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as data:
            keys = [str(key) for key in data["keys"]]
            features = np.asarray(data["features"], dtype=np.float32)
        self._remember(keys, features)

    def _remember(self, keys: Sequence[str], features: np.ndarray) -> None:
        self.blocks.append(features)
        for offset, key in enumerate(keys):
            self.rows.setdefault(key, self._size + offset)
        self._size += len(keys)

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def missing(self, keys: Sequence[str]) -> list[str]:
        """The distinct keys not cached yet, in first-seen order."""
        return list(dict.fromkeys(key for key in keys if key not in self.rows))

    def get(self, keys: Sequence[str]) -> np.ndarray:
        """(len(keys), dim) features; every key must be cached."""
        if not keys:
            return np.zeros((0, self.dim), dtype=np.float32)
        matrix = np.concatenate(self.blocks) if len(self.blocks) > 1 else self.blocks[0]
        self.blocks = [matrix]
        return matrix[[self.rows[key] for key in keys]]

    def add(self, keys: Sequence[str], features: np.ndarray) -> None:
        """Store ``features`` (one row per key) in memory and as a new chunk on disk."""
        if len(keys) == 0:
            return
        features = np.asarray(features, dtype=np.float32)
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            np.savez(handle, keys=np.asarray(list(keys)), features=features)
        os.replace(tmp_name, self.directory / f"chunk-{uuid.uuid4().hex}.npz")
        self._remember(keys, features)
