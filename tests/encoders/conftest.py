"""Encoder fixtures: a few real images (emoji rendered with Noto Color Emoji), towers loaded once.

The towers are real (EfficientNet-Lite0 through ONNX Runtime and eager torch, all-MiniLM-L6-v2);
they are loaded once per test session and shared.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from modalign.config import PathsSettings, Settings
from modalign.encoders.data import Sample, file_sha256

EMOJI_FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")

# (glyph, name caption, a second caption, split)
EMOJI = [
    ("😀", "grinning face", "a happy smiling yellow face", "train"),
    ("😢", "crying face", "a sad face with a tear", "train"),
    ("🐶", "dog face", "the head of a puppy", "train"),
    ("🐱", "cat face", "the head of a kitten", "train"),
    ("🍕", "pizza", "a slice of pizza with cheese", "train"),
    ("🚀", "rocket", "a space rocket taking off", "train"),
    ("🌳", "deciduous tree", "a green leafy tree", "train"),
    ("🚗", "automobile", "a red car", "train"),
    ("🍎", "red apple", "a shiny red fruit", "train"),
    ("⚽", "soccer ball", "a black and white football", "train"),
    ("🎸", "guitar", "an electric guitar", "train"),
    ("🌙", "crescent moon", "the moon at night", "train"),
    ("🔥", "fire", "orange flames", "val"),
    ("🐟", "fish", "a blue fish swimming", "val"),
    ("🏠", "house", "a small home with a roof", "val"),
    ("🍌", "banana", "a yellow banana", "val"),
    ("✈", "airplane", "a plane flying", "test"),
    ("🐸", "frog", "a green frog face", "test"),
    ("🍩", "doughnut", "a donut with icing", "test"),
    ("⏰", "alarm clock", "a clock that rings", "test"),
]


def render_emoji(glyph: str, path: Path) -> Path:
    """Render one emoji as an RGBA PNG (transparent background), as the demo builder does."""
    font = ImageFont.truetype(str(EMOJI_FONT), 109)
    image = Image.new("RGBA", (136, 128), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((0, 0), glyph, font=font, embedded_color=True)
    image.save(path)
    return path


@pytest.fixture(scope="session")
def emoji_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the rendered emoji and a JSONL manifest describing them."""
    if not EMOJI_FONT.exists():
        pytest.skip("fonts-noto-color-emoji is not installed")
    root = tmp_path_factory.mktemp("emoji")
    (root / "images").mkdir()
    lines = []
    for index, (glyph, name, extra, split) in enumerate(EMOJI):
        path = render_emoji(glyph, root / "images" / f"{index:02d}.png")
        lines.append(json.dumps({
            "path": f"images/{path.name}", "captions": [name, extra], "split": split,
            "sha256": file_sha256(path), "source": "test",
        }))
    (root / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def emoji_samples(emoji_dir: Path) -> list[Sample]:
    from modalign.encoders.data import samples_from_manifest

    return samples_from_manifest(emoji_dir / "manifest.jsonl")


@pytest.fixture(scope="session")
def emoji_images(emoji_samples: list[Sample]) -> list[Image.Image]:
    from modalign.encoders.data import load_image

    return [load_image(sample.path) for sample in emoji_samples]


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One data dir whose cache (ONNX export, features) every test of the session may reuse."""
    return tmp_path_factory.mktemp("shared-data")


@pytest.fixture(scope="session")
def shared_settings(shared_cache: Path) -> Settings:
    return Settings(paths=PathsSettings(data_dir=shared_cache))


@pytest.fixture
def settings(tmp_path: Path, shared_cache: Path) -> Iterator[Settings]:
    """Settings with a fresh data dir whose cache is the shared one (symlinked)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "cache").symlink_to(shared_cache / "cache", target_is_directory=True)
    (shared_cache / "cache").mkdir(exist_ok=True)
    yield Settings(paths=PathsSettings(data_dir=tmp_path / "data"))
