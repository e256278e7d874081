"""Checkpoint round trip: identical weights, card and embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from modalign.encoders.checkpoint import ModelCard, load_checkpoint, read_card, save_checkpoint
from modalign.encoders.dual import DualEncoder
from modalign.encoders.heads import AlignmentHeads, HeadSpec
from modalign.errors import EncoderError, NotFoundError


def unused() -> object:
    raise AssertionError("towers are not needed for precomputed features")


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_round_trip_gives_identical_embeddings(tmp_path: Path, kind: str) -> None:
    torch.manual_seed(3)
    spec = HeadSpec(embed_dim=16, hidden_dim=32, kind=kind)  # type: ignore[arg-type]
    heads = AlignmentHeads(spec)
    with torch.no_grad():
        heads.logit_scale.fill_(3.0)
    card = ModelCard(name="v9", towers={"image": {"id": "x"}}, heads=spec.to_dict(),
                     temperature=0.05, data_hash="abc", metrics={"val": {"R@10": 1.0}})
    save_checkpoint(tmp_path / "v9", heads, card)
    loaded, loaded_card = load_checkpoint(tmp_path / "v9")

    rng = np.random.default_rng(0)
    image_features = rng.normal(size=(5, 3328)).astype(np.float32)
    text_features = rng.normal(size=(5, 384)).astype(np.float32)
    before = DualEncoder(heads, "v9", unused, unused)  # type: ignore[arg-type]
    after = DualEncoder(loaded, "v9", unused, unused)  # type: ignore[arg-type]
    assert np.array_equal(
        before.encode_image_features(image_features), after.encode_image_features(image_features)
    )
    assert np.array_equal(
        before.encode_text_features(text_features), after.encode_text_features(text_features)
    )
    assert float(loaded.logit_scale.detach()) == 3.0
    assert loaded_card == card and loaded_card.dim == 16 and loaded_card.spec == spec
    assert read_card(tmp_path / "v9").to_dict()["dims"] == {"embed": 16, "image": 3328, "text": 384}


def test_missing_checkpoint_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        load_checkpoint(tmp_path / "nope")


@pytest.mark.parametrize("payload", [b"", b"\x10\x00\x00\x00\x00\x00\x00\x00{not json"])
def test_corrupt_weights_are_an_encoder_error(tmp_path: Path, payload: bytes) -> None:
    spec = HeadSpec(embed_dim=8, hidden_dim=16)
    card = ModelCard(name="v9", towers={}, heads=spec.to_dict(), temperature=0.05,
                     data_hash="abc", metrics={})
    save_checkpoint(tmp_path / "v9", AlignmentHeads(spec), card)
    (tmp_path / "v9" / "heads.safetensors").write_bytes(payload)
    with pytest.raises(EncoderError, match="cannot load the heads"):
        load_checkpoint(tmp_path / "v9")
