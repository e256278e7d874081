"""`modalign data build-demo` on the installed packages, limited to a few items per source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modalign.cli import app
from modalign.datasets.build import DemoSources
from modalign.datasets.manifest import read_manifest


def test_build_demo_command_writes_the_set_and_prints_the_summary(tmp_path: Path) -> None:
    sources = DemoSources()
    if not (sources.emoji_font.exists() and sources.openclipart_png.exists()):
        pytest.skip("demo Debian packages are not installed")
    result = CliRunner().invoke(
        app, ["--data-dir", str(tmp_path), "data", "build-demo", "--limit", "12", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    demo = tmp_path / "demo"
    items = list(read_manifest(demo / "manifest.jsonl"))
    summary = json.loads((demo / "summary.json").read_text(encoding="utf-8"))
    assert len(items) == summary["total"] > 0
    assert {item.source for item in items} == {"emoji", "openclipart"}
    for word in ("emoji", "openclipart", "train", "test", "images rendered"):
        assert word in result.output
    for name, source in summary["sources"].items():
        for reason, count in source["skipped"].items():
            assert f"{reason} {count}" in result.output.split(f"skipped in {name}: ")[1]
