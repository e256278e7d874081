"""What the points of each collection carry: payload models and the index type of each field.

Every filterable field has a payload index (created before the first upsert, so the HNSW graph is
built with filter-aware links). Caption points repeat their image's filterable fields, so a caption
search is filtered the same way as an image search, and add ``text``, ``position`` and
``image_point_id``. Datetimes are stored as RFC 3339 strings in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modalign.search.naming import Kind


class FieldType(StrEnum):
    """Index type of a payload field."""

    KEYWORD = "keyword"
    INTEGER = "integer"
    DATETIME = "datetime"


IMAGE_FIELDS: Mapping[str, FieldType] = {
    "asset_id": FieldType.INTEGER,
    "content_hash": FieldType.KEYWORD,
    "source": FieldType.KEYWORD,
    "dataset": FieldType.KEYWORD,
    "split": FieldType.KEYWORD,
    "tags": FieldType.KEYWORD,
    "created_at": FieldType.DATETIME,
    "width": FieldType.INTEGER,
    "height": FieldType.INTEGER,
}

CAPTION_FIELDS: Mapping[str, FieldType] = {
    **IMAGE_FIELDS,
    "position": FieldType.INTEGER,
    "image_point_id": FieldType.KEYWORD,
}


def fields_of(kind: Kind) -> Mapping[str, FieldType]:
    """The indexed (filterable) payload fields of a collection kind."""
    return IMAGE_FIELDS if kind is Kind.IMAGES else CAPTION_FIELDS


def to_rfc3339(moment: datetime) -> str:
    """A datetime as an RFC 3339 UTC string; naive datetimes are taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ImagePayload(BaseModel):
    """Payload of an image point. ``dataset`` lists every dataset the image belongs to (a filter
    ``dataset=X`` matches any of them); a single name is taken as a list of one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset_id: int = Field(ge=0)
    content_hash: str
    source: str
    dataset: list[str] = Field(default_factory=list)
    split: str | None = None
    tags: list[str] = Field(default_factory=list)
    created_at: datetime
    width: int = Field(ge=0)
    height: int = Field(ge=0)

    @field_validator("dataset", mode="before")
    @classmethod
    def _datasets(cls, value: object) -> object:
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    def to_store(self) -> dict[str, Any]:
        """The JSON payload written to the store (None fields left out, datetimes as strings)."""
        data = self.model_dump(exclude_none=True)
        data["created_at"] = to_rfc3339(self.created_at)
        return data


class CaptionPayload(ImagePayload):
    """Payload of a caption point: its image's fields plus its own text and position."""

    text: str
    position: int = Field(ge=0)
    image_point_id: str


Payload = ImagePayload | CaptionPayload
