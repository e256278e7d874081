"""Vector store and search: one store protocol, two Qdrant backends, filters and SearchClient.

The backends (qdrant-edge, qdrant-client) are imported when a store is opened, not here.
"""

from __future__ import annotations

from modalign.search.api import QueryOptions, SearchApi
from modalign.search.client import QueryEncoder, SearchClient
from modalign.search.connect import open_search_client
from modalign.search.factory import open_store
from modalign.search.filters import (
    DatetimeRange,
    Filter,
    IsEmpty,
    Match,
    MatchAny,
    Range,
    check_filter,
    parse_filter,
)
from modalign.search.hydrate import AssetLookup, CatalogLookup
from modalign.search.naming import (
    Kind,
    alias_name,
    caption_point_id,
    collection_name,
    image_point_id,
)
from modalign.search.results import AssetInfo, CaptionHit, CaptionInfo, ImageHit
from modalign.search.schema import CaptionPayload, FieldType, ImagePayload, fields_of
from modalign.search.store import CollectionInfo, Hit, PointIn, QueryParams, Record, VectorStore

__all__ = [
    "AssetInfo",
    "AssetLookup",
    "CaptionHit",
    "CaptionInfo",
    "CaptionPayload",
    "CatalogLookup",
    "CollectionInfo",
    "DatetimeRange",
    "FieldType",
    "Filter",
    "Hit",
    "ImageHit",
    "ImagePayload",
    "IsEmpty",
    "Kind",
    "Match",
    "MatchAny",
    "PointIn",
    "QueryEncoder",
    "QueryOptions",
    "QueryParams",
    "Range",
    "Record",
    "SearchApi",
    "SearchClient",
    "VectorStore",
    "alias_name",
    "caption_point_id",
    "check_filter",
    "collection_name",
    "fields_of",
    "image_point_id",
    "open_search_client",
    "open_store",
    "parse_filter",
]
