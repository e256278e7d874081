"""WritePause: a pause waits for the writes in progress and holds new ones back, on real threads."""

from __future__ import annotations

import threading

from modalign.search.pause import WritePause

WAIT_S = 10.0
BLOCKED_S = 0.3  # how long a blocked thread is watched to stay blocked


def test_a_pause_waits_for_the_write_in_progress() -> None:
    gate = WritePause()
    writing, finish, paused = threading.Event(), threading.Event(), threading.Event()

    def write() -> None:
        with gate.writing():
            writing.set()
            finish.wait(WAIT_S)

    def pause() -> None:
        with gate.paused():
            paused.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert writing.wait(WAIT_S)
    pauser = threading.Thread(target=pause)
    pauser.start()
    assert not paused.wait(BLOCKED_S)
    finish.set()
    assert paused.wait(WAIT_S)
    writer.join(WAIT_S)
    pauser.join(WAIT_S)


def test_writes_wait_while_paused_and_only_the_holder_holds_it() -> None:
    gate = WritePause()
    wrote = threading.Event()
    seen_by_other: list[bool] = []

    def write() -> None:
        seen_by_other.append(gate.held_here)
        with gate.writing():
            wrote.set()

    with gate.paused():
        assert gate.held_here
        writer = threading.Thread(target=write)
        writer.start()
        assert not wrote.wait(BLOCKED_S)
    assert wrote.wait(WAIT_S)
    writer.join(WAIT_S)
    assert seen_by_other == [False] and not gate.held_here


def test_writes_share_the_gate() -> None:
    gate = WritePause()
    with gate.writing():
        inner = threading.Event()

        def write() -> None:
            with gate.writing():
                inner.set()

        thread = threading.Thread(target=write)
        thread.start()
        assert inner.wait(WAIT_S)
        thread.join(WAIT_S)
