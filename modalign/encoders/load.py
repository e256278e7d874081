"""``load_dual_encoder``: the DualEncoder of a model version, with the configured image backend."""

from __future__ import annotations

import logging
from functools import partial

from modalign.config import Settings
from modalign.encoders.checkpoint import load_checkpoint
from modalign.encoders.dual import DualEncoder
from modalign.encoders.registry import checkpoint_dir
from modalign.encoders.tower_registry import image_cache_id, image_tower, text_tower

log = logging.getLogger(__name__)


def load_dual_encoder(settings: Settings, version: str | None = None) -> DualEncoder:
    """The given model version (default: ``settings.encoders.model``, else the active one).

    Towers are loaded on first use, once per process; the heads are read from the checkpoint.
    """
    name, directory = checkpoint_dir(settings, version or settings.encoders.model)
    heads, card = load_checkpoint(directory)
    trained_on = card.towers.get("image", {}).get("id")
    if trained_on and not image_cache_id(settings, "onnx").startswith(str(trained_on)):
        log.warning("model %s was trained on image features %s", name, trained_on)
    return DualEncoder(
        heads,
        name,
        partial(image_tower, settings),
        partial(text_tower, settings),
        settings.encoders.batch_size,
    )
