"""Samples -> cached tower features -> ``SplitFeatures``; towers load only when needed."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

from modalign.config import Settings
from modalign.encoders.data import Sample
from modalign.encoders.features import extract
from modalign.encoders.features.cache import FeatureCache
from modalign.encoders.features.extract import SplitFeatures
from modalign.encoders.shared_towers import image_cache_id, image_tower, text_cache_id, text_tower
from modalign.encoders.towers import IMAGE_FEATURE_DIM, TEXT_FEATURE_DIM, ImageTower
from modalign.encoders.tuned import TunedTower
from modalign.progress import NoProgress, ProgressSink


class FeatureSource:
    """Computes (once) and serves the tower features of samples for one image tower.

    The image tower is the configured (or ``backend``) one, fine-tuned with ``tuned``; or, with
    ``image``, any tower given as (cache id, row width, loader), e.g. the bottom of a tower whose
    top blocks are being fine-tuned.
    """

    def __init__(
        self, settings: Settings, sink: ProgressSink | None = None, backend: str | None = None,
        tuned: TunedTower | None = None,
        image: tuple[str, int, Callable[[], ImageTower]] | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink or NoProgress()
        cache_id, dim, self._image_tower = image or (
            image_cache_id(settings, backend, tuned), IMAGE_FEATURE_DIM,
            partial(image_tower, settings, backend, tuned),
        )
        root = settings.paths.cache_dir
        self.image_cache = FeatureCache(root, cache_id, dim)
        self.text_cache = FeatureCache(root, text_cache_id(), TEXT_FEATURE_DIM)

    def ensure(self, samples: Sequence[Sample], views: Sequence[str] = ("plain",)) -> None:
        """Compute the missing image (every view) and caption features of ``samples``."""
        if extract.images_missing(samples, self.image_cache, views):
            advance = self.sink.task("image features", len(samples))
            extract.cache_image_features(
                samples, self._image_tower(), self.image_cache, views,
                self.settings.encoders.batch_size, advance, self.settings.encoders.crop_to_content,
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
