"""Plain progress lines for logs that are not a terminal: when time or the share done advances."""

from __future__ import annotations

from modalign.progress import LineProgress, LineTracker


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def tracker(total: int | None) -> tuple[LineTracker, list[str], Clock]:
    lines: list[str] = []
    clock = Clock()
    return LineTracker("rendering", total, lines.append, clock, every=10.0, step=0.05), lines, clock


def test_a_line_each_time_another_step_of_the_total_is_done() -> None:
    task, lines, clock = tracker(200)
    task.advance(9)
    assert lines == []  # 4.5 %: below the first step, and no time has passed
    clock.now = 1.0
    task.advance(1)
    assert lines == ["rendering: 10/200 (5%), 10.0/s, 1s elapsed, ~19s left"]
    task.advance(5)
    assert len(lines) == 1  # 7.5 %: still within the second step
    task.update(60)
    assert len(lines) == 2 and lines[-1].startswith("rendering: 60/200 (30%)")


def test_a_line_when_the_interval_passes_without_a_new_step() -> None:
    task, lines, clock = tracker(10_000)
    clock.now = 9.9
    task.advance(1)
    assert lines == []
    clock.now = 10.0
    task.advance(1)
    assert lines == ["rendering: 2/10000 (0%), 0.2/s, 10s elapsed, ~13h53m left"]
    clock.now = 19.0
    task.advance(1)
    assert len(lines) == 1  # 9 s since the last line
    clock.now = 20.0
    task.update(3, note="0 failed")
    assert lines[-1] == "rendering: 3/10000 (0%), 0.1/s, 20s elapsed, ~18h30m left; 0 failed"


def test_without_a_total_only_time_brings_a_line() -> None:
    task, lines, clock = tracker(None)
    task.advance(500)
    assert lines == []
    clock.now = 12.0
    task.advance(100)
    assert lines == ["rendering: 600, 50.0/s, 12s elapsed"]


def test_closing_writes_the_final_state_once() -> None:
    lines: list[str] = []
    clock = Clock()
    progress = LineProgress(lines.append, clock)
    advance = progress.task("image features", 100)
    clock.now = 4.0
    advance(3)
    progress.close()
    assert lines == ["image features: 3/100 (3%), 0.8/s, 4s elapsed, ~2m09s left"]
    progress.close()
    assert len(lines) == 1
    advance(97)
    assert lines[-1] == "image features: 100/100 (100%), 25.0/s, 4s elapsed"
    progress.close()
    assert len(lines) == 2
