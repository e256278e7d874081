"""Turn decoded RGB images into the image tower's input tensor layout (N, 3, S, S), float32.

Images are (optionally) cropped to their drawn content, letterboxed onto a white square (the
letterbox cuts nothing away: drawings and glyphs keep their edges), resized to ``size`` with bicubic
filtering, and normalised with mean = std = 0.5, as EfficientNet-Lite expects. Content is what
differs from white by a luminance above 12: a very pale colour (light yellow on white) can fall
outside the crop.

Cropping to the content matters for drawings on blank canvases: a rendered emoji fills about 75 %
of its canvas, and some drawings much less; cropped, they fill the tower's input
(docs/experiments.md, "Cropping to content", has the figures).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageChops

from modalign.images import to_rgb

WHITE = (255, 255, 255)
CONTENT_THRESHOLD = 12  # content: luminance of |pixel - white| above this
CONTENT_MARGIN = 0.04  # margin kept around the content, as a fraction of its longer side


def letterbox(image: Image.Image, size: int) -> Image.Image:
    """``image`` scaled to fit a ``size`` x ``size`` white square, centred."""
    rgb = to_rgb(image)
    scale = size / max(rgb.width, rgb.height)
    width = max(1, round(rgb.width * scale))
    height = max(1, round(rgb.height * scale))
    resized = rgb.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=3.0)
    canvas = Image.new("RGB", (size, size), WHITE)
    canvas.paste(resized, ((size - width) // 2, (size - height) // 2))
    return canvas


def crop_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """The box :func:`crop_to_content` keeps of ``image``: its non-white pixels (composited over
    white) plus a margin of 4 % of their box's longer side, within the image; None when that is
    the whole image (a photo without a white border) or there is no content (a blank canvas)."""
    rgb = to_rgb(image)
    difference = ImageChops.difference(rgb, Image.new("RGB", rgb.size, WHITE)).convert("L")
    box = difference.point(lambda value: 255 if value > CONTENT_THRESHOLD else 0).getbbox()
    if box is None:
        return None
    pad = round(max(box[2] - box[0], box[3] - box[1]) * CONTENT_MARGIN)
    left, top = max(0, box[0] - pad), max(0, box[1] - pad)
    right, bottom = min(rgb.width, box[2] + pad), min(rgb.height, box[3] + pad)
    if (left, top, right, bottom) == (0, 0, rgb.width, rgb.height):
        return None
    return left, top, right, bottom


def crop_to_content(image: Image.Image) -> Image.Image:
    """``image`` (RGB) cropped to its :func:`crop_box`; unchanged if it is blank or has no white
    border."""
    box = crop_box(image)
    return image if box is None else image.crop(box)


def to_array(image: Image.Image) -> np.ndarray:
    """One square RGB image as a (3, S, S) float32 array normalised to [-1, 1]."""
    pixels = np.asarray(image, dtype=np.float32)
    return ((pixels / 255.0 - 0.5) / 0.5).transpose(2, 0, 1)


def view_of(image: Image.Image, view: str) -> Image.Image:
    """An augmented view of ``image``: ``plain``, ``flip`` (mirrored) or ``zoom`` (central 80%)."""
    if view == "flip":
        return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    if view == "zoom":
        dx, dy = image.width // 10, image.height // 10
        return image.crop((dx, dy, image.width - dx, image.height - dy))
    return image


def batch_pixels(
    images: Sequence[Image.Image], size: int, view: str = "plain", crop: bool = False
) -> np.ndarray:
    """The (N, 3, size, size) float32 tower input of ``images`` (in the given augmented view;
    cropped to their content first with ``crop``)."""
    rgb = [to_rgb(image) for image in images]
    if crop:
        rgb = [crop_to_content(image) for image in rgb]
    arrays = [to_array(letterbox(view_of(image, view), size)) for image in rgb]
    if not arrays:
        return np.zeros((0, 3, size, size), dtype=np.float32)
    return np.stack(arrays)
