"""The ONNX text tower against sentence-transformers: same features, order kept, export reused."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from modalign.encoders.onnx_text import OnnxTextTower, onnx_text_model_path
from modalign.encoders.towers import TEXT_FEATURE_DIM, SentenceTextTower, text_tower_id

TEXTS = [
    "dog",
    "a small red car parked next to a green leafy tree",
    "x" * 1000,
    " ".join(["the quick brown fox jumps over the lazy dog"] * 23)[:1000],
    "café crème brûlée, type 1–2 — 日本語のテキスト 🍕",
    "dog",
    "Ünïcödé ŝtrïng with ąccents",
    "a small red car parked next to a green leafy tree",
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-text-cache")


@pytest.fixture(scope="module")
def fast(onnx_cache: Path) -> OnnxTextTower:
    return OnnxTextTower(onnx_cache, threads=1)


@pytest.fixture(scope="module")
def eager() -> SentenceTextTower:
    return SentenceTextTower(threads=1)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_features_match_sentence_transformers(
    fast: OnnxTextTower, eager: SentenceTextTower
) -> None:
    ours, reference = fast.features(TEXTS), eager.features(TEXTS)
    assert ours.shape == reference.shape == (len(TEXTS), TEXT_FEATURE_DIM)
    assert ours.dtype == np.float32
    assert cosines(ours, reference).min() >= 0.999
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(ours[0], ours[5], atol=1e-6)  # duplicates agree
    assert fast.tower_id == eager.tower_id == text_tower_id()


def test_rows_keep_the_input_order(fast: OnnxTextTower) -> None:
    together = fast.features(TEXTS)
    one_by_one = np.stack([fast.features([text])[0] for text in TEXTS])
    assert cosines(together, one_by_one).min() >= 0.9999
    assert cosines(together[:1], together[2:3])[0] < 0.99  # distinct texts, distinct rows


def test_small_batches_give_the_same_rows(onnx_cache: Path, fast: OnnxTextTower) -> None:
    small = OnnxTextTower(onnx_cache, threads=1, batch_size=3)
    assert cosines(small.features(TEXTS), fast.features(TEXTS)).min() >= 0.9999


def test_empty_input(fast: OnnxTextTower) -> None:
    assert fast.features([]).shape == (0, TEXT_FEATURE_DIM)


def test_second_construction_reuses_the_export(
    onnx_cache: Path, fast: OnnxTextTower, caplog: pytest.LogCaptureFixture
) -> None:
    path = onnx_text_model_path(onnx_cache, 1)
    assert path == fast.model_path and path.exists()
    before = path.stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="modalign.encoders.onnx_text"):
        again = OnnxTextTower(onnx_cache, threads=1)
    assert again.model_path == path
    assert path.stat().st_mtime_ns == before
    assert not [r for r in caplog.records if "exported the text tower" in r.getMessage()]
    assert not list(path.parent.glob("*.tmp"))
