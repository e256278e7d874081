"""Plain progress lines for logs that are not a terminal: when time or the share done advances."""

from __future__ import annotations

from modalign.progress import LineProgress, LineTracker


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def tracker(total: int | None, gap: float = 0.0) -> tuple[LineTracker, list[str], Clock]:
    lines: list[str] = []
    clock = Clock()
    task = LineTracker("rendering", total, lines.append, clock, every=10.0, step=0.05, gap=gap)
    return task, lines, clock


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


def test_steps_done_within_the_gap_wait_for_it() -> None:
    task, lines, clock = tracker(100, gap=2.0)
    clock.now = 1.0
    task.update(30)
    assert lines == []  # six steps done, but within 2 s of the start
    clock.now = 2.0
    task.update(31)
    assert lines == ["rendering: 31/100 (31%), 15.5/s, 2s elapsed, ~4s left"]
    clock.now = 3.0
    task.update(40)
    assert len(lines) == 1
    clock.now = 4.0
    task.update(40)
    assert lines[-1].startswith("rendering: 40/100 (40%)")


def test_a_line_when_the_interval_passes_without_a_new_step() -> None:
    task, lines, clock = tracker(10_000)
    clock.now = 9.9
    task.advance(1)
    assert lines == []
    clock.now = 10.0
    task.advance(1)
    assert lines == ["rendering: 2/10000 (0%), 5.0 s each, 10s elapsed, ~13h53m left"]
    clock.now = 19.0
    task.advance(1)
    assert len(lines) == 1  # 9 s since the last line
    clock.now = 20.0
    task.update(3, note="0 failed")
    assert lines[-1] == "rendering: 3/10000 (0%), 6.7 s each, 20s elapsed, ~18h30m left; 0 failed"


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
    assert lines == ["image features: 3/100 (3%), 1.3 s each, 4s elapsed, ~2m09s left"]
    progress.close()
    assert len(lines) == 1
    advance(97)
    assert len(lines) == 1  # within 2 s of the last line
    progress.close()
    assert lines[-1] == "image features: 100/100 (100%), 25.0/s, 4s elapsed"
    progress.close()
    assert len(lines) == 2


def test_a_task_that_waits_still_writes_a_line_each_interval_until_it_is_finished() -> None:
    task, lines, clock = tracker(50)
    task.update(10)
    clock.now = 9.0
    task.tick()
    assert len(lines) == 1  # the 20 % line; nothing new within 10 s
    clock.now = 10.0
    task.tick()
    assert lines[-1] == "rendering: 10/50 (20%), 1.0/s, 10s elapsed, ~40s left"
    clock.now = 25.0
    task.update(50)
    clock.now = 40.0
    task.tick()
    assert lines[-1] == "rendering: 50/50 (100%), 2.0/s, 25s elapsed" and len(lines) == 3
