"""Fixtures: a handful of real glyphs and clips from the installed Debian packages."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from modalign.datasets.build import BuildOptions, BuildSummary, DemoSources, build_demo
from modalign.datasets.emoji import EmojiEntry, load_annotations
from modalign.datasets.splits import split_for

REAL = DemoSources()
CLIPS = (
    "animals/bat_orlando_karam_",  # plain descriptive title
    "recreation/holiday/gift03",  # shared author-credit title, repaired from the file name
    "signs_and_symbols/map_symbols/aiga_taxi1",  # collection title "AIGA_Symbol_Signs"
    "recreation/games/cards/ornamental/ornamental_s_5",  # titled just "card"
    "signs_and_symbols/flags/asia/japan",  # a flag titled with its country
    "office/telephone/mobile_phone_01",  # large PNG, shrunk
    "computer/icons/lemon-theme/devices/scanner",  # icon theme: skipped
    "shapes/stars/star_40pt09step",  # star shapes: skipped
)
BROKEN_SVG_CLIP = "animals/broken_svg_clip"
NO_SVG_CLIP = "animals/no_svg_clip"


def _require(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is not installed (Debian demo packages)")


def _pick_emoji() -> list[EmojiEntry]:
    """A few real emoji: two with skin-tone variants (one whose group is held out), a ZWJ
    sequence, a flag and plain ones."""
    entries = load_annotations(REAL.cldr_annotations)
    by_seq = {entry.sequence.replace("\ufe0f", ""): entry for entry in entries}
    with_variants = [
        e for e in entries if not e.is_skin_tone_variant and f"{e.sequence}\U0001f3fd" in by_seq
    ]
    held_out = next(e for e in with_variants if split_for(e.group) != "train")
    trained = next(e for e in with_variants if split_for(e.group) == "train")
    chosen = [held_out, trained]
    chosen += [
        e for e in entries if e.group in {held_out.group, trained.group} and e.is_skin_tone_variant
    ]
    chosen += [by_seq[s] for s in ("😀", "🐶", "🍕", "👨\u200d👩\u200d👧", "🇯🇵", "🏳\u200d🌈", "{")]
    return chosen


def _write_annotations(path: Path, entries: list[EmojiEntry]) -> None:
    root = ET.Element("ldml")
    annotations = ET.SubElement(root, "annotations")
    for entry in entries:
        ET.SubElement(annotations, "annotation", cp=entry.sequence).text = " | ".join(
            entry.keywords
        )
        ET.SubElement(annotations, "annotation", cp=entry.sequence, type="tts").text = entry.name
    # A sequence the font cannot draw as one glyph.
    ET.SubElement(annotations, "annotation", cp="🐶\u200d🍕", type="tts").text = "dog pizza"
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def _copy_clip(rel: str, png_root: Path, svg_root: Path) -> None:
    for root, ext, target in (
        (REAL.openclipart_png, ".png", png_root),
        (REAL.openclipart_svg, ".svg", svg_root),
    ):
        destination = target / f"{rel}{ext}"
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / f"{rel}{ext}", destination)


def _make_sources(base: Path) -> DemoSources:
    for path in (
        REAL.emoji_font,
        *REAL.cldr_annotations,
        REAL.openclipart_png,
        REAL.openclipart_svg,
    ):
        _require(path)
    png_root, svg_root = base / "png", base / "svg"
    for rel in CLIPS:
        _copy_clip(rel, png_root, svg_root)
    real_png = REAL.openclipart_png / f"{CLIPS[0]}.png"
    shutil.copyfile(real_png, png_root / f"{BROKEN_SVG_CLIP}.png")
    (svg_root / f"{BROKEN_SVG_CLIP}.svg").write_text(
        "<svg><metadata><rdf:RDF>oops", encoding="utf-8"
    )
    shutil.copyfile(REAL.openclipart_png / f"{CLIPS[1]}.png", png_root / f"{NO_SVG_CLIP}.png")
    annotations = base / "annotations.xml"
    _write_annotations(annotations, _pick_emoji())
    return DemoSources(REAL.emoji_font, (annotations,), png_root, svg_root)


@pytest.fixture(scope="session")
def demo_sources(tmp_path_factory: pytest.TempPathFactory) -> DemoSources:
    return _make_sources(tmp_path_factory.mktemp("demo-sources"))


@pytest.fixture(scope="session")
def built_demo(
    demo_sources: DemoSources, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, BuildSummary]:
    out_dir = tmp_path_factory.mktemp("demo-build") / "demo"
    return out_dir, build_demo(out_dir, demo_sources, BuildOptions(workers=1))
