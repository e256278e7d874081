"""The command line's console: quiet by default, plain progress lines when not a terminal."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from modalign.commands.console import progress_display

ROOT = Path(__file__).resolve().parents[2]


def modalign(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point in a fresh process (its own logging set-up), stderr a pipe."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODALIGN_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", "from modalign.cli import main; main()",
         "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )


def test_library_info_lines_show_only_with_verbose(tmp_path: Path) -> None:
    quiet = modalign(tmp_path / "a", "db", "upgrade")
    assert "catalog: upgrading to head" not in quiet.stderr
    assert "INFO" not in quiet.stderr and "DEBUG" not in quiet.stderr
    assert quiet.stdout.startswith("catalog at ")  # the command's own summary stays
    verbose = modalign(tmp_path / "b", "--verbose", "db", "upgrade")
    assert "INFO modalign.catalog.migrate: catalog: upgrading to head" in verbose.stderr


def test_a_console_that_is_not_a_terminal_gets_plain_lines() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80)
    assert not console.is_terminal
    clock = iter(range(0, 1000, 3))  # each reading 3 s after the one before
    with progress_display(console, clock=lambda: next(clock), tick=3600) as display:
        advance = display.task("image features", 40)
        for _ in range(4):
            advance(10)
        display.open("job 1", None).update(7, 7, "3.5 items/s, 0 failed")
    assert out.getvalue().splitlines() == [
        "image features: 10/40 (25%), 3.3/s, 3s elapsed, ~9s left",
        "image features: 20/40 (50%), 3.3/s, 6s elapsed, ~6s left",
        "image features: 30/40 (75%), 3.3/s, 9s elapsed, ~3s left",
        "image features: 40/40 (100%), 3.3/s, 12s elapsed",
        "job 1: 7/7 (100%), 2.3/s, 3s elapsed; 3.5 items/s, 0 failed",
    ]
