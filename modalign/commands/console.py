"""The command line's console: log levels, quiet third parties, and the progress display.

Library loggers write WARNING and above unless ``--verbose`` (then ``modalign`` logs at DEBUG).
Third-party progress bars (the Hugging Face hub's and transformers' "Loading weights", tqdm) are
switched off through their environment variables, set here at the entry point so the encoder
child processes inherit them. Long steps show one Rich bar each on a terminal, and plain lines
(:class:`~modalign.progress.LineProgress`) when stderr is a file or a pipe.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from modalign.progress import Advance, Clock, LineProgress, ProgressDisplay, Tracker

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

TICK_SECONDS = 1.0
QUIET_ENV = (("HF_HUB_DISABLE_PROGRESS_BARS", "1"), ("TQDM_DISABLE", "1"))
# chatty below WARNING even when modalign itself logs at DEBUG
NOISY_LOGGERS = ("matplotlib", "PIL", "alembic", "httpx", "httpcore", "urllib3", "filelock",
                 "sentence_transformers", "transformers", "huggingface_hub", "onnxruntime")


def configure_logging(verbose: bool) -> None:
    """WARNING by default; with ``verbose`` modalign at DEBUG and other libraries at INFO (the
    chatty ones stay at WARNING)."""
    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level,
        format=("%(asctime)s " if verbose else "") + "%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger().setLevel(level)  # also when a handler was installed before
    if verbose:
        logging.getLogger("modalign").setLevel(logging.DEBUG)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def quiet_third_parties() -> None:
    """No third-party progress bars in this process and its children (unless the user set the
    variables otherwise)."""
    for name, value in QUIET_ENV:
        os.environ.setdefault(name, value)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


class RichTracker:
    """One task of a Rich progress display."""

    def __init__(self, progress: Progress, task_id: TaskID) -> None:
        self.progress, self.task_id = progress, task_id

    def advance(self, n: int) -> None:
        self.progress.advance(self.task_id, n)

    def update(self, completed: int, total: int | None = None, note: str | None = None) -> None:
        if note is not None:
            self.progress.update(self.task_id, note=note)
        self.progress.update(self.task_id, completed=completed, total=total)


class RichDisplay:
    """Rich bars on the console: one per task opened."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def open(self, description: str, total: int | None) -> Tracker:
        return RichTracker(self.progress, self.progress.add_task(description, total=total, note=""))

    def task(self, description: str, total: int) -> Advance:
        return self.open(description, total).advance


def _bars(console: Console) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[note]}"),
        console=console,
    )


@contextmanager
def progress_display(
    console: Console, clock: Clock = time.monotonic, tick: float = TICK_SECONDS
) -> Iterator[ProgressDisplay]:
    """Rich bars when ``console`` is a terminal, else a plain progress line every 10 s (of
    ``clock``; also while a task waits, looked at every ``tick`` seconds) or 5 %, and each
    task's final line when the block ends."""
    if console.is_terminal:
        with _bars(console) as bars:
            yield RichDisplay(bars)
        return
    lines = LineProgress(
        lambda text: console.print(text, markup=False, highlight=False, soft_wrap=True), clock
    )
    stop = threading.Event()
    ticker = threading.Thread(
        target=_tick, args=(lines, stop, tick), name="progress-lines", daemon=True
    )
    ticker.start()
    try:
        yield lines
    finally:
        stop.set()
        ticker.join()
        lines.close()


def _tick(lines: LineProgress, stop: threading.Event, seconds: float) -> None:
    """Let stalled tasks write their line while the command waits on something else."""
    while not stop.wait(seconds):
        lines.tick()
