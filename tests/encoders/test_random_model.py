"""Random-weight model versions for benchmarks: registered, active, with a memory of given size."""

from __future__ import annotations

import numpy as np

from modalign.config import Settings
from modalign.encoders.fit import recipe
from modalign.encoders.load import load_dual_encoder
from modalign.encoders.random_model import random_memory, register_random_model


def test_random_memory_has_the_sizes_asked_for_and_captions_for_every_image() -> None:
    memory = random_memory(16, images=40, captions=90, seed=1)
    assert memory.images.shape == (40, 16) and memory.captions.shape == (90, 16)
    assert set(memory.caption_owner.tolist()) == set(range(40))


def test_registered_random_model_is_active_and_expands_with_its_memory(settings: Settings) -> None:
    directory = register_random_model(settings, "bench-random", memory_size=(50, 120))
    encoder = load_dual_encoder(settings)
    assert encoder.version == "bench-random" and directory.name == "bench-random"
    assert encoder.heads.spec.hidden_dim == recipe().spec.hidden_dim  # the shape training makes
    assert encoder.memory is not None and len(encoder.memory.captions) == 120
    features = np.random.default_rng(0).normal(size=(3, encoder.heads.spec.text_dim))
    vectors = encoder.encode_text_features(features.astype(np.float32))
    assert vectors.shape == (3, settings.encoders.embed_dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    register_random_model(settings, "no-memory", memory_size=None)
    assert load_dual_encoder(settings, "no-memory").memory is None
