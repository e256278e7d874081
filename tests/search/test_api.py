"""Both clients implement SearchApi exactly, and the query options have one set of defaults."""

from __future__ import annotations

import inspect

import pytest

from modalign.errors import InvalidInputError
from modalign.search.api import OPTION_NAMES, Options, QueryOptions, SearchApi
from modalign.search.client import SearchClient
from modalign.search.filters import Filter, Match
from modalign.service.remote import RemoteSearchClient

METHODS = [name for name, _ in inspect.getmembers(SearchApi, inspect.isfunction)
           if not name.startswith("_")]


def test_the_protocol_names_every_search_and_edit() -> None:
    assert set(METHODS) == {
        "search_images", "search_captions", "similar_images", "delete_assets", "update_asset"
    }


@pytest.mark.parametrize("client", [SearchClient, RemoteSearchClient])
@pytest.mark.parametrize("method", METHODS)
def test_each_client_has_the_protocol_s_signature(client: type, method: str) -> None:
    expected = inspect.signature(getattr(SearchApi, method))
    assert inspect.signature(getattr(client, method)) == expected


def test_the_options_type_and_its_defaults_name_the_same_fields() -> None:
    assert set(QueryOptions.__annotations__) == OPTION_NAMES


def test_options_fill_defaults_and_refuse_unknown_names() -> None:
    only = Filter(must=[Match(field="source", value="emoji")])
    chosen = Options.of({"limit": 3, "filter": only})
    assert (chosen.limit, chosen.offset, chosen.hydrate, chosen.filter) == (3, 0, True, only)
    params = chosen.params()
    assert (params.limit, params.hnsw_ef, params.exact) == (3, None, False)
    with pytest.raises(InvalidInputError, match="limt"):
        Options.of({"limt": 3})  # type: ignore[typeddict-unknown-key]
