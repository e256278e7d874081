"""`modalign search` end to end on a data directory (SQLite catalog + edge store), no encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modalign.catalog import db, migrate
from modalign.cli import app
from modalign.config import PathsSettings, Settings
from modalign.search import open_store

from .test_client import populate


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    root = tmp_path_factory.mktemp("data")
    settings = Settings(paths=PathsSettings(data_dir=root))
    migrate.upgrade(settings.database_url)
    engine = db.make_engine(settings.database_url)
    store = open_store(settings)
    try:
        ids = populate(store, db.make_session_factory(engine))
    finally:
        store.close()
        engine.dispose()
    return root, ids


def _run(root: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--data-dir", str(root), "search", *args])
    return result.exit_code, result.stdout, result.stderr


def test_like_json_with_filters(data_dir: tuple[Path, list[int]]) -> None:
    root, ids = data_dir
    code, out, _ = _run(
        root, "--like", str(ids[0]), "-f", "source=clipart", "--limit", "4", "--json"
    )
    assert code == 0
    hits = json.loads(out)
    assert len(hits) == 4
    for hit in hits:
        assert hit["payload"]["source"] == "clipart" and hit["payload"]["tags"] == ["red"]
        assert hit["asset"]["uri"].startswith("file:///img/")
        assert hit["asset"]["captions"][0]["position"] == 0


def test_table_output(data_dir: tuple[Path, list[int]]) -> None:
    root, ids = data_dir
    code, out, _ = _run(root, "--like", str(ids[1]), "-f", "width>=20", "--limit", "3")
    assert code == 0
    assert "3 images" in out and "file:///img/" in out


def test_oversampling_out_of_range_is_one_clean_line(data_dir: tuple[Path, list[int]]) -> None:
    root, ids = data_dir
    code, out, _ = _run(root, "--like", str(ids[0]), "--oversampling", "4", "--json")
    assert code == 0 and len(json.loads(out)) == 10
    code, out, err = _run(root, "--like", str(ids[0]), "--oversampling", "0.5")
    assert code == 1
    assert "oversampling must be between 1 and 16" in err and "Traceback" not in err + out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--like", "1", "-f", "colour=red"], "unknown filter field 'colour'"),
        (["--like", "1", "-f", "width>=wide"], "not a number"),
        (["--like", "1", "-f", "created_at=2026"], "datetime fields"),
        (["--like", "999999"], "asset 999999 has no image"),
        (["a red apple", "--like", "1"], "exactly one"),
    ],
)
def test_errors_are_one_clean_line(
    data_dir: tuple[Path, list[int]], args: list[str], message: str
) -> None:
    code, out, err = _run(data_dir[0], *args)
    assert code == 1
    assert message in err and "Traceback" not in err + out
