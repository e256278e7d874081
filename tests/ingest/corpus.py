"""A generated corpus of good and bad inputs for ingestion, >= 20 kinds.

``build_corpus(base)`` writes ``base/root`` (images, sidecars, ``manifest.jsonl``) and
``base/outside`` (a file that symlinks and ``..`` try to reach) and returns the cases: each
manifest key with the outcome expected — ``None`` when the item must be ingested, else a
substring of the reason it must be refused with.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from modalign.catalog.models import ItemStatus, JobItem

LONG_CAPTION = "a very long caption " * 5000  # 100 kB
RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


@dataclass(frozen=True)
class Case:
    """One corpus entry: its manifest key, the expected reason (None = ingested), captions."""

    key: str
    reason: str | None
    captions: tuple[object, ...] = ("a picture",)
    extra: dict[str, object] = field(default_factory=dict)


def _png(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def _jpeg(im: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=90, **kw)
    return buf.getvalue()


def _noise(size: tuple[int, int], seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _damaged_png() -> bytes:
    """A PNG whose compressed pixel data is overwritten in the middle (its header is intact:
    the damage shows only when the pixels are decoded)."""
    data = bytearray(_png(_noise((64, 64), 8)))
    middle = len(data) // 3
    data[middle : middle + 200] = bytes(200)
    return bytes(data)


def _palette_with_transparency() -> bytes:
    im = Image.new("P", (16, 16), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * (254 * 3))
    im.paste(1, (8, 0, 16, 16))
    return _png(im, transparency=0)


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (16, 16), c) for c in (RED, GREEN, BLUE)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return buf.getvalue()


def _exif_rotated() -> bytes:
    im = Image.new("RGB", (40, 20), RED)
    im.paste(BLUE, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    return _jpeg(im, exif=exif)


def _tiff(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "TIFF")
    return buf.getvalue()


def _sixteen_bit() -> bytes:
    return _png(Image.fromarray(np.full((16, 16), 32768, dtype=np.uint16)))


def _rgba_half_transparent() -> bytes:
    im = Image.new("RGBA", (16, 16), (255, 0, 0, 255))
    im.paste((0, 0, 255, 0), (8, 0, 16, 16))
    return _png(im)


GOOD = _noise((64, 48), 1)
FILES: dict[str, Callable[[], bytes]] = {
    "good/photo.jpg": lambda: _jpeg(GOOD),
    "good/photo.png": lambda: _png(GOOD),
    "good/dup_a.png": lambda: _png(_noise((32, 32), 7)),
    "good/dup_b.png": lambda: _png(_noise((32, 32), 7)),
    "good/cmyk.jpg": lambda: _jpeg(Image.new("CMYK", (32, 32), (0, 255, 255, 0))),
    "good/deep16.png": _sixteen_bit,
    "good/palette_alpha.png": _palette_with_transparency,
    "good/animated.gif": _animated_gif,
    "good/exif_rotated.jpg": _exif_rotated,
    "good/rgba.png": _rgba_half_transparent,
    "good/la.png": lambda: _png(Image.new("LA", (16, 16), (0, 0))),
    "good/bilevel.png": lambda: _png(Image.new("1", (16, 16), 1)),
    "good/grey.webp": lambda: _webp(Image.new("L", (16, 16), 100)),
    "good/float.tif": lambda: _tiff(Image.new("F", (16, 16), 0.5)),
    "good/int32.tif": lambda: _tiff(Image.new("I", (16, 16), 1000)),
    "good/captions_empty.png": lambda: _png(_noise((16, 16), 2)),
    "good/caption_long.png": lambda: _png(_noise((16, 16), 3)),
    "good/caption_badutf8.png": lambda: _png(_noise((16, 16), 4)),
    "bad/truncated.png": lambda: _png(_noise((64, 64), 5))[:1500],
    "bad/truncated.jpg": lambda: _jpeg(_noise((64, 64), 6))[:1200],
    "bad/damaged.png": _damaged_png,
    "bad/zero.jpg": lambda: b"",
    "bad/text.jpg": lambda: b"this is a text file, not a picture\n",
    "bad/page.png": lambda: b"<!DOCTYPE html><html><body>404 not found</body></html>",
    "bad/bomb.png": lambda: _png_header_only(30000, 30000),
    "bad/big.png": lambda: _png_header_only(8000, 8000),
    "bad/one_pixel.png": lambda: _png(Image.new("RGB", (1, 1), RED)),
    "bad/strip.png": lambda: _png(Image.new("L", (20000, 20), 0)),
    "bad/document.pdf": lambda: _png(GOOD),
}


def _webp(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "WEBP")
    return buf.getvalue()


EXPECTED_REASON: dict[str, str | None] = {
    "bad/truncated.png": "truncated",
    "bad/truncated.jpg": "truncated",
    "bad/damaged.png": "corrupt image data",
    "bad/zero.jpg": "empty file",
    "bad/text.jpg": "content is text",
    "bad/page.png": "content is HTML",
    "bad/bomb.png": "decompression bomb",
    "bad/big.png": "decompression bomb",
    "bad/one_pixel.png": "below the minimum",
    "bad/strip.png": "aspect ratio",
    "bad/document.pdf": "unsupported file extension .pdf",
    "bad/folder.jpg": "not a regular file",
    "bad/fifo.jpg": "not a regular file",
    "bad/broken_link.jpg": "broken symlink",
    "bad/escape.jpg": "outside the source root",
    "../outside/secret.jpg": "leaves the source root",
    "/etc/hostname": "absolute path",
    "missing.jpg": "file not found",
}


def _special_files(root: Path, outside: Path) -> None:
    (root / "bad/folder.jpg").mkdir()
    os.mkfifo(root / "bad/fifo.jpg")
    (root / "bad/broken_link.jpg").symlink_to(root / "bad/nowhere.jpg")
    (root / "bad/escape.jpg").symlink_to(outside / "secret.jpg")
    (root / "good/inner_link.jpg").symlink_to(root / "good/photo.jpg")


def _captions_for(key: str) -> list[object]:
    if key == "good/captions_empty.png":
        return ["", "   \t "]
    if key == "good/caption_long.png":
        return [LONG_CAPTION]
    return [f"a picture named {Path(key).stem}"]


def _manifest_lines(keys: list[str]) -> list[bytes]:
    lines = [
        json.dumps({"path": k, "captions": _captions_for(k), "tags": ["corpus"]}) for k in keys
    ]
    encoded = [line.encode() for line in lines]
    bad_utf8 = b'{"path": "good/caption_badutf8.png", "captions": ["caf\xe9 au lait \xff"]}'
    return [*encoded, bad_utf8, b"{not json at all", b'["a list"]', b'{"captions": ["no path"]}']


def build_corpus(base: Path) -> dict[str, str | None]:
    """Write the corpus under ``base``; return manifest key -> expected reason (None = ok)."""
    root, outside = base / "root", base / "outside"
    for directory in (root / "good", root / "bad", outside):
        directory.mkdir(parents=True, exist_ok=True)
    (outside / "secret.jpg").write_bytes(_jpeg(GOOD))
    for key, make in FILES.items():
        (root / key).write_bytes(make())
    _special_files(root, outside)
    keys = [k for k in FILES if k != "good/caption_badutf8.png"]
    keys += [k for k in EXPECTED_REASON if k not in FILES] + ["good/inner_link.jpg"]
    (root / "manifest.jsonl").write_bytes(b"\n".join(_manifest_lines(keys)) + b"\n")
    expected = {k: EXPECTED_REASON.get(k) for k in [*keys, "good/caption_badutf8.png"]}
    first_bad_line = len(keys) + 2  # after the good lines and the invalid UTF-8 one
    for offset, reason in enumerate(("malformed JSON", "not a JSON object", "no 'path'")):
        expected[f"line {first_bad_line + offset}"] = reason
    return expected


def assert_items_as_expected(items: Mapping[str, JobItem], expected: dict[str, str | None]) -> None:
    """Every corpus item is in ``items``: good ones done (or skipped as duplicates) with an asset,
    bad ones failed with their reason in the error."""
    assert set(items) == set(expected)
    for key, reason in expected.items():
        item = items[key]
        if reason is None:
            assert item.status in (ItemStatus.DONE.value, ItemStatus.SKIPPED.value), (
                key, item.error,
            )
            assert item.asset_id is not None, key
        else:
            assert item.status == ItemStatus.FAILED.value and reason in (item.error or ""), (
                key, item.error,
            )
