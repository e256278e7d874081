"""A separable toy set of tower-like features for training tests."""

from __future__ import annotations

import numpy as np

from modalign.encoders.features.extract import SplitFeatures


def toy_split(n: int, seed: int) -> SplitFeatures:
    """Separable toy set: image and text features are two random linear views of a latent class."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 8))
    to_img, to_txt = rng.normal(size=(8, 16)), rng.normal(size=(8, 12))
    images = (latent @ to_img + 0.05 * rng.normal(size=(n, 16)))[:, None, :]
    captions = latent @ to_txt + 0.05 * rng.normal(size=(n, 12))
    return SplitFeatures(
        images=images.astype(np.float32), captions=captions.astype(np.float32),
        caption_owner=np.arange(n), first_caption=np.arange(n), groups=np.arange(n),
    )
