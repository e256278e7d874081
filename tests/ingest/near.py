"""Pictures for the near-duplicate tests: distinct scenes, and copies nudged by a few pixels.

Under the tests' tiny random model a nudged copy stays above 0.99 cosine of its scene, and two
scenes stay below 0.95 (same shape, other colour) or 0.8 (other shape).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = [
    (220, 30, 30), (30, 160, 40), (30, 60, 220), (240, 200, 20),
    (150, 40, 170), (20, 180, 190), (250, 130, 20), (90, 90, 90),
]
THRESHOLD = 0.98  # between a nudged copy (> 0.99) and another scene (< 0.95)


def scene(n: int, nudge: int = 0) -> Image.Image:
    """Scene ``n`` (a shape in a colour); ``nudge`` > 0 changes that many corner pixels."""
    image = Image.new("RGB", (96, 96), "white")
    draw = ImageDraw.Draw(image)
    colour = COLOURS[n % len(COLOURS)]
    kind = n % 4
    if kind == 0:
        draw.ellipse((10, 10, 86, 86), fill=colour)
    elif kind == 1:
        for x in range(0, 96, 16):
            draw.rectangle((x, 0, x + 7, 95), fill=colour)
    elif kind == 2:
        draw.polygon([(48, 5), (90, 90), (6, 90)], fill=colour)
    else:
        for x in range(0, 96, 24):
            for y in range(0, 96, 24):
                if (x + y) // 24 % 2 == 0:
                    draw.rectangle((x, y, x + 23, y + 23), fill=colour)
    for i in range(nudge):
        image.putpixel((i, 0), (i * 7 % 256, 0, 0))
    return image


def write_scenes(folder: Path, pictures: dict[str, tuple[int, int]]) -> Path:
    """``name -> (scene, nudge)`` as PNG files (with a caption each) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (n, nudge) in pictures.items():
        scene(n, nudge).save(folder / f"{name}.png")
        (folder / f"{name}.txt").write_text(f"picture {name}\n")
    return folder
