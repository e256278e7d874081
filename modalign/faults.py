"""Named fault points: places where a crash must be survivable, inert unless a test arms one.

``fault_point("store.flush")`` marks such a place. Crash tests and ``bench/faults.py`` arm points
through the environment of the process they start (FoundationDB / fail-rs style)::

    MODALIGN_FAULT="<point>:<hit>[:<action>[:<delay_ms>]][,<point>:<hit>...]"

At the ``hit``-th time this process passes ``point`` it sends itself ``action``: ``kill``
(SIGKILL, the default) or ``stop`` (SIGSTOP: the test changes the world, e.g. fills the disk,
then sends SIGCONT). With ``delay_ms`` the signal comes from a timer after a uniformly random
0..delay_ms milliseconds, so it lands inside the operation that follows the point rather than
just before it.

The variable is read once per process (:func:`armed_faults` is cached) and is not a setting: it
must reach every layer (store, catalog writer, encoder child) without being passed down, and it
has no meaning outside tests. Unset, a fault point costs one cached call.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import signal
import threading
from dataclasses import dataclass, field

from modalign.errors import ConfigError

log = logging.getLogger(__name__)

FAULT_ENV = "MODALIGN_FAULT"
ACTIONS = {"kill": signal.SIGKILL, "stop": signal.SIGSTOP}


@dataclass(frozen=True)
class Fault:
    """Send ``action`` to this process at the ``hit``-th pass of ``point`` (after a delay)."""

    point: str
    hit: int
    action: str = "kill"
    delay_ms: float = 0.0


@dataclass
class ArmedFaults:
    """The faults armed in this process and how often each point was passed."""

    faults: dict[str, Fault]
    hits: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def passed(self, point: str) -> None:
        fault = self.faults.get(point)
        if fault is None:
            return
        with self.lock:
            count = self.hits[point] = self.hits.get(point, 0) + 1
        if count == fault.hit:
            fire(fault)


def parse_faults(text: str) -> dict[str, Fault]:
    """The faults of a ``MODALIGN_FAULT`` value (see the module docstring)."""
    faults: dict[str, Fault] = {}
    for entry in filter(None, (part.strip() for part in text.split(","))):
        fields = entry.split(":")
        try:
            point, hit = fields[0], int(fields[1])
            action = fields[2] if len(fields) > 2 else "kill"
            delay = float(fields[3]) if len(fields) > 3 else 0.0
        except (IndexError, ValueError) as exc:
            raise ConfigError(f"bad {FAULT_ENV} entry {entry!r}: {exc}") from exc
        if action not in ACTIONS or hit < 1 or delay < 0 or len(fields) > 4:
            raise ConfigError(f"bad {FAULT_ENV} entry {entry!r}: want point:hit[:kill|stop[:ms]]")
        faults[point] = Fault(point, hit, action, delay)
    return faults


@functools.cache
def armed_faults() -> ArmedFaults | None:
    """The faults this process's environment arms (None when none: the usual case)."""
    text = os.environ.get(FAULT_ENV, "")
    return ArmedFaults(parse_faults(text)) if text.strip() else None


def fault_point(point: str) -> None:
    """A place where a crash must be survivable: fires the fault armed for it, if any."""
    armed = armed_faults()
    if armed is not None:
        armed.passed(point)


def fire(fault: Fault) -> None:
    """Send the fault's signal to this process, now or from a timer."""
    pid, sig = os.getpid(), ACTIONS[fault.action]
    log.warning("fault point %s (hit %d): %s", fault.point, fault.hit, fault.action)
    if fault.delay_ms <= 0:
        os.kill(pid, sig)
        return
    delay = random.uniform(0.0, fault.delay_ms) / 1000.0
    timer = threading.Timer(delay, os.kill, (pid, sig))
    timer.daemon = True
    timer.start()
