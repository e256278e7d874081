"""Feature cache on disk and feature extraction with real towers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modalign.config import Settings
from modalign.encoders.data import Sample
from modalign.encoders.features.cache import FeatureCache
from modalign.encoders.features.extract import group_ids
from modalign.encoders.features.source import FeatureSource
from modalign.encoders.towers import IMAGE_FEATURE_DIM


def test_cache_persists_and_keeps_first_value(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, "tower-a", 3)
    cache.add(["k1", "k2"], np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32))
    cache.add(["k3"], np.array([[7, 8, 9]], dtype=np.float32))
    again = FeatureCache(tmp_path, "tower-a", 3)
    assert again.get(["k3", "k1"]).tolist() == [[7, 8, 9], [1, 2, 3]]
    assert again.missing(["k1", "k4", "k4"]) == ["k4"]
    assert "k2" in again and "k2" not in FeatureCache(tmp_path, "tower-b", 3)


def test_features_are_computed_once_and_reused(
    settings: Settings, emoji_samples: list[Sample]
) -> None:
    samples = emoji_samples[:5]
    first = FeatureSource(settings).features(samples, ("plain", "flip"))
    assert first.images.shape == (5, 2, IMAGE_FEATURE_DIM) and first.captions.shape == (10, 384)
    assert first.caption_owner.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert first.first_caption.tolist() == [0, 2, 4, 6, 8]
    assert not np.allclose(first.images[:, 0], first.images[:, 1])  # the flip is another view
    source = FeatureSource(settings)
    assert source.image_cache.missing([s.key for s in samples]) == []
    second = source.features(samples, ("plain", "flip"))
    assert np.array_equal(first.images, second.images)


def test_groups_join_shared_groups_and_names(tmp_path: Path) -> None:
    def sample(key: str, name: str, group: str) -> Sample:
        return Sample(tmp_path / key, key, (name,), group)

    ids = group_ids([sample("a", "smile", "g1"), sample("b", "smile", "g2"),
                     sample("c", "frown", "g3"), sample("d", "wink", "g1")])
    assert ids[0] == ids[1] == ids[3] and ids[2] != ids[0]
