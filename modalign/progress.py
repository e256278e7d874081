"""Progress reporting that library code can use without knowing where it is shown.

Library code (feature extraction, demo rendering) takes a :class:`ProgressSink` and advances the
tasks it opens; the command line gives it Rich bars on a terminal and :class:`LineProgress`
otherwise: a plain line per task every ``every`` seconds or every ``step`` of the total, so a
log that is not a terminal still shows a long step moving.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

Advance = Callable[[int], None]
Clock = Callable[[], float]
Write = Callable[[str], None]


class ProgressSink(Protocol):
    """Opens a task with a description and a total; returns the function that advances it."""

    def task(self, description: str, total: int) -> Advance: ...


class Tracker(Protocol):
    """One task whose count, total and note the caller sets or advances."""

    def advance(self, n: int) -> None: ...

    def update(self, completed: int, total: int | None = None, note: str | None = None) -> None:
        ...


class ProgressDisplay(ProgressSink, Protocol):
    """A sink whose tasks the caller may also drive itself (set the count, total and note)."""

    def open(self, description: str, total: int | None) -> Tracker: ...


class NoProgress:
    """Discards progress."""

    def task(self, description: str, total: int) -> Advance:
        return lambda _n: None


def _duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _rate(per_second: float) -> str:
    """``12.5/s``, or ``4.2 s each`` when slower than one a second ("" when none done)."""
    if per_second <= 0:
        return ""
    return f"{per_second:.1f}/s" if per_second >= 1 else f"{1 / per_second:.1f} s each"


@dataclass
class LineTracker:
    """A task reported as plain lines: one when ``every`` seconds have passed since the last line,
    or when the share done reaches the next multiple of ``step`` (but not within ``gap`` seconds
    of the last line, so a quick task writes a few lines, not one per step); ``tick`` writes one
    when the task stalls; ``close`` writes the last one. Safe to drive from two threads.
    """

    description: str
    total: int | None
    write: Write
    clock: Clock = time.monotonic
    every: float = 10.0
    step: float = 0.05
    gap: float = 2.0
    completed: int = 0
    note: str = ""
    _started: float = field(init=False)
    _last_at: float = field(init=False)
    _last_bucket: int = field(init=False, default=0)
    _shown: int | None = field(init=False, default=None)
    _closed: bool = field(init=False, default=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._started = self._last_at = self.clock()

    def advance(self, n: int) -> None:
        self.update(self.completed + n)

    def update(self, completed: int, total: int | None = None, note: str | None = None) -> None:
        with self._lock:
            self.completed = completed
            self.total = total if total is not None else self.total
            self.note = note if note is not None else self.note
            now = self.clock()
            since = now - self._last_at
            if since >= self.every or (since >= self.gap and self._bucket() > self._last_bucket):
                self._emit(now)

    def tick(self) -> None:
        """A line when ``every`` seconds passed without one and the task is not finished (so a
        step that waits, on a model loading or a slow batch, still shows it is alive)."""
        with self._lock:
            now = self.clock()
            finished = self.total is not None and self.completed >= self.total
            if not (self._closed or finished) and now - self._last_at >= self.every:
                self._emit(now)

    def close(self) -> None:
        """Write the final state unless the last line already showed it."""
        with self._lock:
            if self._shown != self.completed:
                self._emit(self.clock())
            self._closed = True

    def _share(self) -> float:
        return min(self.completed / self.total, 1.0) if self.total else 0.0

    def _bucket(self) -> int:
        """How many whole ``step``s of the total are done (0 without a total or a step)."""
        return int(self._share() / self.step + 1e-9) if self.step > 0 else 0

    def _emit(self, now: float) -> None:
        self._last_at, self._shown, self._last_bucket = now, self.completed, self._bucket()
        self.write(self.line(now))

    def line(self, now: float) -> str:
        """``description: done/total (pct), rate/s, elapsed, eta; note``."""
        elapsed = now - self._started
        count = f"{self.completed}/{self.total}" if self.total else str(self.completed)
        parts = [f"{self.description}: {count}"]
        if self.total:
            parts[0] += f" ({100 * self._share():.0f}%)"
        rate = self.completed / elapsed if elapsed > 0 else 0.0
        parts.append(_rate(rate))
        parts.append(f"{_duration(elapsed)} elapsed")
        if self.total and rate and self.completed < self.total:
            parts.append(f"~{_duration((self.total - self.completed) / rate)} left")
        text = ", ".join(p for p in parts if p)
        return f"{text}; {self.note}" if self.note else text


@dataclass
class LineProgress:
    """A :class:`ProgressSink` whose tasks are :class:`LineTracker` lines through ``write``."""

    write: Write
    clock: Clock = time.monotonic
    every: float = 10.0
    step: float = 0.05
    gap: float = 2.0
    trackers: list[LineTracker] = field(default_factory=list)

    def open(self, description: str, total: int | None) -> LineTracker:
        tracker = LineTracker(
            description, total, self.write, self.clock, self.every, self.step, self.gap
        )
        self.trackers.append(tracker)
        return tracker

    def task(self, description: str, total: int) -> Advance:
        return self.open(description, total).advance

    def tick(self) -> None:
        """:meth:`LineTracker.tick` every task (call it every second or so)."""
        for tracker in list(self.trackers):
            tracker.tick()

    def close(self) -> None:
        """Write every task's final line (those whose last line did not show it)."""
        for tracker in self.trackers:
            tracker.close()
