"""Fault points: inert unless armed; armed, they signal their own process at the given hit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from modalign.errors import ConfigError
from modalign.faults import FAULT_ENV, Fault, parse_faults

PASSES = """
from modalign.faults import fault_point
for n in range(1, 4):
    fault_point("here")
    print(n, flush=True)
"""


def _run(fault: str | None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault is not None:
        env[FAULT_ENV] = fault
    return subprocess.Popen(
        [sys.executable, "-c", PASSES], env=env, stdout=subprocess.PIPE, text=True
    )


def test_parse() -> None:
    assert parse_faults("store.flush:3, encode:1:stop,x:2:kill:40") == {
        "store.flush": Fault("store.flush", 3),
        "encode": Fault("encode", 1, "stop"),
        "x": Fault("x", 2, "kill", 40.0),
    }


@pytest.mark.parametrize("text", ["flush", "flush:0", "flush:x", "flush:1:boom", "a:1:kill:5:6"])
def test_bad_entries_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=FAULT_ENV):
        parse_faults(text)


def test_unarmed_points_do_nothing() -> None:
    out, _ = _run(None).communicate(timeout=60)
    assert out.split() == ["1", "2", "3"]


def test_kill_at_the_given_hit() -> None:
    process = _run("here:2")
    out, _ = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL and out.split() == ["1"]


def test_stop_waits_for_sigcont() -> None:
    process = _run("here:3:stop")
    assert process.stdout is not None
    assert [process.stdout.readline().strip() for _ in range(2)] == ["1", "2"]
    deadline = time.monotonic() + 60
    while _state(process.pid) != "T":
        assert time.monotonic() < deadline, "the process did not stop itself"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGCONT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0 and out.split() == ["3"]


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]
