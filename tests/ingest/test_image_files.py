"""Image decoding: every corpus file is decoded correctly or refused with its reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PIL import Image

from modalign.config import IngestSettings
from modalign.errors import InvalidInputError
from modalign.images import DecodedImage, decode_bytes, to_rgb
from modalign.ingest.sources import SourceLimits
from modalign.ingest.sources.manifest import read_jsonl_manifest
from modalign.ingest.validate import read_image_file

LIMITS = IngestSettings()
Corpus = tuple[Path, dict[str, str | None]]


def decode_image(
    path: Path, limits: IngestSettings = LIMITS, draft_side: int | None = None
) -> DecodedImage:
    """A file read and decoded as a batch does (confined to its folder)."""
    data = read_image_file(path, limits, path.parent.resolve())
    return decode_bytes(data, limits, draft_side=draft_side)


def _decode(root: Path, key: str) -> DecodedImage:
    return decode_image(root / key)


def _pixel(decoded: DecodedImage, xy: tuple[int, int]) -> tuple[int, int, int]:
    value = decoded.image.getpixel(xy)
    assert isinstance(value, tuple)
    return (int(value[0]), int(value[1]), int(value[2]))


def _close(actual: tuple[int, int, int], expected: tuple[int, int, int], tol: int = 40) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=True))


def test_every_manifest_entry_is_ingested_or_refused_with_its_reason(corpus: Corpus) -> None:
    root, expected = corpus
    outcomes: dict[str, str | None] = {}
    manifest = root / "manifest.jsonl"
    for item in read_jsonl_manifest(manifest, root=root.resolve(), limits=SourceLimits()):
        if item.error is not None:
            outcomes[item.key] = item.error
            continue
        assert item.path is not None
        try:
            decode_bytes(read_image_file(item.path, LIMITS, root.resolve()), LIMITS)
            outcomes[item.key] = None
        except InvalidInputError as exc:
            outcomes[item.key] = str(exc)
    assert set(outcomes) == set(expected)
    assert len(expected) >= 30
    for key, reason in expected.items():
        if reason is None:
            assert outcomes[key] is None, f"{key}: {outcomes[key]}"
        else:
            assert outcomes[key] is not None and reason in outcomes[key], (key, outcomes[key])


@pytest.mark.parametrize(
    "key",
    [
        "good/cmyk.jpg",
        "good/deep16.png",
        "good/float.tif",
        "good/int32.tif",
        "good/la.png",
        "good/bilevel.png",
        "good/animated.gif",
        "good/grey.webp",
        "good/palette_alpha.png",
    ],
)
def test_every_mode_becomes_rgb(corpus: Corpus, key: str) -> None:
    decoded = _decode(corpus[0], key)
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (decoded.width, decoded.height)


def test_colours_survive_conversion(corpus: Corpus) -> None:
    root = corpus[0]
    assert _close(_pixel(_decode(root, "good/cmyk.jpg"), (5, 5)), (255, 0, 0))
    assert _close(_pixel(_decode(root, "good/deep16.png"), (5, 5)), (128, 128, 128), tol=1)
    assert _close(_pixel(_decode(root, "good/float.tif"), (5, 5)), (128, 128, 128), tol=1)
    assert _close(_pixel(_decode(root, "good/bilevel.png"), (5, 5)), (255, 255, 255), tol=0)
    assert _close(_pixel(_decode(root, "good/la.png"), (5, 5)), (255, 255, 255), tol=0)


def test_transparency_is_composited_over_white(corpus: Corpus) -> None:
    palette = _decode(corpus[0], "good/palette_alpha.png")
    assert _pixel(palette, (2, 2)) == (255, 255, 255)
    assert _pixel(palette, (12, 2)) == (255, 0, 0)
    rgba = _decode(corpus[0], "good/rgba.png")
    assert _pixel(rgba, (2, 2)) == (255, 0, 0)
    assert _pixel(rgba, (12, 2)) == (255, 255, 255)


def test_animation_is_reduced_to_its_first_frame(corpus: Corpus) -> None:
    decoded = _decode(corpus[0], "good/animated.gif")
    assert _close(_pixel(decoded, (8, 8)), (255, 0, 0), tol=10)


def test_exif_orientation_is_applied(corpus: Corpus) -> None:
    decoded = _decode(corpus[0], "good/exif_rotated.jpg")
    assert (decoded.width, decoded.height) == (20, 40)
    assert decoded.image.size == (20, 40)
    assert _close(_pixel(decoded, (10, 5)), (255, 0, 0))  # red half now on top
    assert _close(_pixel(decoded, (10, 35)), (0, 0, 255))


def test_hash_is_over_the_file_bytes_and_duplicates_share_it(corpus: Corpus) -> None:
    root = corpus[0]
    a, b = _decode(root, "good/dup_a.png"), _decode(root, "good/dup_b.png")
    assert (
        a.sha256 == b.sha256 == hashlib.sha256((root / "good/dup_a.png").read_bytes()).hexdigest()
    )
    assert a.mime == "image/png" and a.size_bytes == (root / "good/dup_a.png").stat().st_size


def test_max_bytes_is_checked_before_reading(corpus: Corpus) -> None:
    small = IngestSettings(max_image_bytes=100)
    with pytest.raises(InvalidInputError, match="above the limit of 100"):
        decode_image(corpus[0] / "good/photo.jpg", small)


def test_pixel_limit_comes_from_settings(corpus: Corpus) -> None:
    data = (corpus[0] / "good/photo.jpg").read_bytes()
    with pytest.raises(InvalidInputError, match="decompression bomb"):
        decode_bytes(data, IngestSettings(max_image_pixels=64 * 48 - 1))
    assert decode_bytes(data, IngestSettings(max_image_pixels=64 * 48)).width == 64


def test_jpeg_draft_decodes_smaller_but_reports_the_original_size(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (1024, 768), (10, 200, 30)).save(path, quality=90)
    decoded = decode_image(path, LIMITS, 256)
    assert (decoded.width, decoded.height) == (1024, 768)
    assert min(decoded.image.size) >= 256 and decoded.image.size[0] < 1024


def test_unreadable_file_when_not_root(tmp_path: Path) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root reads every file; the corpus covers unreadable entries with a FIFO")
    path = tmp_path / "locked.png"
    Image.new("RGB", (16, 16)).save(path)
    path.chmod(0)
    with pytest.raises(InvalidInputError, match="cannot read"):
        decode_image(path)


def test_to_rgb_keeps_rgb_images_as_they_are() -> None:
    im = Image.new("RGB", (4, 4), (1, 2, 3))
    assert to_rgb(im) is im
