"""DualEncoder: towers + trained projection heads -> one L2-normalised embedding space.

``encode_images`` / ``encode_texts`` take raw inputs (decoded PIL images of any size, strings);
``encode_image_features`` / ``encode_text_features`` take precomputed tower features. All return
(n, dim) float32 arrays with unit rows, as open_clip's ``encode_image(normalize=True)``. A model
with a pair memory (``modalign.encoders.memory``) expands every embedding with it, queries and
indexed items alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from modalign.encoders.ensemble import Heads
from modalign.encoders.memory import PairMemory
from modalign.encoders.preprocess import batch_pixels
from modalign.encoders.towers import ImageTower, TextTower


class DualEncoder:
    """A model version: frozen towers (loaded on first use) and its trained heads."""

    def __init__(
        self,
        heads: Heads,
        version: str,
        image_tower: Callable[[], ImageTower],
        text_tower: Callable[[], TextTower],
        batch_size: int = 64,
        memory: PairMemory | None = None,
        crop_to_content: bool = False,
    ) -> None:
        self.heads = heads.eval()
        self.version = version
        self.dim = heads.spec.embed_dim
        self.batch_size = batch_size
        self._image_tower = image_tower
        self._text_tower = text_tower
        self.memory = memory
        self.crop_to_content = crop_to_content  # how the model's training images were prepared

    def encode_image_features(self, features: np.ndarray) -> np.ndarray:
        """Embeddings of image tower features (n, 3328)."""
        with torch.inference_mode():
            out = self.heads.embed_images(torch.as_tensor(np.asarray(features, np.float32)))
        rows = np.ascontiguousarray(out.numpy(), dtype=np.float32)
        return self.memory.expand_images(rows) if self.memory is not None else rows

    def encode_text_features(self, features: np.ndarray) -> np.ndarray:
        """Embeddings of text tower features (n, 384)."""
        with torch.inference_mode():
            out = self.heads.embed_texts(torch.as_tensor(np.asarray(features, np.float32)))
        rows = np.ascontiguousarray(out.numpy(), dtype=np.float32)
        return self.memory.expand_texts(rows) if self.memory is not None else rows

    def image_features(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Image tower features of decoded images, in batches."""
        tower = self._image_tower()
        parts = [np.zeros((0, tower.feature_dim), dtype=np.float32)]
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            pixels = batch_pixels(batch, tower.image_size, crop=self.crop_to_content)
            parts.append(tower.features(pixels))
        return np.concatenate(parts)

    def text_features(self, texts: Sequence[str]) -> np.ndarray:
        """Text tower features of ``texts``."""
        return self._text_tower().features(list(texts))

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) unit-norm embeddings of decoded images of any size."""
        return self.encode_image_features(self.image_features(images))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) unit-norm embeddings of texts."""
        return self.encode_text_features(self.text_features(texts))
