"""The configuration table documents every setting, and the README carries the current table."""

from __future__ import annotations

from pathlib import Path

from modalign.settings_doc import settings_table

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_setting_has_a_meaning() -> None:
    rows = settings_table().splitlines()[2:]
    assert len(rows) > 20
    for row in rows:
        meaning = row.rsplit("|", 2)[-2].strip()
        assert meaning, row


def test_readme_configuration_table_is_current() -> None:
    assert settings_table() in README.read_text(encoding="utf-8")
