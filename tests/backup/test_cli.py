"""`modalign backup` and `modalign restore` as a user runs them (the CLI in this process)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from modalign.cli import app
from modalign.config import PathsSettings, Settings

from .conftest import IMAGES, MODEL, state_of


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_backup_then_restore_from_the_command_line(edge_index: Settings, tmp_path: Path) -> None:
    data = str(edge_index.paths.data_dir)
    code, out, err = _run("--data-dir", data, "backup", str(tmp_path / "backup"))
    assert code == 0, err
    assert f"backup written to {tmp_path / 'backup'}" in out
    assert f"assets {IMAGES}" in out and f"models: {MODEL}" in out
    assert "not in the backup:" in out and "source images" in out
    restored = tmp_path / "restored"
    code, out, err = _run("--data-dir", str(restored), "restore", str(tmp_path / "backup"),
                          "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["data_dir"] == str(restored) and report["rows"]["assets"] == IMAGES
    target = edge_index.model_copy(update={"paths": PathsSettings(data_dir=restored)})
    assert state_of(target) == state_of(edge_index)


def test_refusals_are_one_line_errors(edge_index: Settings, tmp_path: Path) -> None:
    code, _, err = _run("--data-dir", str(edge_index.paths.data_dir), "restore",
                        str(tmp_path))
    assert code == 1 and err.startswith("error: ") and "has no manifest.json" in err
    code, _, err = _run("--data-dir", str(edge_index.paths.data_dir), "backup",
                        str(edge_index.paths.data_dir))
    assert code == 1 and "backup destination" in err and "not empty" in err
