"""Towers loaded lazily, once per process, under a lock (one instance per configuration)."""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path

from modalign.config import Settings
from modalign.encoders.towers import ImageTower, TextTower
from modalign.encoders.tuned import TunedTower
from modalign.errors import ConfigError

_LOAD_LOCK = threading.Lock()
CROP_SUFFIX = "-crop4"  # features of images cropped to their content (4 % margin)


@lru_cache(maxsize=8)
def _image_tower(
    backend: str, cache_dir: Path, image_size: int, threads: int, tuned: TunedTower | None
) -> ImageTower:
    if backend == "eager":
        from modalign.encoders.towers import EagerImageTower

        return EagerImageTower(image_size, threads, tuned)
    if backend in ("onnx", "onnx-int8"):
        from modalign.encoders.onnx_tower import OnnxImageTower

        return OnnxImageTower(
            cache_dir, image_size, threads, quantize=backend == "onnx-int8", tuned=tuned
        )
    raise ConfigError(f"unknown image backend {backend!r}")


@lru_cache(maxsize=4)
def _text_tower(backend: str, cache_dir: Path, threads: int) -> TextTower:
    if backend == "torch":
        from modalign.encoders.towers import SentenceTextTower

        return SentenceTextTower(threads)
    if backend == "onnx":
        from modalign.encoders.onnx_text import OnnxTextTower

        return OnnxTextTower(cache_dir, threads)
    raise ConfigError(f"unknown text backend {backend!r}")


def image_tower(
    settings: Settings, backend: str | None = None, tuned: TunedTower | None = None
) -> ImageTower:
    """The process-wide image tower for ``backend`` (default: the configured one).

    ``tuned``: the fine-tuned top blocks of a model version (default: the pretrained tower).
    """
    config = settings.encoders
    with _LOAD_LOCK:
        return _image_tower(
            backend or config.image_backend, settings.paths.cache_dir.resolve(),
            config.image_size, config.torch_threads, tuned,
        )


def text_tower(settings: Settings, backend: str | None = None) -> TextTower:
    """The process-wide text tower for ``backend`` (default: the configured one)."""
    config = settings.encoders
    with _LOAD_LOCK:
        return _text_tower(
            backend or config.text_backend, settings.paths.cache_dir.resolve(),
            config.torch_threads,
        )


def image_cache_id(
    settings: Settings, backend: str | None = None, tuned: TunedTower | None = None
) -> str:
    """Tower id of the image features ``backend`` computes (without loading the tower)."""
    from modalign.encoders.towers import image_tower_id

    base = image_tower_id(settings.encoders.image_size) + crop_suffix(settings)
    base = tuned.tower_id(base) if tuned else base
    return base + "-int8" if (backend or settings.encoders.image_backend) == "onnx-int8" else base


def crop_suffix(settings: Settings) -> str:
    """What the image feature ids of ``settings`` add for images cropped to their content."""
    return CROP_SUFFIX if settings.encoders.crop_to_content else ""


def text_cache_id() -> str:
    """Tower id of the text features (without loading the tower)."""
    from modalign.encoders.towers import text_tower_id

    return text_tower_id()
