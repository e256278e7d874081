"""The filter model's limits: depth, number of conditions, MatchAny values, value ranges.

Each limit is accepted at its value and refused one past it, from JSON-like data (parse_filter:
InvalidInputError), from Python (a ValidationError when the model is built) and at the store
boundary (check_filter: InvalidInputError, also for models built without validation).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from modalign.errors import InvalidInputError
from modalign.search.filters import (
    INT64_MAX,
    INT64_MIN,
    MAX_ANY_VALUES,
    MAX_FILTER_CONDITIONS,
    MAX_FILTER_DEPTH,
    DatetimeRange,
    Filter,
    Match,
    MatchAny,
    check_filter,
    parse_filter,
)
from modalign.search.schema import IMAGE_FIELDS

LEAF: dict[str, Any] = {"field": "width", "op": "range", "gte": 1}


def nested(depth: int, leaf: dict[str, Any] = LEAF) -> dict[str, Any]:
    """A filter ``depth`` levels deep (the top level is 1) with one leaf at the bottom."""
    data: dict[str, Any] = {"must": [leaf]}
    for _ in range(depth - 1):
        data = {"must": [data]}
    return data


def conditions(count: int) -> dict[str, Any]:
    """``count`` conditions in all, spread over must / should and one nested filter."""
    leaves = [{"field": "asset_id", "op": "match", "value": i} for i in range(count - 1)]
    third = len(leaves) // 3
    return {"must": leaves[:third], "should": leaves[third : 2 * third],
            "must_not": [{"should": leaves[2 * third :]}]}


def match_any(values: list[Any]) -> dict[str, Any]:
    return {"must": [{"field": "asset_id", "op": "any", "values": values}]}


def match(value: Any, field: str = "asset_id") -> dict[str, Any]:
    return {"must": [{"field": field, "op": "match", "value": value}]}


ACCEPTED = {
    "depth at the limit": nested(MAX_FILTER_DEPTH),
    "conditions at the limit": conditions(MAX_FILTER_CONDITIONS),
    "MatchAny values at the limit": match_any(list(range(MAX_ANY_VALUES))),
    "int64 max": match(INT64_MAX),
    "int64 min": match(INT64_MIN),
    "int64 bounds in MatchAny": match_any([INT64_MIN, INT64_MAX]),
    "huge finite range bound": {"must": [{"field": "width", "op": "range", "lte": 1e308}]},
    "range bound past int64": {"must": [{"field": "width", "op": "range", "gt": 2.0**64}]},
    "earliest datetime": {"must": [
        {"field": "created_at", "op": "datetime_range", "gte": "0001-01-01T00:00:00Z"}]},
}

REFUSED = {
    "depth past the limit": nested(MAX_FILTER_DEPTH + 1),
    "very deep": nested(500),
    "conditions past the limit": conditions(MAX_FILTER_CONDITIONS + 1),
    "many flat conditions": {"must": [LEAF] * 10_000},
    "MatchAny values past the limit": match_any(list(range(MAX_ANY_VALUES + 1))),
    "int64 max + 1": match(INT64_MAX + 1),
    "int64 min - 1": match(INT64_MIN - 1),
    "2**64": match(2**64),
    "-(2**64)": match(-(2**64)),
    "2**64 in MatchAny": match_any([1, 2**64]),
    "NaN bound": {"must": [{"field": "width", "op": "range", "gte": float("nan")}]},
    "infinite bound": {"must": [{"field": "width", "op": "range", "lt": float("inf")}]},
    "datetime past 9999 in UTC": {"must": [
        {"field": "created_at", "op": "datetime_range", "lt": "9999-12-31T23:59:59-23:59"}]},
    "datetime before year 1 in UTC": {"must": [
        {"field": "created_at", "op": "datetime_range", "gt": "0001-01-01T00:00:00+01:00"}]},
    "long keyword": match("x" * 10_000, field="source"),
    "long field name": match(1, field="f" * 10_000),
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_values_at_the_limits_are_accepted(name: str) -> None:
    flt = parse_filter(ACCEPTED[name])
    assert check_filter(flt, IMAGE_FIELDS) is flt


@pytest.mark.parametrize("name", REFUSED)
def test_values_past_the_limits_are_invalid_input(name: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_filter(REFUSED[name])
    assert len(str(caught.value)) < 2_000  # the input itself is not echoed


def test_the_depth_limit_holds_for_filters_built_in_python() -> None:
    flt = Filter(must=[Match(field="width", value=1)])
    for _ in range(MAX_FILTER_DEPTH - 1):
        flt = Filter(must=[flt])
    with pytest.raises(ValidationError, match="nest at most"):
        Filter(should=[flt])
    with pytest.raises(ValidationError):
        MatchAny(field="asset_id", values=list(range(MAX_ANY_VALUES + 1)))
    with pytest.raises(ValidationError):
        Match(field="asset_id", value=INT64_MAX + 1)


def test_the_store_boundary_refuses_unvalidated_filters() -> None:
    """check_filter (which both backends call) holds even for ``model_construct`` models."""
    deep = Filter.model_construct(must=[Match(field="width", value=1)])
    for _ in range(5_000):
        deep = Filter.model_construct(must=[deep])
    wide = Filter.model_construct(must=[Match.model_construct(field="width", value=2**64)])
    many = Filter.model_construct(must=[Match(field="width", value=1)] * 65)
    for flt in (deep, wide, many):
        with pytest.raises(InvalidInputError):
            check_filter(flt, IMAGE_FIELDS)


def test_datetime_bounds_are_kept_in_utc() -> None:
    cond = DatetimeRange.model_validate(
        {"field": "created_at", "gte": datetime(2026, 1, 1, 12), "lt": "2026-01-02T03:00+02:00"}
    )
    assert cond.gte == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert cond.lt == datetime(2026, 1, 2, 1, tzinfo=UTC)
