"""Emoji: CLDR names and keywords, rendering real glyphs, rejecting what does not render."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from modalign.datasets.build import DemoSources
from modalign.datasets.emoji import (
    EmojiEntry,
    GlyphStyle,
    has_raqm,
    load_annotations,
    render_glyph,
)
from modalign.errors import InvalidInputError

SOURCES = DemoSources()


@pytest.fixture(scope="module")
def style() -> GlyphStyle:
    if not SOURCES.emoji_font.exists():
        pytest.skip("fonts-noto-color-emoji is not installed")
    return GlyphStyle(SOURCES.emoji_font)


@pytest.fixture(scope="module")
def entries() -> dict[str, EmojiEntry]:
    if not all(path.exists() for path in SOURCES.cldr_annotations):
        pytest.skip("unicode-cldr-core is not installed")
    return {entry.sequence: entry for entry in load_annotations(SOURCES.cldr_annotations)}


def test_cldr_names_and_keywords(entries: dict[str, EmojiEntry]) -> None:
    grinning = entries["😀"]
    assert grinning.name == "grinning face"
    assert grinning.captions() == ["grinning face", "grinning face, grin"]
    assert entries["👍🏽"].name == "thumbs up: medium skin tone"  # from annotationsDerived
    assert len(entries) > 3000


def test_skin_tone_variants_share_their_base_group(entries: dict[str, EmojiEntry]) -> None:
    base, variant = entries["👍"], entries["👍🏽"]
    assert not base.is_skin_tone_variant and variant.is_skin_tone_variant
    assert variant.base == "👍" and variant.group == base.group == "emoji:1f44d"
    assert variant.codepoints == "1f44d-1f3fd"


def test_later_files_do_not_override_earlier_names(tmp_path: Path) -> None:
    first, second = tmp_path / "a.xml", tmp_path / "b.xml"
    first.write_text(
        '<ldml><annotations><annotation cp="😀" type="tts">grin</annotation></annotations></ldml>',
        encoding="utf-8",
    )
    second.write_text(
        '<ldml><annotations><annotation cp="😀" type="tts">other</annotation>'
        '<annotation cp="😀">a | b</annotation></annotations></ldml>',
        encoding="utf-8",
    )
    assert load_annotations([first, second]) == [EmojiEntry("😀", "grin", ("a", "b"))]


def _is_mostly_white(image: Image.Image) -> bool:
    colours = image.getcolors(maxcolors=1 << 16) or []
    return max(count for count, _ in colours) > 0.97 * image.width * image.height


@pytest.mark.parametrize("sequence", ["😀", "🐶", "🇯🇵", "🏳\ufe0f\u200d🌈", "👍🏽"])
def test_real_glyphs_render_in_colour(style: GlyphStyle, sequence: str) -> None:
    if len(sequence) > 1 and not has_raqm():
        pytest.skip("sequences need raqm")
    image = render_glyph(sequence, style)
    assert image.size == (160, 160) and image.mode == "RGB"
    assert image.getpixel((0, 0)) == (255, 255, 255)
    assert not _is_mostly_white(image)
    mean = image.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert isinstance(mean, tuple) and len(set(mean)) > 1  # colour, not grey


def test_zwj_sequence_is_one_glyph(style: GlyphStyle) -> None:
    if not has_raqm():
        pytest.skip("sequences need raqm")
    family = render_glyph("👨\u200d👩\u200d👧", style)  # grey silhouettes in Noto
    assert not _is_mostly_white(family)


@pytest.mark.parametrize(
    ("sequence", "reason"),
    [("{", "blank glyph"), ("A", "blank glyph"), ("🐶\u200d🍕", "not a single glyph")],
)
def test_unrenderable_sequences_are_rejected(style: GlyphStyle, sequence: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        render_glyph(sequence, style)
