"""Deterministic train/val/test assignment from a stable key (an image hash or a group name).

The same key always lands in the same split, on every machine and every run, so rebuilding a
dataset never moves an image between training and evaluation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from modalign.datasets.manifest import Split


@dataclass(frozen=True)
class SplitRatios:
    """Fractions of keys sent to val and test; the rest is train."""

    val: float = 0.10
    test: float = 0.10
    salt: str = "modalign-split-v1"

    def __post_init__(self) -> None:
        if self.val < 0 or self.test < 0 or self.val + self.test >= 1:
            raise ValueError("val and test fractions must be >= 0 and sum to less than 1")


def unit_interval(key: str, salt: str) -> float:
    """A uniform number in [0, 1) derived from ``key`` alone (SHA-256, not Python's hash)."""
    digest = hashlib.sha256(f"{salt}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_for(key: str, ratios: SplitRatios | None = None) -> Split:
    """The split a key belongs to."""
    ratios = ratios or SplitRatios()
    point = unit_interval(key, ratios.salt)
    if point < ratios.test:
        return "test"
    if point < ratios.test + ratios.val:
        return "val"
    return "train"
