"""The demo builder end to end, on a handful of real glyphs and clips (see conftest)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from modalign.datasets.build import BuildOptions, BuildSummary, DemoSources, build_demo
from modalign.datasets.emoji import GlyphStyle
from modalign.datasets.manifest import ManifestItem, read_manifest
from modalign.datasets.render import EmojiJob, Task, run_task, run_tasks

from .conftest import BROKEN_SVG_CLIP


def _items(out_dir: Path) -> list[ManifestItem]:
    return list(read_manifest(out_dir / "manifest.jsonl"))


def test_manifest_lists_rendered_images_with_their_facts(
    built_demo: tuple[Path, BuildSummary],
) -> None:
    out_dir, summary = built_demo
    items = _items(out_dir)
    assert len(items) == summary.total > 10
    for item in items:
        path = item.resolve(out_dir)
        with Image.open(path) as image:
            assert image.size == (item.width, item.height)
            assert min(image.size) >= 16 and max(image.size) <= 288
        assert item.sha256 is not None and len(item.sha256) == 64
        assert item.captions and all(item.captions)
    emoji = [item for item in items if item.source == "emoji"]
    assert all(item.width == item.height == 160 for item in emoji)
    assert {item.path.split("/")[0] for item in items} == {"emoji", "openclipart"}


def test_captions_name_their_pictures(built_demo: tuple[Path, BuildSummary]) -> None:
    names = {item.path: item.captions for item in _items(built_demo[0])}
    assert names["emoji/1f600.png"] == ["grinning face", "grinning face, grin"]
    assert names["openclipart/animals/bat_orlando_karam_.png"][0] == "bat"
    assert names["openclipart/signs_and_symbols/map_symbols/aiga_taxi1.png"][0] == "taxi sign"
    card = names["openclipart/recreation/games/cards/ornamental/ornamental_s_5.png"]
    assert card[0] == "five of spades, ornamental playing card"


def test_skips_are_counted_by_reason(built_demo: tuple[Path, BuildSummary]) -> None:
    out_dir, summary = built_demo
    clips, emoji = summary.sources["openclipart"].skipped, summary.sources["emoji"].skipped
    assert clips["broken SVG"] == 1
    assert clips["missing or unreadable SVG"] == 1
    assert clips["icon theme"] == 1 and clips["excluded folder (stars, gradients)"] == 1
    assert emoji["blank glyph"] == 1 and emoji["not a single glyph"] == 1
    assert emoji["skin-tone variant of a val/test emoji"] == 5
    paths = {item.path for item in _items(out_dir)}
    assert f"openclipart/{BROKEN_SVG_CLIP}.png" not in paths
    assert (
        json.loads((out_dir / "summary.json").read_text())["sources"]["emoji"]["skipped"] == emoji
    )


def test_skin_tone_variants_stay_in_train_with_their_group(
    built_demo: tuple[Path, BuildSummary],
) -> None:
    out_dir, summary = built_demo
    items = _items(out_dir)
    variants = [
        item
        for item in items
        if any(tone in item.path for tone in ("1f3fb", "1f3fc", "1f3fd", "1f3fe", "1f3ff"))
    ]
    assert len(variants) == 5 and summary.sources["emoji"].variants == 5
    assert all(item.split == "train" for item in variants)
    groups = {item.group for item in variants}
    assert len(groups) == 1
    base = [item for item in items if item.group in groups and item not in variants]
    assert len(base) == 1


def test_large_clip_is_shrunk(built_demo: tuple[Path, BuildSummary]) -> None:
    phone = next(i for i in _items(built_demo[0]) if "mobile_phone" in i.path)
    assert max(phone.width or 0, phone.height or 0) == 288


def test_second_run_reuses_everything_and_changes_nothing(
    built_demo: tuple[Path, BuildSummary], demo_sources: DemoSources
) -> None:
    out_dir, first = built_demo
    before = {p: p.stat().st_mtime_ns for p in out_dir.rglob("*.png")}
    manifest = (out_dir / "manifest.jsonl").read_bytes()
    again = build_demo(out_dir, demo_sources, BuildOptions(workers=1))
    assert again.rendered == 0 and again.reused == first.rendered + first.reused
    assert {p: p.stat().st_mtime_ns for p in out_dir.rglob("*.png")} == before
    assert (out_dir / "manifest.jsonl").read_bytes() == manifest
    assert again.sources == first.sources


def test_splits_identical_across_independent_builds(
    built_demo: tuple[Path, BuildSummary], demo_sources: DemoSources, tmp_path: Path
) -> None:
    out_dir, _ = built_demo
    build_demo(tmp_path / "demo", demo_sources, BuildOptions(workers=1))
    first = (out_dir / "manifest.jsonl").read_bytes()
    assert (tmp_path / "demo" / "manifest.jsonl").read_bytes() == first


def test_damaged_output_is_rendered_again(demo_sources: DemoSources, tmp_path: Path) -> None:
    out_dir = tmp_path / "demo"
    build_demo(out_dir, demo_sources, BuildOptions(workers=1))
    damaged = out_dir / "emoji" / "1f600.png"
    good = damaged.read_bytes()
    damaged.write_bytes(b"not a png")
    (out_dir / "emoji" / "stale.png").write_bytes(good)
    again = build_demo(out_dir, demo_sources, BuildOptions(workers=1))
    assert again.rendered == 1
    assert damaged.read_bytes() == good
    assert not (out_dir / "emoji" / "stale.png").exists()


def test_render_pool_matches_inline(demo_sources: DemoSources, tmp_path: Path) -> None:
    style = GlyphStyle(demo_sources.emoji_font)
    sequences = [chr(code) for code in range(0x1F600, 0x1F600 + 70)]
    tasks = [Task(EmojiJob(s, style), tmp_path / f"{ord(s):x}.png", s) for s in sequences]
    pooled = run_tasks(tasks, workers=2)
    inline = [run_task(task) for task in tasks]
    assert pooled == inline and all(outcome.sha256 for outcome in pooled)
