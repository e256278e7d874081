"""A tiny progress protocol, so library code reports progress without knowing about Rich."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Advance = Callable[[int], None]


class ProgressSink(Protocol):
    """Opens a task with a description and a total; returns the function that advances it."""

    def task(self, description: str, total: int) -> Advance: ...


class NoProgress:
    """Discards progress."""

    def task(self, description: str, total: int) -> Advance:
        return lambda _n: None
