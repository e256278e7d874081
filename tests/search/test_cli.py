"""`modalign search` end to end on a data directory (SQLite catalog + edge store), no encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import String, cast, literal, update
from typer.testing import CliRunner

from modalign.catalog import db
from modalign.catalog.models import Asset
from modalign.cli import app
from modalign.config import PathsSettings, Settings

from .test_client import populate_data_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    root = tmp_path_factory.mktemp("data")
    return root, populate_data_dir(Settings(paths=PathsSettings(data_dir=root)))


LONG_FOLDER = "demo/images/openclipart/buildings-and-landscapes/sea-and-coast"


@pytest.fixture(scope="module")
def long_paths(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """Like ``data_dir``, with every asset's file under the data directory at a long path."""
    root = tmp_path_factory.mktemp("long")
    settings = Settings(paths=PathsSettings(data_dir=root))
    ids = populate_data_dir(settings)
    engine = db.make_engine(settings.database_url)
    with engine.begin() as connection:
        name = literal(f"{LONG_FOLDER}/a-lighthouse-on-a-rock-in-a-stormy-sea-")
        connection.execute(
            update(Asset).values(uri=name.concat(cast(Asset.id, String)).concat(".png"))
        )
    engine.dispose()
    return root, ids


def _run(root: Path, *args: str, **env: str | None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--data-dir", str(root), "search", *args], env=env)
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
    assert "3 images" in out and "\n   /img/" in out  # a file:// uri shown as its path


def test_an_80_column_table_shows_each_hit_s_whole_path(
    long_paths: tuple[Path, list[int]],
) -> None:
    root, ids = long_paths
    query = ("--like", str(ids[3]), "--limit", "5")
    code, out, _ = _run(root, *query, COLUMNS="80")
    assert code == 0
    lines = out.splitlines()
    uris = [hit["asset"]["uri"] for hit in json.loads(_run(root, *query, "--json")[1])]
    assert len(uris) == 5 and all(len(uri) > 80 for uri in uris)
    for rank, uri in enumerate(uris, start=1):
        row = next(i for i, line in enumerate(lines) if line.startswith(f"{rank}  "))
        assert lines[row + 1].strip() == uri  # whole, on its own line under its row
        assert len(lines[row]) <= 80


def test_json_is_the_hits_as_stored(long_paths: tuple[Path, list[int]]) -> None:
    root, ids = long_paths
    code, out, _ = _run(root, "--like", str(ids[0]), "--limit", "3", "--json")
    assert code == 0
    hits = json.loads(out)
    assert [set(hit) for hit in hits] == [{"point_id", "score", "asset_id", "payload", "asset"}] * 3
    assert all(hit["asset"]["uri"].startswith(LONG_FOLDER + "/") for hit in hits)
    code, opened, _ = _run(root, "--like", str(ids[0]), "--limit", "3", "--json", "--open", "1",
                           DISPLAY=None, WAYLAND_DISPLAY=None)
    assert code == 0 and opened == out  # --open writes to stderr only


def test_open_without_a_display_prints_the_file_link(long_paths: tuple[Path, list[int]]) -> None:
    root, ids = long_paths
    code, out, err = _run(root, "--like", str(ids[0]), "--limit", "3", "--offset", "1",
                          "--open", "3", DISPLAY=None, WAYLAND_DISPLAY=None)
    assert code == 0
    third = next(line for line in out.splitlines() if line.startswith("3  "))
    shown = out.splitlines()[out.splitlines().index(third) + 1].strip()
    assert f"file://{root.resolve()}/{shown}" in err and "no opener" in err


def test_open_a_hit_that_is_not_shown(long_paths: tuple[Path, list[int]]) -> None:
    root, ids = long_paths
    code, _, err = _run(root, "--like", str(ids[0]), "--limit", "2", "--open", "3")
    assert code == 1 and "no hit numbered 3 (shown: 1..2)" in err


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
        (["a red apple", "--like", "1"], "or --like ASSET_ID"),
        (["--like", "1", "--group-by-asset"], "use it with --captions"),
    ],
)
def test_errors_are_one_clean_line(
    data_dir: tuple[Path, list[int]], args: list[str], message: str
) -> None:
    code, out, err = _run(data_dir[0], *args)
    assert code == 1
    assert message in err and "Traceback" not in err + out
