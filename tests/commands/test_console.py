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
    with progress_display(console, clock=lambda: 0.0) as display:
        advance = display.task("image features", 40)
        for _ in range(40):
            advance(1)
        display.open("job 1", None).update(7, 7, "3.5 items/s, 0 failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 20 + 1  # every 5 % of the first task; the second's one update
    assert lines[0].startswith("image features: 2/40 (5%)")
    assert lines[19].startswith("image features: 40/40 (100%)")
    assert lines[-1] == "job 1: 7/7 (100%), 0s elapsed; 3.5 items/s, 0 failed"
