from __future__ import annotations

import json
from pathlib import Path

import pytest

from modalign.datasets.manifest import ManifestItem, read_manifest, write_manifest
from modalign.errors import InvalidInputError, NotFoundError

GOOD = {
    "path": "emoji/1f600.png",
    "captions": ["grinning face", "face, grin"],
    "tags": ["face", "grin"],
    "source": "emoji",
    "license": "OFL-1.1",
    "split": "test",
    "group": "emoji:1f600",
    "sha256": "a" * 64,
    "width": 160,
    "height": 160,
}


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_good_lines_are_read_and_blank_lines_skipped(tmp_path: Path) -> None:
    minimal = {"path": "a/b.png", "captions": ["a cat"]}
    path = _write_lines(tmp_path / "m.jsonl", [json.dumps(GOOD), "", json.dumps(minimal)])
    items = list(read_manifest(path))
    assert [item.path for item in items] == ["emoji/1f600.png", "a/b.png"]
    assert items[0].captions[0] == "grinning face" and items[0].split == "test"
    assert items[1].split == "train" and items[1].sha256 is None and items[1].tags == []
    assert items[1].resolve(tmp_path) == tmp_path / "a" / "b.png"


def test_captions_are_normalised() -> None:
    item = ManifestItem(path="x.png", captions=["  a   red\tapple ", "a red apple", "fruit"])
    assert item.captions == ["a red apple", "fruit"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"captions": []}, "captions"),
        ({"captions": ["ok", "   "]}, "captions"),
        ({"path": "/etc/passwd"}, "path"),
        ({"path": "../outside.png"}, "path"),
        ({"split": "holdout"}, "split"),
        ({"sha256": "not-a-hash"}, "sha256"),
        ({"width": 0}, "width"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_line_names_its_line_number_and_field(
    tmp_path: Path, change: dict[str, object], field: str
) -> None:
    bad = {**GOOD, **change}
    path = _write_lines(tmp_path / "m.jsonl", [json.dumps(GOOD), json.dumps(bad)])
    with pytest.raises(InvalidInputError, match=rf"m\.jsonl:2: .*{field}"):
        list(read_manifest(path))


def test_missing_captions_and_broken_json_are_invalid(tmp_path: Path) -> None:
    no_captions = {k: v for k, v in GOOD.items() if k != "captions"}
    path = _write_lines(tmp_path / "m.jsonl", [json.dumps(no_captions)])
    with pytest.raises(InvalidInputError, match=r":1: captions"):
        list(read_manifest(path))
    path = _write_lines(tmp_path / "n.jsonl", [json.dumps(GOOD), "", '{"path": "x.png",'])
    with pytest.raises(InvalidInputError, match=r"n\.jsonl:3: not valid JSON"):
        list(read_manifest(path))


def test_reading_is_streamed(tmp_path: Path) -> None:
    path = _write_lines(tmp_path / "m.jsonl", [json.dumps(GOOD), "garbage"])
    items = read_manifest(path)
    assert next(items).path == GOOD["path"]
    with pytest.raises(InvalidInputError):
        next(items)


def test_missing_manifest_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        list(read_manifest(tmp_path / "absent.jsonl"))


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    items = [ManifestItem.model_validate(GOOD), ManifestItem(path="b.png", captions=["ß ü 😀"])]
    path = tmp_path / "sub" / "m.jsonl"
    assert write_manifest(path, items) == 2
    assert list(read_manifest(path)) == items
    assert "😀" in path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir()] == ["m.jsonl"]
