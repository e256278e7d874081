"""Vector store and search: one store protocol, two Qdrant backends, filters and SearchClient.

Cheap to import: the backends (qdrant-edge, qdrant-client) load when a store is opened.
"""

from __future__ import annotations

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
from modalign.search.naming import (
    Kind,
    alias_name,
    caption_point_id,
    collection_name,
    image_point_id,
)
from modalign.search.schema import CaptionPayload, FieldType, ImagePayload, fields_of
from modalign.search.store import CollectionInfo, Hit, PointIn, QueryParams, Record, VectorStore

__all__ = [
    "CaptionPayload",
    "CollectionInfo",
    "DatetimeRange",
    "FieldType",
    "Filter",
    "Hit",
    "ImagePayload",
    "IsEmpty",
    "Kind",
    "Match",
    "MatchAny",
    "PointIn",
    "QueryParams",
    "Range",
    "Record",
    "VectorStore",
    "alias_name",
    "caption_point_id",
    "check_filter",
    "collection_name",
    "fields_of",
    "image_point_id",
    "open_store",
    "parse_filter",
]
