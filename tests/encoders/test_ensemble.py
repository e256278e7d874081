"""HeadEnsemble: members joined through a fitted projection; checkpoint round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from modalign.encoders.checkpoint import ModelCard, load_checkpoint, save_checkpoint
from modalign.encoders.ensemble import HeadEnsemble, build_heads
from modalign.encoders.heads import AlignmentHeads, HeadSpec
from modalign.errors import ConfigError

SPEC = HeadSpec(image_dim=16, text_dim=12, embed_dim=8, hidden_dim=16, members=3)


def _features(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 16)).astype(np.float32),
            rng.normal(size=(n, 12)).astype(np.float32))


def _fitted() -> HeadEnsemble:
    torch.manual_seed(0)
    ensemble = HeadEnsemble(SPEC).eval()
    ensemble.fit_projection(*_features(200, 1))
    return ensemble


def _concatenated(ensemble: HeadEnsemble, images: np.ndarray, texts: np.ndarray) -> np.ndarray:
    """Mean of the members' cosines: what the projection approximates."""
    with torch.inference_mode():
        return np.mean([
            (m.embed_images(torch.from_numpy(images)) @ m.embed_texts(torch.from_numpy(texts)).T)
            .numpy() for m in ensemble.members if isinstance(m, AlignmentHeads)
        ], axis=0)


def test_embeddings_are_unit_rows_of_embed_dim() -> None:
    ensemble = _fitted()
    images, texts = _features(7, 2)
    with torch.inference_mode():
        out = [ensemble.embed_images(torch.from_numpy(images)),
               ensemble.embed_texts(torch.from_numpy(texts))]
    for part in out:
        assert part.shape == (7, 8)
        assert np.allclose(part.norm(dim=1).numpy(), 1.0, atol=1e-5)


def test_projection_keeps_the_members_similarities_better_than_a_random_one() -> None:
    ensemble = _fitted()
    projection = ensemble.projection.numpy()
    assert np.allclose(projection.T @ projection, np.eye(8), atol=1e-5)
    images, texts = _features(50, 3)
    target = _concatenated(ensemble, images, texts)

    def error() -> float:
        with torch.inference_mode():
            got = (ensemble.embed_images(torch.from_numpy(images))
                   @ ensemble.embed_texts(torch.from_numpy(texts)).T).numpy()
        return float(np.corrcoef(got.ravel(), target.ravel())[0, 1])

    fitted = error()
    random, _ = torch.linalg.qr(torch.randn(24, 8, generator=torch.Generator().manual_seed(5)))
    ensemble.projection.copy_(random)
    assert fitted > error() and fitted > 0.8


def test_round_trip_gives_identical_embeddings(tmp_path: Path) -> None:
    ensemble = _fitted()
    card = ModelCard(name="e1", towers={}, heads=SPEC.to_dict(), temperature=0.07,
                     data_hash="abc")
    save_checkpoint(tmp_path / "e1", ensemble, card)
    loaded, loaded_card = load_checkpoint(tmp_path / "e1")
    assert isinstance(loaded, HeadEnsemble) and loaded_card.spec.members == 3
    images, texts = _features(5, 4)
    with torch.inference_mode():
        for name in ("embed_images", "embed_texts"):
            source = torch.from_numpy(images if name == "embed_images" else texts)
            assert torch.equal(getattr(ensemble, name)(source), getattr(loaded, name)(source))


def test_build_heads_picks_the_kind_and_refuses_a_one_member_ensemble() -> None:
    assert isinstance(build_heads(HeadSpec(members=1)), AlignmentHeads)
    assert isinstance(build_heads(SPEC), HeadEnsemble)
    with pytest.raises(ConfigError):
        HeadEnsemble(HeadSpec(members=1))
