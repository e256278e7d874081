"""`modalign ingest` with quantization: a version's collections take the setting at their first
ingest and keep it; an ingest into that version under another setting stops with an error naming
both values, and resuming under the recorded setting finishes the job."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from modalign.search import Kind, open_store

from .conftest import copy_template
from .faults import cli_env, run_cli, settings_of

pytestmark = pytest.mark.slow

NO_CHILD = {"MODALIGN_INGEST__ENCODER_PROCESS": "false"}  # quicker to start; same writes


def _images(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (72, 56), (40 + i * 50, 200 - i * 30, 90)).save(folder / f"new{i}.png")
        (folder / f"new{i}.txt").write_text(f"a new picture {i}\n")
    return folder


def test_the_setting_is_fixed_by_the_first_ingest(
    template: Path, source: Path, tmp_path: Path
) -> None:
    data = copy_template(template, tmp_path / "data")
    int8 = cli_env(data, MODALIGN_STORE__QUANTIZATION="int8", **NO_CHILD)
    first = run_cli(int8, "ingest", str(source))
    assert first.returncode == 0, first.describe()

    more = _images(tmp_path / "more", 3)
    changed = run_cli(cli_env(data, **NO_CHILD), "ingest", str(more))
    assert changed.returncode == 1, changed.describe()
    assert "created with store.quantization=int8, but the settings now say none" in changed.log
    assert "modalign reindex" in changed.log and "Traceback" not in changed.log

    resumed = run_cli(int8, "jobs", "resume", "2")
    assert resumed.returncode == 0, resumed.describe()
    settings = settings_of(data)
    store = open_store(settings)
    try:
        assert store.info(Kind.IMAGES).quantization == "int8"
        assert store.count(Kind.CAPTIONS, filter=None) >= 3
    finally:
        store.close()
