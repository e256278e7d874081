"""SearchClient's search modes: defaults, validation, keyword queries without an encoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from modalign.errors import InvalidInputError
from modalign.search import VectorStore
from modalign.search.client import SearchClient
from modalign.search.sparse import KeywordEncoder

from .conftest import open_backend
from .test_client import DIM
from .test_hybrid import TEXTS, loaded


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[VectorStore]:
    opened = open_backend(backend, tmp_path / "store")
    loaded_store = _loaded_dim(opened)
    yield loaded_store
    opened.close()


def _loaded_dim(store: VectorStore) -> VectorStore:
    assert DIM >= 8
    return loaded(store, KeywordEncoder())


def test_keyword_mode_needs_no_encoder(store: VectorStore) -> None:
    hits = SearchClient(store).search_images(text="axolotl", mode="keyword")
    assert [h.asset_id for h in hits] == [TEXTS.index("an axolotl in a tank") + 1]


def test_unknown_mode_is_refused_with_the_choices(store: VectorStore) -> None:
    client = SearchClient(store)
    with pytest.raises(InvalidInputError, match="unknown search mode 'fuzzy'"):
        client.search_images(text="red", mode="fuzzy")
    with pytest.raises(InvalidInputError, match="unknown search mode"):
        SearchClient(store, mode="fuzzy")


def test_keyword_and_hybrid_need_a_text_query(store: VectorStore) -> None:
    client = SearchClient(store, mode="hybrid")
    for mode in ("keyword", "hybrid"):
        with pytest.raises(InvalidInputError, match="text query"):
            client.search_images(vector=np.ones(8), mode=mode)
    assert client.search_images(vector=np.ones(8), limit=3)  # default mode: vector for vectors


def test_keyword_query_of_stopwords_is_refused(store: VectorStore) -> None:
    with pytest.raises(InvalidInputError, match="no keywords"):
        SearchClient(store).search_images(text="the of", mode="keyword")


