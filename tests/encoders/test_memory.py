"""PairMemory: expansion by the nearest training pairs, its limits, its checkpoint round trip."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from modalign.encoders.checkpoint import ModelCard, load_checkpoint, load_memory, save_checkpoint
from modalign.encoders.dual import DualEncoder
from modalign.encoders.heads import AlignmentHeads, HeadSpec
from modalign.encoders.memory import MemorySpec, PairMemory
from modalign.encoders.random_model import random_memory as random_memory_of_size
from modalign.errors import EncoderError, InvalidInputError


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def random_memory(spec: MemorySpec) -> PairMemory:
    """30 random images with 60 captions in 8 dimensions."""
    return random_memory_of_size(8, images=30, captions=60, spec=spec)


def test_one_neighbour_adds_its_captions_mean() -> None:
    images = np.eye(3, dtype=np.float32)[:2]
    captions = unit(np.array([[0, 1, 1], [0, 1, -1], [1, 0, 1]], dtype=np.float32))
    memory = PairMemory.build(images, captions, np.array([0, 0, 1]), MemorySpec(1, 0.1, 0.5))
    query = unit(np.array([[0.9, 0.1, 0.0]], dtype=np.float32))  # nearest training image: 0

    expanded = memory.expand_images(query)

    captions_mean = np.array([[0, 1, 0]], dtype=np.float32)  # unit mean of image 0's captions
    assert np.allclose(expanded, unit(query + 0.5 * captions_mean), atol=1e-6)
    text = memory.expand_texts(captions[2:3])  # its nearest caption is itself, owned by image 1
    assert np.allclose(text, unit(captions[2:3] + 0.5 * images[1:2]), atol=1e-6)


def test_every_key_as_a_neighbour_is_the_softmax_over_the_whole_memory() -> None:
    memory = random_memory(MemorySpec(30, 0.2, 1.0))  # k equals the 30 memory images
    query = unit(np.random.default_rng(5).normal(size=(1, 8)).astype(np.float32))
    cosines = (query @ memory.images.T)[0]
    weights = np.exp(cosines / 0.2) / np.exp(cosines / 0.2).sum()
    wanted = unit(query + weights @ memory.caption_means)
    assert np.allclose(memory.expand_images(query), wanted, atol=1e-5)


def test_expansion_weights_neighbours_by_softmax_of_their_cosines() -> None:
    memory = random_memory(MemorySpec(4, 0.2, 1.0))
    query = unit(np.random.default_rng(1).normal(size=(1, 8)).astype(np.float32))
    cosines = (query @ memory.images.T)[0]
    nearest = np.argsort(-cosines)[:4]
    weights = np.exp(cosines[nearest] / 0.2) / np.exp(cosines[nearest] / 0.2).sum()
    wanted = unit(query + weights @ memory.caption_means[nearest])
    assert np.allclose(memory.expand_images(query), wanted, atol=1e-5)


def test_chunked_expansion_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = random_memory(MemorySpec(3, 0.1, 1.0))
    queries = unit(np.random.default_rng(4).normal(size=(10, 8)).astype(np.float32))
    whole = memory.expand_texts(queries)
    monkeypatch.setattr("modalign.encoders.memory.CHUNK_ROWS", 3)
    assert np.allclose(memory.expand_texts(queries), whole, atol=1e-6)


def test_expanded_rows_are_unit_and_weight_zero_changes_nothing() -> None:
    queries = unit(np.random.default_rng(2).normal(size=(7, 8)).astype(np.float32))
    expanded = random_memory(MemorySpec(50, 0.1, 2.0)).expand_images(queries)  # k > 30 images
    assert expanded.shape == (7, 8) and np.allclose(np.linalg.norm(expanded, axis=1), 1, atol=1e-6)
    assert not np.allclose(expanded, queries)
    assert np.array_equal(random_memory(MemorySpec(weight=0.0)).expand_images(queries), queries)
    assert random_memory(MemorySpec()).expand_images(queries[:0]).shape == (0, 8)


def test_bad_specs_and_uncaptioned_images_are_refused() -> None:
    for bad in ({"neighbours": 0}, {"temperature": 0.0}, {"weight": -1.0}):
        with pytest.raises(InvalidInputError):
            MemorySpec(**bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="caption"):
        PairMemory.build(np.eye(3), np.eye(3)[:2], np.array([0, 1]), MemorySpec())
    with pytest.raises(InvalidInputError):
        PairMemory.build(np.eye(3), np.eye(3), np.array([0, 1]), MemorySpec())


def test_checkpoint_round_trip_keeps_the_memory_and_the_encoder_uses_it(tmp_path: Path) -> None:
    torch.manual_seed(0)
    spec = HeadSpec(image_dim=12, text_dim=6, embed_dim=8, hidden_dim=16)
    heads = AlignmentHeads(spec).eval()
    memory = random_memory(MemorySpec(5, 0.1, 1.0))
    card = ModelCard(name="m", towers={}, heads=spec.to_dict(), temperature=0.07, data_hash="x",
                     memory=memory.card_entry())
    save_checkpoint(tmp_path, heads, card, memory=memory)
    loaded_heads, loaded_card = load_checkpoint(tmp_path)
    loaded = load_memory(tmp_path, loaded_card)
    assert loaded is not None and loaded.spec == memory.spec
    for name in ("images", "captions", "caption_owner", "caption_means"):
        assert np.array_equal(getattr(loaded, name), getattr(memory, name))
    assert loaded_card.memory == {"neighbours": 5, "temperature": 0.1, "weight": 1.0,
                                  "images": 30, "captions": 60}

    features = np.random.default_rng(3).normal(size=(4, 12)).astype(np.float32)
    plain = DualEncoder(loaded_heads, "m", None, None)  # type: ignore[arg-type]
    expanded = DualEncoder(loaded_heads, "m", None, None, memory=loaded)  # type: ignore[arg-type]
    heads_only = plain.encode_image_features(features)
    assert np.array_equal(expanded.encode_image_features(features),
                          memory.expand_images(heads_only))
    assert not np.allclose(expanded.encode_image_features(features), heads_only)

    for wrong in ({"images": 31}, {"captions": 59}, {"neighbours": 0}):
        with pytest.raises(EncoderError, match="pair memory"):
            load_memory(tmp_path, replace(loaded_card, memory={**loaded_card.memory, **wrong}))
    (tmp_path / "memory.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(EncoderError, match="pair memory"):
        load_memory(tmp_path, loaded_card)


def test_a_card_without_memory_loads_none(tmp_path: Path) -> None:
    card = ModelCard(name="m", towers={}, heads=HeadSpec().to_dict(), temperature=0.07,
                     data_hash="x")
    assert load_memory(tmp_path, card) is None
