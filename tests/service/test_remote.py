"""One suite, two modes: the embedded SearchClient and RemoteSearchClient over real HTTP.

Both run against the same index (the live server's store, opened once in this process); every
query is also run on both and the typed results compared field by field.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from modalign.errors import InvalidInputError, NotFoundError
from modalign.search.api import SearchApi
from modalign.search.client import SearchClient
from modalign.search.filters import Filter, IsEmpty, Match, MatchAny, Range
from modalign.search.hydrate import CatalogLookup
from modalign.search.results import CaptionHit, ImageHit
from modalign.service.remote import RemoteSearchClient
from modalign.service.state import ServiceState

from .conftest import INDEXED_IMAGES
from .helpers import TINY_DIM, LiveServer

Client = SearchApi  # every test below runs against the Protocol, with each client


def embedded(live: LiveServer) -> SearchClient:
    state: ServiceState = live.app.state.modalign
    encoder = state.encoder.current
    assert encoder is not None
    return SearchClient(
        state.store, encoder=encoder, assets=CatalogLookup(state.readers), version=encoder.version
    )


@pytest.fixture(params=["embedded", "remote"])
def client(request: pytest.FixtureRequest, live: LiveServer) -> Iterator[Client]:
    if request.param == "embedded":
        yield embedded(live)
    else:
        with RemoteSearchClient(live.url) as remote:
            yield remote


@pytest.fixture
def both(live: LiveServer) -> Iterator[tuple[SearchClient, RemoteSearchClient]]:
    with RemoteSearchClient(live.url) as remote:
        yield embedded(live), remote


def test_text_search_types_and_order(client: Client) -> None:
    hits = client.search_images(text="a green square", limit=7)
    assert len(hits) == 7
    assert all(isinstance(h, ImageHit) and h.asset is not None for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_caption_search_types(client: Client) -> None:
    image = Image.new("RGB", (48, 48), "blue")
    hits = client.search_captions(image=image, limit=4)
    assert len(hits) == 4
    assert all(isinstance(h, CaptionHit) and h.text for h in hits)


def test_exactly_one_query_and_unknown_assets(client: Client) -> None:
    with pytest.raises(InvalidInputError):
        client.search_images(text="a", vector=[0.0] * TINY_DIM)
    with pytest.raises(InvalidInputError):
        client.search_images()
    with pytest.raises(NotFoundError):
        client.similar_images(10**9)


def test_hydration_can_be_turned_off(client: Client) -> None:
    hits = client.search_images(text="x", limit=3, hydrate=False)
    assert [h.asset for h in hits] == [None, None, None]


QUERIES: list[dict[str, Any]] = [
    {"text": "a red circle", "limit": 10},
    {"text": "purple cross", "limit": 5, "offset": 3},
    {"text": "shape", "exact": True, "limit": INDEXED_IMAGES},
    {"text": "shape", "ef": 16, "score_threshold": -0.2},
    {"text": "shape", "oversampling": 4.0},
    {"vector": [0.5] * TINY_DIM, "limit": 6},
    {"image": Image.new("RGB", (40, 40), "orange"), "limit": 5},
    {"image": Image.new("RGB", (40, 40), "orange"), "text": "but round", "text_weight": 0.3,
     "mode": "vector", "limit": 5},
    {"text": "a", "filter": Filter(must=[Match(field="dataset", value="shapes")])},
    {"text": "a", "filter": Filter(must=[Range(field="width", gte=96, lte=96)], must_not=[
        MatchAny(field="asset_id", values=[1, 2, 3])])},
    {"text": "a", "filter": Filter(
        should=[IsEmpty(field="split"), Match(field="tags", value="t")])},
]


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: ",".join(sorted(q)))
def test_embedded_and_remote_return_the_same_hits(
    both: tuple[SearchClient, RemoteSearchClient], query: dict[str, Any]
) -> None:
    local, remote = both
    for method in ("search_images", "search_captions"):
        expected = getattr(local, method)(**query)
        got = getattr(remote, method)(**query)
        assert expected, (method, query)
        assert [h.point_id for h in got] == [h.point_id for h in expected]
        for a, b in zip(got, expected, strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-6)
            assert a.asset == b.asset
            assert dict(a.payload) == dict(b.payload)


def test_similar_images_are_the_same_in_both_modes(
    both: tuple[SearchClient, RemoteSearchClient],
) -> None:
    local, remote = both
    asset_id = local.search_images(text="x", limit=1)[0].asset_id
    expected = local.similar_images(asset_id, limit=8)
    got = remote.similar_images(asset_id, limit=8)
    assert got == expected
