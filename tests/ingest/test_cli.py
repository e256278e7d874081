"""`modalign ingest` and `modalign jobs ...` in-process (the embedded default)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from modalign.catalog.migrate import upgrade
from modalign.cli import app

from .helpers import TINY_MODEL, make_settings, register_tiny_model


@pytest.fixture
def data_dir(tmp_path: Path, shared_cache: Path) -> Path:
    data = tmp_path / "data"
    settings = make_settings(data, f"sqlite:///{(data / 'catalog.db').resolve()}", shared_cache)
    upgrade(settings.database_url)
    register_tiny_model(settings, TINY_MODEL)
    return data


def _run(data_dir: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_ingest_then_jobs_list_show_resume(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (20, 20), (i * 80, 0, 0)).save(folder / f"{i}.png")
    (folder / "0.txt").write_text("the first picture\n")
    (folder / "bad.jpg").write_text("not a picture")
    out = _run(data_dir, "ingest", str(folder), "--dataset", "pics", "--tag", "cli")
    assert "completed_with_errors: 4 items, 3 done, 0 skipped, 1 failed, 4 new points" in out
    assert "failed bad.jpg: not an image: content is text" in out
    listed = [json.loads(line) for line in _run(data_dir, "jobs", "list", "--json").splitlines()]
    assert [(j["id"], j["dataset"], j["processed"]) for j in listed] == [(1, "pics", 4)]
    shown = json.loads(_run(data_dir, "jobs", "show", "1", "--json"))
    assert shown["failures"] == [{"uri": "bad.jpg", "error": "not an image: content is text"}]
    assert "job 1 completed_with_errors" in _run(data_dir, "jobs", "resume", "1")
    again = _run(data_dir, "ingest", str(folder))
    assert "0 done, 3 skipped, 1 failed, 0 new points" in again


def test_ingest_reports_a_bad_source(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    result = CliRunner().invoke(
        app, ["--data-dir", str(data_dir), "ingest", str(tmp_path / "notes.txt")]
    )
    assert result.exit_code == 1 and "cannot tell what kind of source" in result.output


def test_ingest_a_folder_holding_a_name_of_255_bytes(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "pics"
    folder.mkdir()
    long_name = "n" * 251 + ".png"  # its sidecar names (.json, 256 bytes) cannot exist
    Image.new("RGB", (20, 20), (0, 90, 0)).save(folder / long_name)
    Image.new("RGB", (20, 20), (90, 0, 0)).save(folder / "short.png")
    out = _run(data_dir, "ingest", str(folder))
    assert "completed: 2 items, 2 done, 0 skipped, 0 failed" in out
    assert "job 1 completed" in _run(data_dir, "jobs", "resume", "1")


def test_a_source_that_fails_while_planned_fails_its_job(data_dir: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.symlink_to("/proc/self/mem")  # opens as a regular file, reading it fails (EIO)
    result = CliRunner().invoke(app, ["--data-dir", str(data_dir), "ingest", str(manifest)])
    assert result.exit_code == 1 and "cannot read manifest" in result.output
    assert "Traceback" not in result.output
    job = json.loads(_run(data_dir, "jobs", "show", "1", "--json"))
    assert job["status"] == "failed" and "Input/output error" in job["error"]
