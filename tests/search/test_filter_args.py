"""CLI filter expressions -> Filter, and content-derived point ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modalign.errors import InvalidInputError
from modalign.search import caption_point_id, image_point_id
from modalign.search.filter_args import parse_filter_args
from modalign.search.filters import DatetimeRange, Filter, IsEmpty, Match, MatchAny, Range
from modalign.search.naming import check_version
from modalign.search.schema import CAPTION_FIELDS, IMAGE_FIELDS


def test_expressions_become_typed_conditions() -> None:
    flt = parse_filter_args(
        [
            "source=emoji",
            "tags=animal, food",
            "width>=100",
            "height<64",
            "asset_id=3,4",
            "created_at>=2026-01-01",
            "created_at<2026-02-01T12:00:00+02:00",
            "split!=test",
            "dataset=",
            "tags!=",
        ],
        IMAGE_FIELDS,
    )
    assert flt == Filter(
        must=[
            Match(field="source", value="emoji"),
            MatchAny(field="tags", values=["animal", "food"]),
            Range(field="width", gte=100),
            Range(field="height", lt=64),
            MatchAny(field="asset_id", values=[3, 4]),
            DatetimeRange(field="created_at", gte=datetime(2026, 1, 1, tzinfo=UTC)),
            DatetimeRange(field="created_at", lt=datetime.fromisoformat("2026-02-01T10:00:00Z")),
            IsEmpty(field="dataset"),
        ],
        must_not=[Match(field="split", value="test"), IsEmpty(field="tags")],
    )
    assert parse_filter_args([], IMAGE_FIELDS) is None


@pytest.mark.parametrize(
    "expr",
    [
        "colour=red",
        "width=wide",
        "width>=x",
        "source>=a",
        "created_at=2026-01-01",
        "created_at>=yesterday",
        "position=0",
        "no operator",
        "=value",
    ],
)
def test_bad_expressions_are_invalid_input(expr: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_filter_args([expr], IMAGE_FIELDS)


def test_caption_fields_are_known_for_captions() -> None:
    assert parse_filter_args(["position=0"], CAPTION_FIELDS) == Filter(
        must=[Match(field="position", value=0)]
    )


def test_point_ids_are_stable_and_distinct() -> None:
    a, b = "ab" * 32, "cd" * 32
    assert image_point_id(a) == image_point_id(a.upper())
    assert image_point_id(a) != image_point_id(b)
    assert caption_point_id(a, b) != caption_point_id(b, a)
    assert caption_point_id(a, b) not in {image_point_id(a), image_point_id(b)}
    assert image_point_id(a) == "57b2cf50-db46-5bb2-a05e-b695e2ed5a1f"  # never changes
    with pytest.raises(InvalidInputError):
        image_point_id("not-a-hash")


@pytest.mark.parametrize("bad", ["", "a/b", "a__b", "-x", "x" * 65, "a b"])
def test_bad_versions(bad: str) -> None:
    with pytest.raises(InvalidInputError):
        check_version(bad)
