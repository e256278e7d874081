"""Keyword and hybrid queries on both store backends: sparse vectors with the engine's IDF, one
prefetch + reciprocal-rank-fusion call, filters in both lists, and versions made without them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import qdrant_edge as qe
from qdrant_client import QdrantClient, models

from modalign.config import StoreSettings
from modalign.errors import InvalidInputError
from modalign.search import Filter, ImagePayload, Kind, Match, PointIn, QueryParams, VectorStore
from modalign.search.client import SearchClient
from modalign.search.edge_store import EdgeStore
from modalign.search.naming import collection_name, image_point_id
from modalign.search.qdrant_client_store import ClientStore
from modalign.search.sparse import KeywordEncoder

from .conftest import open_backend
from .dataset import EPOCH

DIM = 8
TEXTS = [
    "a red apple on a table", "a green apple", "a yellow banana", "a red car", "a blue car",
    "an axolotl in a tank", "a red bicycle", "a green tree", "a blue sky", "a red rose",
]


@pytest.fixture(scope="module")
def keywords() -> KeywordEncoder:
    return KeywordEncoder()


def payload(i: int) -> ImagePayload:
    digest = hashlib.sha256(f"img{i}".encode()).hexdigest()
    return ImagePayload(asset_id=i + 1, content_hash=digest, source="emoji" if i % 2 else "clip",
                        created_at=EPOCH, width=10, height=10)


def points(keywords: KeywordEncoder) -> list[PointIn]:
    out = []
    for i, text in enumerate(TEXTS):
        vec = np.zeros(DIM, dtype=np.float32)
        vec[i % DIM] = 1.0
        vec[(i + 1) % DIM] = 0.1 + 0.05 * i  # no two points alike
        p = payload(i)
        out.append(PointIn(image_point_id(p.content_hash), vec, p, keywords.document([text])))
    return out


def loaded(store: VectorStore, keywords: KeywordEncoder) -> VectorStore:
    store.create_version("v1", image_dim=DIM, caption_dim=DIM)
    store.upsert(Kind.IMAGES, points(keywords), version="v1")
    store.set_active_version("v1")
    return store


def asset_ids(hits: list) -> list[int]:  # type: ignore[type-arg]
    return [int(h.payload["asset_id"]) for h in hits]


def direction(i: int) -> np.ndarray:
    vec = np.zeros(DIM, dtype=np.float32)
    vec[i] = 1.0
    return vec


def test_new_versions_have_keyword_vectors(
    fresh_store: VectorStore, keywords: KeywordEncoder
) -> None:
    store = loaded(fresh_store, keywords)
    assert store.info(Kind.IMAGES).keywords and store.info(Kind.CAPTIONS).keywords
    [record] = store.retrieve(Kind.IMAGES, [points(keywords)[5].id], with_vectors=True)
    assert record.sparse == keywords.document([TEXTS[5]])
    assert record.vector is not None and record.vector.shape == (DIM,)


def test_keyword_finds_an_exact_rare_word(
    fresh_store: VectorStore, keywords: KeywordEncoder
) -> None:
    store = loaded(fresh_store, keywords)
    hits = store.query(Kind.IMAGES, None, sparse=keywords.query("axolotl"),
                       params=QueryParams(mode="keyword"))
    assert asset_ids(hits) == [6]


def test_keyword_ranks_by_idf(fresh_store: VectorStore, keywords: KeywordEncoder) -> None:
    store = loaded(fresh_store, keywords)
    hits = store.query(Kind.IMAGES, None, sparse=keywords.query("red banana"),
                       params=QueryParams(mode="keyword", limit=3))
    assert asset_ids(hits)[0] == 3  # "banana" is in one text, "red" in four: rarer weighs more


def test_hybrid_fuses_both_lists_by_reciprocal_rank(
    fresh_store: VectorStore, keywords: KeywordEncoder
) -> None:
    store = loaded(fresh_store, keywords)
    dense, sparse = direction(2), keywords.query("axolotl")
    vector = asset_ids(store.query(Kind.IMAGES, dense, params=QueryParams(limit=10)))
    words = asset_ids(store.query(Kind.IMAGES, None, sparse=sparse,
                                  params=QueryParams(mode="keyword", limit=10)))
    hybrid = store.query(Kind.IMAGES, dense, sparse=sparse,
                         params=QueryParams(mode="hybrid", keyword_weight=1.0))
    expected = {a: 1 / (60 + vector.index(a)) for a in vector}  # the engine counts from 0
    for rank, a in enumerate(words):
        expected[a] = expected.get(a, 0.0) + 1 / (60 + rank)
    assert {h.payload["asset_id"]: pytest.approx(h.score) for h in hybrid} == expected
    assert set(asset_ids(hybrid)[:2]) == {vector[0], words[0]}


def test_hybrid_keyword_weight_and_paging(
    fresh_store: VectorStore, keywords: KeywordEncoder
) -> None:
    store = loaded(fresh_store, keywords)
    dense, sparse = direction(0), keywords.query("axolotl")
    heavy = store.query(Kind.IMAGES, dense, sparse=sparse,
                        params=QueryParams(mode="hybrid", keyword_weight=4.0))
    assert asset_ids(heavy)[0] == 6
    every = store.query(Kind.IMAGES, dense, sparse=sparse,
                        params=QueryParams(mode="hybrid", limit=5, prefetch=5))
    page = store.query(Kind.IMAGES, dense, sparse=sparse,
                       params=QueryParams(mode="hybrid", limit=3, offset=2, prefetch=1))
    assert [h.score for h in page] == pytest.approx([h.score for h in every[2:5]])  # depth 5


def test_filters_apply_to_both_lists(fresh_store: VectorStore, keywords: KeywordEncoder) -> None:
    store = loaded(fresh_store, keywords)
    flt = Filter(must=[Match(field="source", value="clip")])  # even indices: axolotl (5) is out
    for mode in ("keyword", "hybrid"):
        hits = store.query(Kind.IMAGES, direction(5), sparse=keywords.query("axolotl red"),
                           filter=flt, params=QueryParams(mode=mode))
        assert hits and all(h.payload["source"] == "clip" for h in hits)
        assert 6 not in asset_ids(hits)


def test_bad_modes_and_missing_inputs_are_refused(
    fresh_store: VectorStore, keywords: KeywordEncoder
) -> None:
    store = loaded(fresh_store, keywords)
    with pytest.raises(InvalidInputError, match=r"unknown search mode 'fuzzy'.*vector, keyword"):
        store.query(Kind.IMAGES, direction(0), params=QueryParams(mode="fuzzy"))
    with pytest.raises(InvalidInputError, match="needs keywords"):
        store.query(Kind.IMAGES, direction(0), params=QueryParams(mode="hybrid"))
    with pytest.raises(InvalidInputError, match="needs a vector"):
        store.query(Kind.IMAGES, None, sparse=keywords.query("red"),
                    params=QueryParams(mode="hybrid"))
    with pytest.raises(InvalidInputError, match="prefetch"):
        store.query(Kind.IMAGES, direction(0), sparse=keywords.query("red"),
                    params=QueryParams(mode="hybrid", prefetch=0))


# -- versions made before keyword vectors ---------------------------------------------------


def old_store(backend: str, root: Path) -> VectorStore:
    """A store holding version v1 laid out as before keyword vectors: a dense vector only."""
    names = [collection_name("modalign", "v1", kind) for kind in Kind]
    if backend == "edge":
        for name in names:
            dense = qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine)
            config = qe.EdgeConfig(vectors=dense)
            qe.EdgeShard.create(str(root / "collections" / name), config).close()
        state = {"versions": {"v1": {"image_dim": DIM, "caption_dim": DIM,
                                     "quantization": "none"}}, "active": "v1"}
        (root / "state.json").write_text(json.dumps(state))
        return EdgeStore(root, StoreSettings())
    client = QdrantClient(location=":memory:")
    for name in names:
        client.create_collection(name, vectors_config=models.VectorParams(
            size=DIM, distance=models.Distance.COSINE))
    store = ClientStore(client, StoreSettings(), local=True)
    store.set_active_version("v1")
    return store


def test_old_versions_answer_vector_queries_and_name_reindex_for_keywords(
    backend: str, tmp_path: Path, keywords: KeywordEncoder
) -> None:
    (tmp_path / "collections").mkdir()
    store = old_store(backend, tmp_path)
    try:
        store.create_version("v1", image_dim=DIM, caption_dim=DIM)  # a no-op, as before
        store.upsert(Kind.IMAGES, points(keywords), version="v1")  # keywords left out
        assert not store.info(Kind.IMAGES).keywords
        assert asset_ids(store.query(Kind.IMAGES, direction(3), params=QueryParams(limit=1))) == [4]
        for mode in ("keyword", "hybrid"):
            with pytest.raises(InvalidInputError, match=r"no keyword vectors.*modalign reindex"):
                store.query(Kind.IMAGES, direction(3), sparse=keywords.query("red"),
                            params=QueryParams(mode=mode))
    finally:
        store.close()


def test_both_backends_agree(tmp_path: Path, keywords: KeywordEncoder) -> None:
    stores = [loaded(open_backend(b, tmp_path / b), keywords) for b in ("edge", "client")]
    try:
        for mode in ("keyword", "hybrid"):
            params = QueryParams(mode=mode, limit=5)
            query = np.random.default_rng(3).normal(size=DIM)  # no ties in either list
            found = [s.query(Kind.IMAGES, query, params=params,
                             sparse=keywords.query("table apple green")) for s in stores]
            assert asset_ids(found[0]) == asset_ids(found[1])
            assert [h.score for h in found[0]] == pytest.approx([h.score for h in found[1]])
    finally:
        for store in stores:
            store.close()


class _FixedText:
    """An encoder whose every text query is one fixed vector (the client needs one for text)."""

    version = "v1"

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(self.vector, (len(texts), 1))

    def encode_images(self, images: Sequence[object]) -> np.ndarray:
        raise AssertionError("no image queries here")


def test_the_default_mode_falls_back_to_vector_on_old_versions(
    backend: str, tmp_path: Path, keywords: KeywordEncoder
) -> None:
    (tmp_path / "collections").mkdir()
    store = old_store(backend, tmp_path)
    try:
        store.upsert(Kind.IMAGES, points(keywords), version="v1")
        client = SearchClient(store, encoder=_FixedText(direction(3)), mode="hybrid")
        hits = client.search_images(text="red", limit=1)  # default mode: vector here
        assert [h.asset_id for h in hits] == [4]
        with pytest.raises(InvalidInputError, match="modalign reindex"):  # named: refused
            client.search_images(text="red", mode="hybrid")
    finally:
        store.close()
