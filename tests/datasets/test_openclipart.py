"""Openclipart: SVG metadata, pairing, image preparation and the per-clip captions."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from modalign.datasets import clip_text
from modalign.datasets.build import DemoSources
from modalign.datasets.openclipart import (
    ClipFile,
    ClipMetadata,
    ImageLimits,
    excluded_folder,
    prepare_png,
    read_svg_metadata,
)
from modalign.errors import InvalidInputError

SOURCES = DemoSources()


def _clip(rel: str) -> ClipFile:
    png = SOURCES.openclipart_png / f"{rel}.png"
    if not png.exists():
        pytest.skip("openclipart-png/-svg are not installed")
    return ClipFile(f"{rel}.png", png, SOURCES.openclipart_svg / f"{rel}.svg")


def test_reads_title_keywords_and_creator_from_the_rdf() -> None:
    meta = read_svg_metadata(_clip("animals/bat_orlando_karam_").svg)
    assert meta.title == "bat"
    assert set(meta.subjects) >= {"mammal", "bat", "animal"}
    assert "Orlando Karam" in meta.creators


def test_broken_or_missing_svg_is_an_invalid_input(tmp_path: Path) -> None:
    broken = tmp_path / "broken.svg"
    broken.write_text("<svg><metadata><rdf:RDF>", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="broken SVG"):
        read_svg_metadata(broken)
    with pytest.raises(InvalidInputError, match="missing or unreadable SVG"):
        read_svg_metadata(tmp_path / "absent.svg")


def test_svg_without_rdf_has_empty_metadata(tmp_path: Path) -> None:
    plain = tmp_path / "plain.svg"
    plain.write_text('<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', encoding="utf-8")
    assert read_svg_metadata(plain) == ClipMetadata()


def test_excluded_folders() -> None:
    def clip(rel: str) -> ClipFile:
        return ClipFile(rel, Path(rel), Path(rel))

    assert excluded_folder(clip("shapes/stars/star_40pt09step.png"))
    assert excluded_folder(clip("computer/icons/lemon-theme/devices/scanner.png")) == "icon theme"
    assert excluded_folder(clip("shapes/arrows/arrow01_2.png")) is None


def _png(size: tuple[int, int], mode: str = "RGBA", draw: bool = True) -> bytes:
    image = Image.new(mode, size, (0, 0, 0, 0) if mode == "RGBA" else "white")
    if draw:
        image.paste(
            (200, 30, 30, 255) if mode == "RGBA" else (200, 30, 30),
            (2, 2, size[0] // 2, size[1] // 2),
        )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_small_png_is_kept_byte_for_byte() -> None:
    data = _png((100, 80))
    assert prepare_png(data, ImageLimits()) == (data, 100, 80)


def test_large_real_png_is_shrunk_keeping_aspect_and_alpha() -> None:
    data = _clip("office/telephone/mobile_phone_01").png.read_bytes()
    out, width, height = prepare_png(data, ImageLimits(max_side=256))
    image = Image.open(io.BytesIO(out))
    assert (width, height) == image.size and max(width, height) == 256
    assert abs(width / height - 2480 / 3508) < 0.01
    assert image.mode in ("RGBA", "RGB") and len(out) < len(data)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_png((100, 100), draw=False), "blank image"),
        (_png((100, 100), mode="RGB", draw=False), "blank image"),
        (_png((10, 100)), "image too small"),
        (_png((900, 40)), "extreme aspect ratio"),
        (b"\x89PNG\r\n\x1a\nnot really", "undecodable PNG"),
    ],
)
def test_unusable_images_are_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason):
        prepare_png(data, ImageLimits())


def test_huge_source_is_rejected_before_decoding() -> None:
    with pytest.raises(InvalidInputError, match="too large"):
        prepare_png(_png((2000, 2000)), ImageLimits(max_source_pixels=1_000_000))


@pytest.mark.parametrize(
    ("rel", "shared", "expected"),
    [
        ("animals/bat_orlando_karam_", {}, "bat"),
        ("signs_and_symbols/map_symbols/aiga_taxi1", {}, "taxi sign"),
        (
            "recreation/games/cards/ornamental/ornamental_s_5",
            {},
            "five of spades, ornamental playing card",
        ),
        ("recreation/holiday/gift03", {"baloon": 27}, "gift"),
        ("signs_and_symbols/flags/asia/japan", {}, "japan flag"),
        ("people/smilies/smiley004", {"smiley": 32}, "smiley"),
    ],
)
def test_captions_name_the_picture(rel: str, shared: dict[str, int], expected: str) -> None:
    clip = _clip(rel)
    text = clip_text.describe_clip(clip, read_svg_metadata(clip.svg), shared)
    assert text.captions[0] == expected
    assert all(text.captions) and len(set(text.captions)) == len(text.captions)


def test_keywords_become_a_second_caption_and_tags() -> None:
    clip = _clip("animals/bat_orlando_karam_")
    text = clip_text.describe_clip(clip, read_svg_metadata(clip.svg), {})
    assert text.captions == ("bat", "bat, mammal, animal")
    assert {"mammal", "animal", "animals"} <= set(text.tags)


def test_titles_that_name_nothing_are_skipped() -> None:
    clip = _clip("computer/icons/people_juliane_krug_01a")
    with pytest.raises(InvalidInputError, match="no usable text"):
        clip_text.describe_clip(clip, read_svg_metadata(clip.svg), {"people": 27})
    theme = _clip("computer/icons/70a029")
    with pytest.raises(InvalidInputError, match="icon theme"):
        clip_text.describe_clip(theme, read_svg_metadata(theme.svg), {})
