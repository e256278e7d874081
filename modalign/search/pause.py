"""A write pause: writes share a gate, a pause waits for the ones in progress and holds new ones
back until it ends. Readers never touch the gate, so searches keep answering during a pause.

Stores (and the service's job runner) wrap each write in :meth:`WritePause.writing` — methods with
the :func:`pausable_write` decorator — and a backup copies their files inside
:meth:`WritePause.paused`. A pause is not re-entrant for writes: the thread holding it must not
write, or it waits for itself.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, Protocol, TypeVar

from modalign.search.rwlock import RWLock

P = ParamSpec("P")
R = TypeVar("R")


class WritePause:
    """Writes hold the gate shared; a pause holds it alone (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = RWLock()  # its readers are the writes, its writer is the pause
        self._holder: int | None = None

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One write: waits while a pause is held or waiting."""
        with self._lock.read():
            yield

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No write runs inside: the ones in progress have finished, new ones wait."""
        with self._lock.write():
            self._holder = threading.get_ident()
            try:
                yield
            finally:
                self._holder = None

    @property
    def held_here(self) -> bool:
        """Whether the calling thread holds the pause."""
        return self._holder == threading.get_ident()


class HasWritePause(Protocol):
    write_pause: WritePause


S = TypeVar("S", bound=HasWritePause)


def pausable_write(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Run the method inside its object's ``write_pause.writing()``."""

    @functools.wraps(method)
    def gated(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with self.write_pause.writing():
            return method(self, *args, **kwargs)

    return gated
