"""Every source walk is item-safe: what the file system or a parser throws becomes a failed item
with its reason, or the job's clear error when the source itself cannot be opened."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from modalign.errors import InvalidInputError
from modalign.ingest.sources import SourceItem, SourceLimits, SourceSpec, detect_source, iter_source

from .conftest import as_nobody

LONG = "x" * 251 + ".png"  # 255 bytes: the longest name Linux allows; its sidecar name is not


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), (9, 9, 9)).save(path, format="PNG")


def _read(source: Path, limits: SourceLimits = SourceLimits()) -> dict[str, SourceItem]:
    spec = SourceSpec(source, detect_source(source))
    return {item.key: item for item in iter_source(spec, limits)}


def _reason(items: dict[str, SourceItem], key: str) -> str:
    error = items[key].error
    assert error is not None, f"{key} was not refused"
    return error


# -- folders ------------------------------------------------------------------------------------


def test_a_folder_with_names_the_os_refuses_or_cannot_decode(tmp_path: Path) -> None:
    _png(tmp_path / LONG)
    (tmp_path / "ok.txt").write_text("fine")
    _png(tmp_path / "ok.png")
    Image.new("RGB", (16, 16)).save(os.fsencode(tmp_path) + b"/caf\xe9.png", format="PNG")
    items = _read(tmp_path)
    assert items[LONG].ok and items[LONG].captions == ()
    assert items["ok.png"].captions == ("fine",)
    assert "not valid UTF-8" in _reason(items, "caf\\xe9.png")


def test_a_folder_whose_subfolder_vanishes_during_the_walk(tmp_path: Path) -> None:
    _png(tmp_path / "a/1.png")
    _png(tmp_path / "b/2.png")
    walk = iter_source(SourceSpec(tmp_path, "folder"), SourceLimits())
    first = next(walk)
    shutil.rmtree(tmp_path / "b")
    rest = {item.key: item for item in walk}
    assert first.key == "a/1.png" and first.ok
    assert "cannot list folder" in _reason(rest, "b/")


def test_a_folder_that_loops_through_symlinks_is_walked_once(tmp_path: Path) -> None:
    _png(tmp_path / "a/1.png")
    (tmp_path / "a/loop").symlink_to(tmp_path / "a", target_is_directory=True)
    assert list(_read(tmp_path)) == ["a/1.png"]


def test_a_folder_with_unreadable_parts(open_tree: Path) -> None:
    _png(open_tree / "ok.png")
    _png(open_tree / "locked/x.png")
    _png(open_tree / "secret_sidecar.png")
    (open_tree / "secret_sidecar.txt").write_text("no")
    (open_tree / "secret_sidecar.txt").chmod(0)
    (open_tree / "locked").chmod(0)
    os.mkfifo(open_tree / "pipe.txt")
    _png(open_tree / "pipe.png")
    with as_nobody():
        items = _read(open_tree)
    assert items["ok.png"].ok
    assert "cannot list folder: Permission denied" in _reason(items, "locked/")
    assert "Permission denied" in _reason(items, "secret_sidecar.png")
    assert "not a regular file" in _reason(items, "pipe.png")


def test_a_folder_that_cannot_be_listed_is_the_jobs_error(open_tree: Path) -> None:
    folder = open_tree / "private"
    _png(folder / "a.png")
    folder.chmod(0o700)
    with as_nobody(), pytest.raises(InvalidInputError, match="cannot list source folder"):
        list(iter_source(SourceSpec(folder, "folder"), SourceLimits()))


def test_oversized_and_bad_sidecars_fail_their_item(tmp_path: Path) -> None:
    for name in ("big", "deep", "ok"):
        _png(tmp_path / f"{name}.png")
    (tmp_path / "big.txt").write_bytes(b"y" * 300_001)
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    items = _read(tmp_path, SourceLimits(max_sidecar_bytes=300_000))
    assert "sidecar big.txt is 300001 bytes, above the limit of 300000" in _reason(
        items, "big.png"
    )
    assert "bad JSON sidecar" in _reason(items, "deep.png")
    assert items["ok.png"].ok


# -- files naming their entries: manifest, COCO, Flickr ------------------------------------------


def _entries_source(kind: str, folder: Path, names: list[str]) -> Path:
    if kind == "manifest":
        path = folder / "m.jsonl"
        path.write_text("".join(json.dumps({"path": n}) + "\n" for n in names))
    elif kind == "coco":
        path = folder / "captions.json"
        doc = {"images": [{"id": i, "file_name": n} for i, n in enumerate(names)]}
        path.write_text(json.dumps(doc))
    else:
        path = folder / "results.token"
        path.write_bytes(b"".join(os.fsencode(f"{n}#0\ta caption\n") for n in names))
    return path


ENTRY_KINDS = ["manifest", "coco", "flickr"]


@pytest.mark.parametrize("kind", ENTRY_KINDS)
def test_entries_the_file_system_refuses(kind: str, tmp_path: Path) -> None:
    _png(tmp_path / "ok.png")
    Image.new("RGB", (16, 16)).save(os.fsencode(tmp_path) + b"/caf\xe9.png", format="PNG")
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    names = ["ok.png", "y" * 300 + ".png", "loop_a/x.png", "gone/x.png", "caf\udce9.png"]
    items = _read(_entries_source(kind, tmp_path, names))
    assert items["ok.png"].ok
    assert "too long" in _reason(items, "y" * 300 + ".png")
    assert "symlink loop" in _reason(items, "loop_a/x.png")
    assert "not found" in _reason(items, "gone/x.png")
    undecodable = next(k for k in items if k.startswith("caf"))
    assert "not valid UTF-8" in _reason(items, undecodable)


@pytest.mark.parametrize("kind", ENTRY_KINDS)
def test_entries_in_a_folder_that_cannot_be_entered(kind: str, open_tree: Path) -> None:
    _png(open_tree / "ok.png")
    _png(open_tree / "locked/x.png")
    (open_tree / "locked").chmod(0)
    source = _entries_source(kind, open_tree, ["ok.png", "locked/x.png"])
    with as_nobody():
        items = _read(source)
    assert items["ok.png"].ok
    assert "Permission denied" in _reason(items, "locked/x.png")


@pytest.mark.parametrize("kind", ENTRY_KINDS)
def test_a_source_file_that_cannot_be_opened_is_the_jobs_error(kind: str, open_tree: Path) -> None:
    source = _entries_source(kind, open_tree, ["a.png"])
    source.chmod(0)
    with as_nobody(), pytest.raises(InvalidInputError, match=f"cannot open .*{source.name}"):
        list(iter_source(SourceSpec(source, kind), SourceLimits()))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ENTRY_KINDS)
def test_a_source_file_that_fails_while_read_is_the_jobs_error(kind: str, tmp_path: Path) -> None:
    source = tmp_path / {"manifest": "m.jsonl", "coco": "c.json", "flickr": "r.token"}[kind]
    source.symlink_to("/proc/self/mem")  # a regular file whose read fails with EIO
    with pytest.raises(InvalidInputError, match="Input/output error"):
        list(iter_source(SourceSpec(source, kind), SourceLimits()))  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["m.jsonl", "c.json", "r.token"])
def test_a_fifo_named_like_a_source_is_refused_without_blocking(name: str, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / name)
    with pytest.raises(InvalidInputError, match="not a folder or a regular file"):
        detect_source(tmp_path / name)


def test_manifest_lines_that_are_not_what_they_should_be(tmp_path: Path) -> None:
    _png(tmp_path / "ok.png")
    lines = [
        json.dumps({"path": "ok.png", "note": "bad \ud800 escape", "nul": "a\u0000b"}),
        "[" * 100_000 + "]" * 100_000,
        json.dumps({"path": ["not", "a", "string"]}),
        json.dumps({"path": "ok.png", "captions": "not a list", "tags": {"a": 1}}),
    ]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    items = list(iter_source(SourceSpec(tmp_path / "m.jsonl", "manifest"), SourceLimits()))
    assert items[0].ok and items[0].meta == {"note": "bad \ufffd escape", "nul": "a\ufffdb"}
    assert "nested too deeply" in (items[1].error or "")
    assert "no 'path' string" in (items[2].error or "")
    assert items[3].ok and items[3].captions == () and items[3].tags == ()


def test_coco_documents_that_are_not_what_they_should_be(tmp_path: Path) -> None:
    _png(tmp_path / "ok.png")
    doc = {
        "images": [
            {"id": [1], "file_name": "ok.png"},
            {"id": {"a": 1}, "file_name": 7},
            "not an object",
            {"id": 3, "file_name": "ok.png"},
        ],
        "annotations": [{"image_id": [1], "caption": "x"}, {"image_id": 3, "caption": "three"}, 5],
    }
    (tmp_path / "c.json").write_text(json.dumps(doc))
    items = list(iter_source(SourceSpec(tmp_path / "c.json", "coco"), SourceLimits()))
    assert [i.ok for i in items] == [True, False, False, True]
    assert items[0].captions == () and items[3].captions == ("three",)
    (tmp_path / "d.json").write_text(json.dumps({"images": [], "annotations": {"no": "list"}}))
    assert list(iter_source(SourceSpec(tmp_path / "d.json", "coco"), SourceLimits())) == []
    (tmp_path / "e.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidInputError, match="cannot parse COCO captions"):
        list(iter_source(SourceSpec(tmp_path / "e.json", "coco"), SourceLimits()))


def test_flickr_rows_that_cannot_be_parsed_fail_alone(tmp_path: Path) -> None:
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png")
    rows = ["image,caption", "a.png,first", "b.png," + "z" * 200_000, "b.png,second"]
    (tmp_path / "captions.csv").write_text("\n".join(rows) + "\n")
    items = _read(tmp_path / "captions.csv")
    assert items["a.png"].captions == ("first",)
    assert "field larger than field limit" in _reason(items, "row 3")
    assert items["b.png"].captions == ("second",)
