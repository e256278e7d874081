"""Source readers: folder, JSONL manifest, COCO captions, Flickr30K; detection; path safety."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from modalign.errors import InvalidInputError
from modalign.ingest.sources import SourceLimits, SourceSpec, detect_source, iter_source
from modalign.ingest.sources.paths import resolve_under


def _image(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), (1, 2, 3)).save(path)
    return path


def _read(path: Path, image_root: Path | None = None) -> dict[str, object]:
    spec = SourceSpec(path=path, kind=detect_source(path), image_root=image_root)
    return {item.key: item for item in iter_source(spec, SourceLimits(max_caption_chars=50))}


def test_folder_walks_recursively_with_sidecars(tmp_path: Path) -> None:
    _image(tmp_path / "b/cat.jpg")
    (tmp_path / "b/cat.txt").write_bytes(b"a cat\n\nsitting \xff\n")
    _image(tmp_path / "a/dog.png")
    (tmp_path / "a/dog.json").write_text(json.dumps({"captions": ["a dog"], "tags": ["pet"]}))
    _image(tmp_path / "a/plain.gif")
    (tmp_path / "README.md").write_text("not an image")
    _image(tmp_path / ".hidden/x.png")
    items = list(iter_source(SourceSpec(tmp_path, "folder"), SourceLimits(max_caption_chars=50)))
    assert [i.key for i in items] == ["a/dog.png", "a/plain.gif", "b/cat.jpg"]
    by_key = {i.key: i for i in items}
    assert by_key["b/cat.jpg"].captions == ("a cat", "sitting \ufffd")
    assert by_key["a/dog.png"].captions == ("a dog",) and by_key["a/dog.png"].tags == ("pet",)
    assert by_key["a/plain.gif"].captions == () and all(i.ok for i in items)


def test_folder_refuses_symlinks_out_and_bad_sidecars(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", _image(tmp_path / "outside.png")
    _image(root / "ok.png")
    (root / "out.png").symlink_to(outside)
    (root / "dead.png").symlink_to(root / "nothing.png")
    _image(root / "bad.png")
    (root / "bad.json").write_text("{oops")
    items = _read(root)
    assert items["ok.png"].ok  # type: ignore[attr-defined]
    assert "outside the source root" in items["out.png"].error  # type: ignore[attr-defined]
    assert items["dead.png"].error == "broken symlink"  # type: ignore[attr-defined]
    assert "bad JSON sidecar" in items["bad.png"].error  # type: ignore[attr-defined]


def test_manifest_keeps_metadata_and_survives_bad_lines(tmp_path: Path) -> None:
    _image(tmp_path / "img/a.png")
    entry = {
        "path": "img/a.png",
        "captions": ["one", "two"],
        "tags": ["t"],
        "split": "test",
        "license": "CC0",
        "sha256": "x",
        "width": 16,
        "height": 16,
        "source": "demo",
    }
    (tmp_path / "m.jsonl").write_text(json.dumps(entry) + "\n\n{bad\n")
    items = _read(tmp_path / "m.jsonl")
    good = items["img/a.png"]
    assert good.captions == ("one", "two") and good.tags == ("t",)  # type: ignore[attr-defined]
    assert good.meta["split"] == "test" and good.meta["width"] == 16  # type: ignore[attr-defined]
    assert "malformed JSON" in items["line 3"].error  # type: ignore[attr-defined]


def test_coco_captions_group_by_image_and_find_the_split_folder(tmp_path: Path) -> None:
    _image(tmp_path / "val2014/COCO_1.jpg")
    _image(tmp_path / "val2014/COCO_2.jpg")
    doc = {
        "images": [
            {"id": 1, "file_name": "COCO_1.jpg", "width": 16, "height": 16},
            {"id": 2, "file_name": "COCO_2.jpg"},
            {"id": 3},
        ],
        "annotations": [
            {"image_id": 1, "caption": "first"},
            {"image_id": 2, "caption": "x"},
            {"image_id": 1, "caption": "second"},
            {"image_id": 2},
        ],
    }
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations/captions_val2014.json").write_text(json.dumps(doc))
    items = _read(tmp_path / "annotations/captions_val2014.json")
    assert items["COCO_1.jpg"].captions == ("first", "second")  # type: ignore[attr-defined]
    assert items["COCO_1.jpg"].meta["id"] == 1  # type: ignore[attr-defined]
    assert items["COCO_2.jpg"].captions == ("x",)  # type: ignore[attr-defined]
    assert "file_name" in items["images[2]"].error  # type: ignore[attr-defined]


def test_coco_that_is_not_coco_is_refused_as_a_whole(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"foo": 1}')
    with pytest.raises(InvalidInputError, match="not COCO"):
        _read(tmp_path / "x.json")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "results_20130124.token",
            "1.jpg#0\tA dog runs .\n1.jpg#1\tA brown dog .\n2.jpg#0\tA cat\n",
        ),
        (
            "results.csv",
            "image_name| comment_number| comment\n1.jpg| 0| A dog runs .\n"
            "1.jpg| 1| A brown dog .\n2.jpg| 0| A cat\n",
        ),
        ("captions.txt", 'image,caption\n1.jpg,A dog runs .\n1.jpg,"A brown dog ."\n2.jpg,A cat\n'),
    ],
)
def test_flickr_formats(tmp_path: Path, name: str, text: str) -> None:
    _image(tmp_path / "flickr30k-images/1.jpg")
    _image(tmp_path / "flickr30k-images/2.jpg")
    (tmp_path / name).write_text(text)
    assert detect_source(tmp_path / name) == "flickr"
    items = _read(tmp_path / name)
    assert list(items) == ["1.jpg", "2.jpg"]
    assert items["1.jpg"].captions == ("A dog runs .", "A brown dog .")  # type: ignore[attr-defined]
    assert items["2.jpg"].path == (tmp_path / "flickr30k-images/2.jpg").resolve()  # type: ignore[attr-defined]


def test_detect_source(tmp_path: Path) -> None:
    (tmp_path / "m.jsonl").write_text("")
    (tmp_path / "c.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("hello\n")
    assert detect_source(tmp_path) == "folder"
    assert detect_source(tmp_path / "m.jsonl") == "manifest"
    assert detect_source(tmp_path / "c.json") == "coco"
    with pytest.raises(InvalidInputError, match="cannot tell"):
        detect_source(tmp_path / "notes.txt")
    with pytest.raises(InvalidInputError, match="not found"):
        detect_source(tmp_path / "nope")


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("../x.png", "leaves the source root"),
        ("a/../../x.png", "leaves the source root"),
        ("/etc/passwd", "absolute path"),
        ("C:\\x.png", "absolute path"),
        ("", "empty"),
        ("missing.png", "not found"),
    ],
)
def test_resolve_under_refuses_escapes(tmp_path: Path, relative: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        resolve_under(tmp_path.resolve(), relative)


def test_resolve_under_follows_symlinks_that_stay_inside(tmp_path: Path) -> None:
    target = _image(tmp_path / "real/a.png")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    assert resolve_under(tmp_path.resolve(), "alias/a.png") == target.resolve()
