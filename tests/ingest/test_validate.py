"""Decoding a batch's items: how much of a large image ingestion keeps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from modalign.config import Settings
from modalign.encoders.preprocess import crop_box
from modalign.ingest.spec import ItemSpec
from modalign.ingest.validate import validate_items

SETTINGS = Settings()
SIDE = SETTINGS.encoders.image_size


def textured(size: int, seed: int) -> Image.Image:
    """A square of coarse random colour cells (no white border)."""
    cells = np.random.default_rng(seed).integers(0, 200, (size // 6, size // 6, 3), dtype=np.uint8)
    return Image.fromarray(cells).resize((size, size), Image.Resampling.NEAREST)


def page_with_drawing(page: int, drawing: int) -> Image.Image:
    canvas = Image.new("RGB", (page, page), "white")
    canvas.paste(textured(drawing, 0), ((page - drawing) // 2, (page - drawing) // 2))
    return canvas


def decoded(path: Path) -> Image.Image:
    items = [(1, ItemSpec(path.name, path))]
    valid, failures = validate_items(items, SETTINGS, path.parent.resolve())
    assert not failures
    return valid[0].image.image


def content_span(image: Image.Image) -> int:
    box = crop_box(image)
    assert box is not None
    return max(box[2] - box[0], box[3] - box[1])


def test_a_small_drawing_on_a_big_jpeg_page_is_decoded_large_enough(tmp_path: Path) -> None:
    path = tmp_path / "scan.jpg"
    page_with_drawing(2400, 300).save(path, quality=95)
    drafted = Image.open(path)
    drafted.draft("RGB", (SIDE, SIDE))  # the cheap decode shrinks the drawing to ~38 px
    assert content_span(drafted.convert("RGB")) < SIDE / 4
    kept = decoded(path)
    assert content_span(kept) >= SIDE  # a model that crops to content sees it in full detail
    assert max(kept.size) <= SIDE * 8


def test_a_small_drawing_on_a_big_png_page_keeps_its_detail(tmp_path: Path) -> None:
    path = tmp_path / "page.png"
    page_with_drawing(3000, 600).save(path)
    kept = decoded(path)
    assert content_span(kept) >= SIDE  # shrunk to 4 x SIDE, it would span ~190 px
    assert max(kept.size) < 3000


def test_photos_are_still_decoded_small(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    textured(2400, 1).save(path, quality=90)
    assert max(decoded(path).size) < SIDE * 2  # scaled by the JPEG decoder, not decoded twice
    big_png = tmp_path / "photo.png"
    textured(2400, 2).save(big_png)
    assert max(decoded(big_png).size) == SIDE * 4
