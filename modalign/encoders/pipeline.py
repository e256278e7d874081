"""Samples -> cached tower features -> ``SplitFeatures``; towers load only when needed."""

from __future__ import annotations

from collections.abc import Sequence

from modalign.config import Settings
from modalign.encoders import extract
from modalign.encoders.data import Sample
from modalign.encoders.extract import SplitFeatures
from modalign.encoders.features import FeatureCache
from modalign.encoders.progress import NoProgress, ProgressSink
from modalign.encoders.tower_registry import image_cache_id, image_tower, text_cache_id, text_tower
from modalign.encoders.towers import IMAGE_FEATURE_DIM, TEXT_FEATURE_DIM


class FeatureSource:
    """Computes (once) and serves the tower features of samples for one image backend."""

    def __init__(
        self, settings: Settings, sink: ProgressSink | None = None, backend: str | None = None
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.sink = sink or NoProgress()
        root = settings.paths.cache_dir
        self.image_cache = FeatureCache(root, image_cache_id(settings, backend), IMAGE_FEATURE_DIM)
        self.text_cache = FeatureCache(root, text_cache_id(), TEXT_FEATURE_DIM)

    def ensure(self, samples: Sequence[Sample], views: Sequence[str] = ("plain",)) -> None:
        """Compute the missing image (every view) and caption features of ``samples``."""
        if extract.images_missing(samples, self.image_cache, views):
            advance = self.sink.task("image features", len(samples))
            extract.cache_image_features(
                samples, image_tower(self.settings, self.backend), self.image_cache, views,
                self.settings.encoders.batch_size, advance,
            )
        texts = extract.all_captions(samples)
        if extract.texts_missing(texts, self.text_cache):
            advance = self.sink.task("text features", len(set(texts)))
            extract.cache_text_features(
                texts, text_tower(self.settings), self.text_cache, progress=advance
            )

    def features(
        self, samples: Sequence[Sample], views: Sequence[str] = ("plain",)
    ) -> SplitFeatures:
        """``SplitFeatures`` of ``samples``, computing what is not cached."""
        self.ensure(samples, views)
        return extract.assemble(samples, self.image_cache, self.text_cache, views)
