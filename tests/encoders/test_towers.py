"""Real towers on real images: ONNX matches eager; DualEncoder shapes and norms; preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from modalign.config import Settings
from modalign.encoders.dual import DualEncoder
from modalign.encoders.heads import AlignmentHeads, HeadSpec
from modalign.encoders.preprocess import batch_pixels, letterbox
from modalign.encoders.shared_towers import image_tower, text_tower
from modalign.encoders.towers import IMAGE_FEATURE_DIM, ImageTower
from modalign.images import to_rgb


@pytest.fixture(scope="session")
def onnx_tower(shared_settings: Settings) -> ImageTower:
    return image_tower(shared_settings, "onnx")


@pytest.fixture(scope="session")
def eager_tower(shared_settings: Settings) -> ImageTower:
    return image_tower(shared_settings, "eager")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_onnx_features_match_eager_on_real_images(
    onnx_tower: ImageTower, eager_tower: ImageTower, emoji_images: list[Image.Image]
) -> None:
    pixels = batch_pixels(emoji_images[:8], 224)
    fast, reference = onnx_tower.features(pixels), eager_tower.features(pixels)
    assert fast.shape == reference.shape == (8, IMAGE_FEATURE_DIM)
    assert cosines(fast, reference).min() >= 0.999
    assert onnx_tower.tower_id == eager_tower.tower_id


def test_towers_are_loaded_once_per_process(shared_settings: Settings) -> None:
    assert image_tower(shared_settings, "onnx") is image_tower(shared_settings, "onnx")
    assert text_tower(shared_settings) is text_tower(shared_settings)


def test_transparency_is_composited_over_white() -> None:
    clear = Image.new("RGBA", (10, 20), (255, 0, 0, 0))
    assert to_rgb(clear).getpixel((5, 5)) == (255, 255, 255)
    square = letterbox(clear, 32)
    assert square.size == (32, 32) and square.getpixel((0, 0)) == (255, 255, 255)
    pixels = batch_pixels([Image.new("RGB", (300, 40), "black")], 64)
    assert pixels.shape == (1, 3, 64, 64) and pixels.min() == -1.0 and pixels.max() == 1.0


@pytest.fixture(scope="session")
def encoder(shared_settings: Settings, onnx_tower: ImageTower) -> DualEncoder:
    import torch

    torch.manual_seed(0)
    return DualEncoder(
        AlignmentHeads(HeadSpec(embed_dim=32, hidden_dim=64)), "test",
        lambda: onnx_tower, lambda: text_tower(shared_settings), batch_size=4,
    )


def test_encode_images_and_texts_shapes_and_norms(
    encoder: DualEncoder, emoji_images: list[Image.Image]
) -> None:
    odd = [emoji_images[0].resize((300, 90)), emoji_images[1].convert("L"), *emoji_images[2:7]]
    images = encoder.encode_images(odd)
    texts = encoder.encode_texts(["a dog", "pizza", "a red car"])
    assert images.shape == (7, 32) and texts.shape == (3, 32)
    assert images.dtype == texts.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(images, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1.0, atol=1e-5)
    assert encoder.encode_images([]).shape == (0, 32)
    assert encoder.dim == 32 and encoder.version == "test"


def test_precomputed_features_give_the_same_embeddings(
    encoder: DualEncoder, emoji_images: list[Image.Image]
) -> None:
    features = encoder.image_features(emoji_images[:3])
    np.testing.assert_allclose(
        encoder.encode_image_features(features), encoder.encode_images(emoji_images[:3]),
        atol=1e-6,
    )
    text_features = encoder.text_features(["fire"])
    assert text_features.shape == (1, 384)
    np.testing.assert_allclose(
        encoder.encode_text_features(text_features), encoder.encode_texts(["fire"]), atol=1e-6
    )
