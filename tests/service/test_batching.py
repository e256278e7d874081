"""Text queries encoded in batches give the same vectors as one by one, in fewer passes."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from modalign.encoders.dual import DualEncoder
from modalign.errors import TransientError
from modalign.service.batching import TextBatcher
from modalign.service.state import ServiceState

from .helpers import LiveServer

TEXTS = [f"a {colour} thing number {i}" for i, colour in enumerate(["red", "blue"] * 16)]


@pytest.fixture
def encoder(live: LiveServer) -> DualEncoder:
    state: ServiceState = live.app.state.modalign
    assert state.encoder.current is not None
    return state.encoder.current


def test_concurrent_queries_share_passes_and_get_their_own_rows(encoder: DualEncoder) -> None:
    passes = 0
    lock = threading.Lock()

    def current() -> DualEncoder:
        nonlocal passes
        with lock:
            passes += 1
        return encoder

    batcher = TextBatcher(current, max_batch=8)
    try:
        with ThreadPoolExecutor(len(TEXTS)) as pool:
            results = list(pool.map(batcher.encode, TEXTS))
    finally:
        batcher.close()
    expected = encoder.encode_texts(TEXTS)
    for (row, version), want in zip(results, expected, strict=True):
        assert version == encoder.version
        np.testing.assert_allclose(row, want, atol=1e-5)
    assert len(TEXTS) / 8 <= passes < len(TEXTS)


def test_without_an_encoder_or_after_close_queries_fail_cleanly(encoder: DualEncoder) -> None:
    empty = TextBatcher(lambda: None)
    with pytest.raises(TransientError):
        empty.encode("x")
    empty.close()
    with pytest.raises(TransientError):
        empty.encode("x")
