"""Fine-tuning the image tower's top blocks: split network, tiny training run, checkpoint, ONNX."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modalign.config import Settings
from modalign.encoders.data import Sample
from modalign.encoders.evaluate import evaluate_model
from modalign.encoders.fit import TrainConfig
from modalign.encoders.heads import HeadSpec
from modalign.encoders.image_net import split_network
from modalign.encoders.load import load_model
from modalign.encoders.preprocess import batch_pixels
from modalign.encoders.shared_towers import image_cache_id
from modalign.encoders.towers import build_image_network, image_tower_id
from modalign.encoders.training import TrainOutcome, train_model
from modalign.encoders.tuned import TOWER_FILE, weights_digest
from modalign.errors import ConfigError, EncoderError

SPEC = HeadSpec(embed_dim=32, hidden_dim=64)
CONFIG = TrainConfig(spec=SPEC, epochs=2, batch_size=8, lr=1e-3, finetune_top=1,
                     tower_lr_scale=1.0, ema_decay=0.0)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))


def with_backend(settings: Settings, backend: str) -> Settings:
    encoders = settings.encoders.model_copy(update={"image_backend": backend})
    return settings.model_copy(update={"encoders": encoders})


@pytest.mark.parametrize("top_blocks", [1, 2, 5])
def test_bottom_then_top_computes_the_whole_network(
    emoji_images: list[Image.Image], top_blocks: int
) -> None:
    network = build_image_network(224)
    pixels = torch.from_numpy(batch_pixels(emoji_images[:3], 224))
    bottom, top = split_network(network, top_blocks, 224)
    with torch.inference_mode():
        whole, rows = network(pixels), bottom(pixels)
        split = top(rows)
    assert rows.shape == (3, bottom.dim)
    torch.testing.assert_close(split, whole, rtol=1e-4, atol=1e-4)
    trainable = {id(p) for p in top.parameters()}
    assert trainable and all(p.requires_grad == (id(p) in trainable) for p in network.parameters())
    with pytest.raises(ConfigError):
        network.split_index(0)


@pytest.fixture
def tuned_run(settings: Settings, emoji_dir: Path) -> TrainOutcome:
    return train_model(settings, emoji_dir / "manifest.jsonl", CONFIG, "ft", views=("plain",))


def test_finetuning_trains_the_top_blocks_into_the_checkpoint(
    settings: Settings, tuned_run: TrainOutcome
) -> None:
    card = json.loads((tuned_run.directory / "card.json").read_text())
    entry = card["towers"]["image"]["finetune"]
    weights = (tuned_run.directory / TOWER_FILE).read_bytes()
    assert entry["top_blocks"] == 1 and entry["sha256"] == weights_digest(weights)
    assert f"-ft1-{entry['sha256'][:12]}" in card["towers"]["image"]["id"]
    assert card["training"]["config"]["finetune_top"] == 1

    _, tuned = load_model(settings, "ft")
    assert tuned is not None and tuned.top_blocks == 1
    pretrained = build_image_network(224).state_dict()
    loaded = build_image_network(224, tuned).state_dict()
    changed = {name for name in pretrained if not torch.equal(pretrained[name], loaded[name])}
    assert any(name.startswith("net._blocks.15.") for name in changed)
    assert all(name.startswith(("net._blocks.15.", "net._conv_head.", "net._bn1.")) for name in
               changed)


def test_tuned_checkpoint_round_trips_to_identical_embeddings(
    settings: Settings, tuned_run: TrainOutcome, emoji_images: list[Image.Image]
) -> None:
    images = emoji_images[16:]
    encoder, tuned = load_model(with_backend(settings, "eager"), "ft")
    assert tuned is not None and tuned_run.result.tower is not None
    bottom, _ = split_network(build_image_network(224, tuned), 1, 224)
    with torch.inference_mode():
        pixels = batch_pixels(images, 224, crop=encoder.crop_to_content)
        rows = bottom(torch.from_numpy(pixels))
        trained = tuned_run.result.heads.embed_images(tuned_run.result.tower(rows)).numpy()
    assert encoder.memory is not None  # built from the tuned tower's training embeddings
    with torch.inference_mode():
        features = torch.from_numpy(encoder.image_features(images))
        heads_only = encoder.heads.embed_images(features).numpy()
    np.testing.assert_allclose(heads_only, trained, rtol=0, atol=1e-6)
    loaded = encoder.encode_images(images)
    np.testing.assert_allclose(loaded, encoder.memory.expand_images(trained), rtol=0, atol=1e-5)
    again, _ = load_model(with_backend(settings, "eager"), "ft")
    assert np.array_equal(again.encode_images(images), loaded)


def test_fast_path_serves_the_tuned_tower(
    settings: Settings, tuned_run: TrainOutcome, emoji_images: list[Image.Image],
    emoji_samples: list[Sample], emoji_dir: Path,
) -> None:
    fast, tuned = load_model(settings, "ft")
    eager, _ = load_model(with_backend(settings, "eager"), "ft")
    assert tuned is not None
    onnx_features = fast.image_features(emoji_images)
    eager_features = eager.image_features(emoji_images)
    assert cosines(onnx_features, eager_features).min() >= 0.999
    network_id = tuned.tower_id(image_tower_id(224))  # ONNX files are named by the network
    assert (settings.paths.cache_dir / "onnx" / f"{network_id}.onnx").exists()
    assert tuned_run.card.towers["image"]["base_id"] == image_cache_id(settings, "onnx")

    frozen = build_image_network(224)
    with torch.inference_mode():
        pixels = batch_pixels(emoji_images, 224, crop=eager.crop_to_content)
        pretrained = frozen(torch.from_numpy(pixels)).numpy()
    assert not np.allclose(pretrained, eager_features, atol=1e-4)

    result = evaluate_model(settings, emoji_dir / "manifest.jsonl", "test", "ft").result
    assert result.metrics()["text_to_image"] == tuned_run.card.metrics["test"]["text_to_image"]
    assert result.images == len([s for s in emoji_samples if s.split == "test"])


def test_a_tampered_tower_file_is_refused(settings: Settings, tuned_run: TrainOutcome) -> None:
    path = tuned_run.directory / TOWER_FILE
    path.write_bytes(path.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(EncoderError):
        load_model(settings, "ft")
