"""Tower features of a list of samples, computed once and cached on disk (``FeatureCache``).

Images are decoded and preprocessed in a background thread while the tower runs the previous batch
(ONNX Runtime and torch release the GIL), so decoding overlaps inference.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from modalign.encoders.data import Sample, load_image
from modalign.encoders.features.cache import FeatureCache, text_key
from modalign.encoders.preprocess import batch_pixels
from modalign.encoders.towers import ImageTower, TextTower

log = logging.getLogger(__name__)

Progress = Callable[[int], None]
FLUSH_ROWS = 1024


@dataclass
class SplitFeatures:
    """Tower features of one split, ready for training or evaluation."""

    images: np.ndarray  # (n_images, n_views, image_dim)
    captions: np.ndarray  # (n_captions, text_dim)
    caption_owner: np.ndarray  # (n_captions,) index of the image each caption describes
    first_caption: np.ndarray  # (n_images,) index of each image's captions[0]
    groups: np.ndarray  # (n_images,) integer near-duplicate group

    @property
    def n_images(self) -> int:
        return len(self.images)


def view_key(key: str, view: str) -> str:
    """Cache key of one augmented view of an image."""
    return key if view == "plain" else f"{key}:{view}"


def _batches(items: Sequence[Sample], size: int) -> Iterator[Sequence[Sample]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _pixels(
    batch: Sequence[Sample], views: Sequence[str], size: int, crop: bool
) -> list[np.ndarray]:
    images = [load_image(sample.path) for sample in batch]
    return [batch_pixels(images, size, view, crop) for view in views]


class _Buffer:
    """Rows waiting to be written to a cache as one chunk."""

    def __init__(self, cache: FeatureCache) -> None:
        self.cache, self.keys, self.rows = cache, list[str](), list[np.ndarray]()

    def put(self, keys: Sequence[str], rows: np.ndarray) -> None:
        self.keys.extend(keys)
        self.rows.append(rows)
        if len(self.keys) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.keys:
            self.cache.add(self.keys, np.concatenate(self.rows))
        self.keys, self.rows = [], []


def cache_image_features(
    samples: Sequence[Sample],
    tower: ImageTower,
    cache: FeatureCache,
    views: Sequence[str] = ("plain",),
    batch_size: int = 64,
    progress: Progress | None = None,
    crop: bool = False,
) -> None:
    """Compute and cache the features of every view of every sample not cached yet (images
    cropped to their content first with ``crop``)."""
    todo = [s for s in samples if any(view_key(s.key, v) not in cache for v in views)]
    todo = list({s.key: s for s in todo}.values())
    if progress:
        progress(len(samples) - len(todo))
    buffer = _Buffer(cache)
    with ThreadPoolExecutor(max_workers=1) as pool:
        batches = list(_batches(todo, batch_size))
        read = partial(_pixels, views=views, size=tower.image_size, crop=crop)
        pending = pool.submit(read, batches[0]) if batches else None
        for index, batch in enumerate(batches):
            assert pending is not None
            pixels = pending.result()
            if index + 1 < len(batches):
                pending = pool.submit(read, batches[index + 1])
            for view, view_pixels in zip(views, pixels, strict=True):
                buffer.put([view_key(s.key, view) for s in batch], tower.features(view_pixels))
            if progress:
                progress(len(batch))
    buffer.flush()


def cache_text_features(
    texts: Sequence[str],
    tower: TextTower,
    cache: FeatureCache,
    batch_size: int = 256,
    progress: Progress | None = None,
) -> None:
    """Compute and cache the features of every text not cached yet."""
    by_key = {text_key(text): text for text in texts}
    todo = cache.missing(list(by_key))
    if progress:
        progress(len(by_key) - len(todo))
    buffer = _Buffer(cache)
    for start in range(0, len(todo), batch_size):
        keys = todo[start : start + batch_size]
        buffer.put(keys, tower.features([by_key[key] for key in keys]))
        if progress:
            progress(len(keys))
    buffer.flush()


def group_ids(samples: Sequence[Sample]) -> np.ndarray:
    """Integer id per sample: samples sharing a group or a first caption share the id."""
    ids: dict[str, int] = {}
    out = np.zeros(len(samples), dtype=np.int64)
    for index, sample in enumerate(samples):
        name_key = "caption:" + sample.captions[0].strip().lower()
        group = ids.get(sample.group, ids.get(name_key, len(ids)))
        ids.setdefault(sample.group, group)
        ids.setdefault(name_key, group)
        out[index] = group
    return out


def assemble(
    samples: Sequence[Sample],
    image_cache: FeatureCache,
    text_cache: FeatureCache,
    views: Sequence[str] = ("plain",),
) -> SplitFeatures:
    """``SplitFeatures`` of ``samples`` from caches that hold all their features."""
    per_view = [image_cache.get([view_key(s.key, v) for s in samples]) for v in views]
    images = np.stack(per_view, axis=1) if samples else np.zeros((0, len(views), image_cache.dim))
    texts = all_captions(samples)
    owner = np.repeat(np.arange(len(samples)), [len(s.captions) for s in samples])
    first = np.concatenate([[0], np.cumsum([len(s.captions) for s in samples])[:-1]])
    return SplitFeatures(
        images=images.astype(np.float32),
        captions=text_cache.get([text_key(text) for text in texts]),
        caption_owner=owner.astype(np.int64),
        first_caption=first.astype(np.int64)[: len(samples)],
        groups=group_ids(samples),
    )


def images_missing(
    samples: Sequence[Sample], cache: FeatureCache, views: Sequence[str] = ("plain",)
) -> bool:
    """Whether some view of some sample has no cached features."""
    return any(view_key(s.key, v) not in cache for s in samples for v in views)


def texts_missing(texts: Sequence[str], cache: FeatureCache) -> bool:
    """Whether some text has no cached features."""
    return any(text_key(text) not in cache for text in texts)


def all_captions(samples: Sequence[Sample]) -> list[str]:
    """Every caption of every sample, in order."""
    return [caption for sample in samples for caption in sample.captions]
