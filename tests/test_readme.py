"""Every `modalign` command README.md shows exists, with the options it shows (`--help` parses)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from modalign.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _shown_commands() -> list[str]:
    """Command lines of README's code blocks, each `modalign ...` of a line on its own."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    commands = []
    for line in "\n".join(blocks).splitlines():
        line = line.split(" #", 1)[0].strip()
        for part in line.split(" | "):
            if part.startswith("modalign "):
                commands.append(part)
    return commands


def _resolve(words: list[str]) -> tuple[list[str], Any]:
    """The subcommand path the words name, and its command (Typer's own click types)."""
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    for word in words:
        if word not in getattr(command, "commands", {}):
            break
        command = command.commands[word]
        path.append(word)
    return path, command


def _options(command: Any) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}


def test_readme_shows_commands() -> None:
    assert len(_shown_commands()) >= 20


@pytest.mark.parametrize("line", _shown_commands())
def test_readme_command_exists(line: str) -> None:
    words = shlex.split(line)[1:]
    path, command = _resolve(words)
    assert path, f"{line!r}: no such command"
    assert not hasattr(command, "commands"), f"{line!r} names a group, not a command"
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    shown = {word.split("=", 1)[0] for word in words[len(path) :] if word.startswith("-")}
    unknown = shown - _options(command)
    assert not unknown, f"{line!r}: options {sorted(unknown)} are not options of {' '.join(path)}"
