"""``load_dual_encoder``: the DualEncoder of a model version, with the configured image backend.

A model version trained with a fine-tuned image tower gets that tower (its top-block weights from
the checkpoint) on whichever backend is configured; the ONNX backend exports it once per weights.
"""

from __future__ import annotations

import logging
from functools import partial

from modalign.config import Settings
from modalign.encoders.checkpoint import load_checkpoint, load_memory
from modalign.encoders.dual import DualEncoder
from modalign.encoders.model_versions import checkpoint_dir
from modalign.encoders.shared_towers import image_cache_id, image_tower, text_tower
from modalign.encoders.tuned import TunedTower, tuned_tower

log = logging.getLogger(__name__)


def load_model(
    settings: Settings, version: str | None = None, heads_only: bool = False
) -> tuple[DualEncoder, TunedTower | None]:
    """The given model version's DualEncoder and its fine-tuned image tower (None if frozen).

    The version defaults to ``settings.encoders.model``, else the active one. Towers are loaded on
    first use, once per process; the heads (tuned tower weights, pair memory) are read from the
    checkpoint. ``heads_only`` leaves the pair memory out: for evaluation only, since vectors
    indexed with a model version must all be embedded the same way.
    """
    name, directory = checkpoint_dir(settings, version or settings.encoders.model)
    heads, card = load_checkpoint(directory)
    image_card = card.towers.get("image", {})
    tuned = tuned_tower(directory, image_card)
    crop = bool(image_card.get("crop_to_content", False))  # models from before the crop: False
    trained_on = image_card.get("id")
    features_id = image_cache_id(with_crop(settings, crop), "onnx", tuned)
    if trained_on and not features_id.startswith(str(trained_on)):
        log.warning("model %s was trained on image features %s", name, trained_on)
    encoder = DualEncoder(
        heads,
        name,
        partial(image_tower, settings, None, tuned),
        partial(text_tower, settings),
        settings.encoders.batch_size,
        None if heads_only else load_memory(directory, card),
        crop_to_content=crop,
    )
    return encoder, tuned


def with_crop(settings: Settings, crop: bool) -> Settings:
    """``settings`` with the image preparation of a model (``crop_to_content``) in place of the
    configured one."""
    if settings.encoders.crop_to_content == crop:
        return settings
    encoders = settings.encoders.model_copy(update={"crop_to_content": crop})
    return settings.model_copy(update={"encoders": encoders})


def load_dual_encoder(settings: Settings, version: str | None = None) -> DualEncoder:
    """The given model version (default: ``settings.encoders.model``, else the active one)."""
    return load_model(settings, version)[0]
