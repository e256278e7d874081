"""`modalign db upgrade / current / check / downgrade` on a temporary SQLite catalog."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from modalign.catalog import migrate
from modalign.cli import app


def run(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["db", *args], env={"MODALIGN_DATABASE__URL": url})
    return result.exit_code, result.output


def test_db_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli' / 'catalog.db'}"
    head = ",".join(migrate.heads())

    assert run(url, "current") == (0, "base (head is " + head + ")\n")
    assert run(url, "upgrade") == (0, f"catalog at {head}\n")
    assert migrate.current(url) == head
    assert run(url, "upgrade", "--revision", "head") == (0, f"catalog at {head}\n")
    assert run(url, "current") == (0, f"{head} (up to date)\n")
    code, output = run(url, "check")
    assert code == 0 and "no drift" in output

    assert run(url, "downgrade", "base") == (0, "catalog at base\n")
    assert migrate.current(url) is None
    code, output = run(url, "check")
    assert code == 1 and "not up to date" in output


def test_data_dir_option_places_the_default_catalog(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--data-dir", str(tmp_path), "db", "upgrade"], env={"MODALIGN_DATABASE__URL": ""}
    )
    assert result.exit_code == 0, result.output
    assert migrate.current(f"sqlite:///{tmp_path / 'catalog.db'}") == ",".join(migrate.heads())
