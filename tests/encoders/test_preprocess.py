"""Cropping to the drawn content before letterboxing."""

from __future__ import annotations

import numpy as np
from PIL import Image

from modalign.encoders.preprocess import batch_pixels, crop_to_content


def drawing(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    """A white canvas with one dark blue rectangle (left, top, right, bottom exclusive)."""
    canvas = Image.new("RGB", size, "white")
    canvas.paste((20, 30, 120), box)
    return canvas


def test_crop_keeps_the_content_and_a_margin_of_its_longer_side() -> None:
    cropped = crop_to_content(drawing((200, 200), (60, 90, 110, 110)))
    assert cropped.size == (50 + 2 * 2, 20 + 2 * 2)  # 4 % of 50 is 2 on each side
    pixels = np.asarray(cropped)
    assert (pixels[:2] == 255).all() and (pixels[-2:] == 255).all()  # the margin is white
    assert tuple(pixels[2, 2]) == (20, 30, 120)  # the content starts right after it


def test_the_margin_stops_at_the_image_edge() -> None:
    cropped = crop_to_content(drawing((300, 100), (0, 40, 100, 60)))
    assert cropped.size == (100 + 4, 20 + 8)  # 4 on the right only; 4 above and below


def test_images_without_a_white_border_or_content_are_unchanged() -> None:
    photo = Image.new("RGB", (64, 48), (90, 140, 60))
    blank = Image.new("RGB", (64, 48), "white")
    faint = Image.new("RGB", (64, 48), (250, 250, 250))  # paper-white noise is not content
    assert crop_to_content(photo) is photo
    assert crop_to_content(blank) is blank
    assert crop_to_content(faint) is faint


def test_transparent_canvases_are_cropped_after_compositing_on_white() -> None:
    sticker = Image.new("RGBA", (120, 120), (0, 0, 0, 0))
    sticker.paste((200, 0, 0, 255), (50, 50, 70, 70))
    cropped = batch_pixels([sticker], 32, crop=True)
    # the 20 px square and its 1 px margin fill the input: mostly red (edges blend), unlike the
    # uncropped sticker, where it is 1/6 of each side
    assert cropped.shape == (1, 3, 32, 32)
    assert ((cropped[0, 0] > 0.5) & (cropped[0, 1] < -0.5)).mean() > 0.7
    assert (batch_pixels([sticker], 32)[0, 1] < -0.5).mean() < 0.1


def test_batch_pixels_crops_every_view_before_the_view_is_taken() -> None:
    padded = drawing((160, 160), (10, 40, 100, 100))  # off-centre, so a flip moves it
    content = crop_to_content(padded)
    for view in ("plain", "flip", "zoom"):  # zoom: the central 80 % of the content
        np.testing.assert_array_equal(
            batch_pixels([padded], 64, view, crop=True), batch_pixels([content], 64, view)
        )
    assert not np.array_equal(batch_pixels([padded], 64), batch_pixels([content], 64))
