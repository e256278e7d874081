"""`export_manifest` / `modalign data manifest`: any source becomes a training manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from modalign.cli import app
from modalign.datasets.manifest import read_manifest
from modalign.datasets.splits import SplitRatios
from modalign.errors import InvalidInputError
from modalign.ingest.export import export_manifest
from modalign.ingest.sources import SourceLimits, SourceSpec


def _image(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 12), colour).save(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "photos"
    for n in range(12):
        _image(root / "sub" / f"p{n}.png", (20 * n, 0, 255 - 20 * n))
        (root / "sub" / f"p{n}.txt").write_text(f"picture {n}\nthe {n}th colour\n", "utf-8")
    shutil.copy(root / "sub" / "p0.png", root / "copy-of-p0.png")
    (root / "copy-of-p0.txt").write_text("the same picture again\n", "utf-8")
    _image(root / "nocaption.png", (1, 2, 3))
    (tmp_path / "secret.png").write_bytes((root / "sub" / "p1.png").read_bytes())
    (root / "escape.png").symlink_to(tmp_path / "secret.png")
    return root


def test_a_folder_becomes_a_manifest_with_splits_by_content(folder: Path) -> None:
    out = folder / "manifest.jsonl"
    spec = SourceSpec(folder, "folder")
    report = export_manifest(spec, out, limits=SourceLimits(), ratios=SplitRatios(0.3, 0.3))
    items = {item.path: item for item in read_manifest(out)}
    assert report.written == len(items) == 13
    assert report.uncaptioned == 1 and [key for key, _ in report.failed] == ["escape.png"]
    assert items["sub/p3.png"].captions == ["picture 3", "the 3th colour"]
    assert items["sub/p3.png"].source == "folder"
    assert all((folder / path).is_file() for path in items)
    copy, original = items["copy-of-p0.png"], items["sub/p0.png"]
    assert copy.sha256 == original.sha256 and copy.split == original.split
    assert sum(report.splits.values()) == 13 and len({i.split for i in items.values()}) > 1


def test_coco_captions_become_a_manifest(tmp_path: Path) -> None:
    images = tmp_path / "val2017"
    _image(images / "000001.jpg", (200, 10, 10))
    _image(images / "000002.jpg", (10, 200, 10))
    coco = {
        "images": [{"id": 1, "file_name": "000001.jpg"}, {"id": 2, "file_name": "000002.jpg"}],
        "annotations": [
            {"id": 10, "image_id": 1, "caption": "a red square"},
            {"id": 11, "image_id": 1, "caption": "red"},
            {"id": 12, "image_id": 2, "caption": "a green square"},
        ],
    }
    captions = tmp_path / "captions_val2017.json"
    captions.write_text(json.dumps(coco), "utf-8")
    spec = SourceSpec(captions, "coco", images)
    with pytest.raises(InvalidInputError, match="image folder"):  # paths could not be relative
        export_manifest(spec, tmp_path / "elsewhere" / "m.jsonl", limits=SourceLimits(),
                        ratios=SplitRatios())
    out = tmp_path / "m.jsonl"
    report = export_manifest(spec, out, limits=SourceLimits(), ratios=SplitRatios())
    items = {item.path: item for item in read_manifest(out)}
    assert report.written == 2
    assert items["val2017/000001.jpg"].captions == ["a red square", "red"]


def test_the_command_writes_beside_the_images_and_refuses_to_overwrite_a_source(
    folder: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    args = ["--data-dir", str(tmp_path / "d"), "data", "manifest", str(folder)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "13 images" in result.stdout and "1 without captions" in result.stdout
    written = folder / "manifest.jsonl"
    assert len(list(read_manifest(written))) == 13
    again = runner.invoke(app, ["data", "manifest", str(written), "--out", str(written)])
    assert again.exit_code != 0 and "overwrite" in again.output
