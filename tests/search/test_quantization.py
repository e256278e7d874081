"""Quantized collections on both backends: results against brute force, rescoring on the original
vectors, the setting fixed at creation, and the bounds of a query's oversampling.

qdrant-client's local mode records the quantization but searches exactly (it has no quantized
engine), so what only a quantizing engine shows (approximate scores without rescoring, the
quantized storage on disk) is checked on qdrant-edge.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from modalign.config import StoreSettings, load_settings
from modalign.errors import ConfigError, InvalidInputError
from modalign.search import Kind, QueryParams, VectorStore
from modalign.search.edge_store import EdgeStore
from modalign.search.qdrant_client_store import ClientStore
from modalign.search.quantization import check_kind

from .conftest import BACKENDS, load
from .dataset import CAPTION_DIM, IMAGE_DIM, Dataset, exact_top

KINDS = ["int8", "binary"]
OVERSAMPLING = {"int8": 4.0, "binary": 16.0}
MIN_RECALL = {"int8": 0.95, "binary": 0.85}  # 1,500 random 32-d vectors: binary is coarse there


def open_quantized(backend: str, root: Path, settings: StoreSettings) -> VectorStore:
    """A store of ``backend`` whose optimize() indexes (and so quantizes) even a small set."""
    if backend == "edge":
        return EdgeStore(root, settings, indexing_threshold_kb=1)
    return ClientStore(QdrantClient(location=":memory:"), settings, local=True)


@pytest.fixture(scope="module", params=[(b, k) for b in BACKENDS for k in KINDS], ids="-".join)
def quantized_of(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, dataset: Dataset
) -> Iterator[tuple[VectorStore, str]]:
    """A loaded and optimized store per backend and quantization kind, shared by the module."""
    backend, kind = request.param
    root = tmp_path_factory.mktemp(f"quantized-{backend}-{kind}")
    store = open_quantized(backend, root, StoreSettings(quantization=kind))
    load(store, dataset)
    store.optimize()
    yield store, kind
    store.close()


@pytest.fixture
def quantized(quantized_of: tuple[VectorStore, str]) -> VectorStore:
    return quantized_of[0]


@pytest.fixture
def quantization(quantized_of: tuple[VectorStore, str]) -> str:
    return quantized_of[1]


def _queries(n: int = 20) -> np.ndarray:
    return np.random.default_rng(3).normal(size=(n, IMAGE_DIM)).astype(np.float32)


def _exact_scores(dataset: Dataset, q: np.ndarray) -> dict[str, float]:
    vectors = dataset.image_vectors / np.linalg.norm(dataset.image_vectors, axis=1, keepdims=True)
    scores = vectors @ (q / np.linalg.norm(q))
    return {p.id: float(s) for p, s in zip(dataset.images, scores, strict=True)}


def test_info_reports_the_quantization(quantized: VectorStore, quantization: str) -> None:
    for kind in Kind:
        assert quantized.info(kind).quantization == quantization


def test_rescored_results_near_brute_force(
    quantized: VectorStore, dataset: Dataset, quantization: str
) -> None:
    """HNSW over quantized vectors, oversampled and rescored: near the exact top 10, and every
    score returned is the exact cosine of that point (rescored on the original vectors)."""
    found, wanted = 0, 0
    for q in _queries():
        hits = quantized.query(
            Kind.IMAGES, q, params=QueryParams(limit=10, oversampling=OVERSAMPLING[quantization])
        )
        exact = _exact_scores(dataset, q)
        assert [h.score for h in hits] == pytest.approx([exact[h.id] for h in hits], abs=1e-4)
        truth = {i for i, _ in exact_top(dataset.images, dataset.image_vectors, q, None, 10)}
        found, wanted = found + len(truth & {h.id for h in hits}), wanted + len(truth)
    assert found / wanted >= MIN_RECALL[quantization]


def test_exact_query_ignores_the_quantization(quantized: VectorStore, dataset: Dataset) -> None:
    for q in _queries(5):
        hits = quantized.query(Kind.IMAGES, q, params=QueryParams(limit=10, exact=True))
        expected = exact_top(dataset.images, dataset.image_vectors, q, None, 10)
        assert [h.id for h in hits] == [i for i, _ in expected]


@pytest.mark.parametrize("oversampling", [0.5, 0.999, 16.01, 100.0, float("nan")])
def test_oversampling_out_of_range_is_invalid_input(
    quantized: VectorStore, oversampling: float
) -> None:
    with pytest.raises(InvalidInputError, match="oversampling must be between 1 and 16"):
        params = QueryParams(oversampling=oversampling)
        quantized.query(Kind.IMAGES, np.ones(IMAGE_DIM), params=params)


def test_quantization_is_fixed_at_creation(backend: str, tmp_path: Path, dataset: Dataset) -> None:
    """A version made without quantization keeps answering queries, but writing to it under a
    setting that now asks for int8 is refused, naming both values and the way out."""
    client = QdrantClient(location=":memory:")

    def reopen(settings: StoreSettings) -> VectorStore:
        if backend == "edge":
            return EdgeStore(tmp_path, settings)
        return ClientStore(client, settings, local=True)

    store = reopen(StoreSettings())
    load(store, dataset)
    if backend == "edge":
        store.close()
    store = reopen(StoreSettings(quantization="int8"))
    assert store.info(Kind.IMAGES).quantization == "none"
    assert len(store.query(Kind.IMAGES, np.ones(IMAGE_DIM))) == 10
    with pytest.raises(ConfigError) as caught:
        store.create_version("v1", image_dim=IMAGE_DIM, caption_dim=CAPTION_DIM)
    message = str(caught.value)
    assert "store.quantization=none" in message and "now say int8" in message
    assert "MODALIGN_STORE__QUANTIZATION=none" in message and "modalign reindex" in message
    store.create_version("v2", image_dim=IMAGE_DIM, caption_dim=CAPTION_DIM)  # a new one may
    assert store.info(Kind.CAPTIONS, version="v2").quantization == "int8"
    store.close()


def test_edge_rescoring_and_quantized_storage(tmp_path: Path, dataset: Dataset) -> None:
    """qdrant-edge built the int8 copy beside the originals, and without rescoring returns its
    approximate scores (so the rescored ones above really come from the original vectors)."""
    store = open_quantized("edge", tmp_path, StoreSettings(quantization="int8"))
    load(store, dataset)
    store.optimize()
    q = _queries(1)[0]
    plain = store.query(Kind.IMAGES, q, params=QueryParams(limit=10, rescore=False))
    exact = _exact_scores(dataset, q)
    assert max(abs(h.score - exact[h.id]) for h in plain) > 1e-4
    store.close()
    storage = tmp_path / "collections"
    quantized = _size(storage.glob("*__images/segments/*/vector_storage/quantized.data"))
    originals = _size(storage.glob("*__images/segments/*/vector_storage/matrix.dat"))
    assert 0 < quantized < originals / 3


def _size(files: Iterator[Path]) -> int:
    return sum(f.stat().st_size for f in files)


def test_edge_state_before_quantization_reads_as_none(tmp_path: Path) -> None:
    with EdgeStore(tmp_path, StoreSettings()) as store:
        store.create_version("old", image_dim=8, caption_dim=8)
    state = json.loads((tmp_path / "state.json").read_text())
    del state["versions"]["old"]["quantization"]  # as written before the field existed
    (tmp_path / "state.json").write_text(json.dumps(state))
    with EdgeStore(tmp_path, StoreSettings()) as store:
        assert store.info(Kind.IMAGES, version="old").quantization == "none"
        store.create_version("old", image_dim=8, caption_dim=8)  # same setting: a no-op


@pytest.mark.parametrize(
    ("name", "value"),
    [("MODALIGN_STORE__QUANTIZATION", "pq"), ("MODALIGN_STORE__OVERSAMPLING", "32")],
)
def test_bad_settings_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_unknown_quantization_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown quantization 'pq'; choose one of none, int8"):
        check_kind("pq")
