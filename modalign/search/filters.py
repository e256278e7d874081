"""A small typed filter model, checked against a collection's payload schema.

A :class:`Filter` holds ``must`` (all hold), ``should`` (at least one holds, when non-empty) and
``must_not`` (none holds) lists of conditions: :class:`Match` (equal to a value; on a list field,
any element), :class:`MatchAny` (equal to one of several values), :class:`Range` (numeric bounds),
:class:`DatetimeRange` (datetime bounds) and :class:`IsEmpty` (missing, null or ``[]``), or a nested
:class:`Filter`. Each backend translates the same model; :func:`check_filter` turns an unknown field
or a value of the wrong type into an :class:`InvalidInputError` before the backend sees it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modalign.errors import InvalidInputError
from modalign.search.schema import FieldType

Scalar = str | int | bool


class _Condition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str


class Match(_Condition):
    """The field equals ``value`` (on a list field: one element does)."""

    op: Literal["match"] = "match"
    value: Scalar


class MatchAny(_Condition):
    """The field equals one of ``values``."""

    op: Literal["any"] = "any"
    values: list[str] | list[int] = Field(min_length=1)


class Range(_Condition):
    """Numeric bounds on the field (any combination of gt / gte / lt / lte)."""

    op: Literal["range"] = "range"
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


class DatetimeRange(_Condition):
    """Datetime bounds on the field; naive datetimes are taken to be UTC."""

    op: Literal["datetime_range"] = "datetime_range"
    gt: datetime | None = None
    gte: datetime | None = None
    lt: datetime | None = None
    lte: datetime | None = None


class IsEmpty(_Condition):
    """The field is missing, null or an empty list."""

    op: Literal["is_empty"] = "is_empty"


Condition = Annotated[
    "Match | MatchAny | Range | DatetimeRange | IsEmpty | Filter", Field(union_mode="left_to_right")
]


class Filter(BaseModel):
    """must / should / must_not lists of conditions (or nested filters)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    must: list[Condition] = Field(default_factory=list)
    should: list[Condition] = Field(default_factory=list)
    must_not: list[Condition] = Field(default_factory=list)

    def is_empty(self) -> bool:
        """True when the filter has no condition at all."""
        return not (self.must or self.should or self.must_not)


Filter.model_rebuild()

Leaf = Match | MatchAny | Range | DatetimeRange | IsEmpty


def parse_filter(data: object) -> Filter:
    """Validate JSON-like data (e.g. an HTTP body) into a Filter, or raise InvalidInputError."""
    if isinstance(data, Filter):
        return data
    try:
        return Filter.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(f"invalid filter: {exc.errors(include_url=False)}") from exc


def check_filter(flt: Filter, fields: Mapping[str, FieldType]) -> Filter:
    """Raise InvalidInputError unless every condition names a known field with a fitting value."""
    for cond in [*flt.must, *flt.should, *flt.must_not]:
        if isinstance(cond, Filter):
            check_filter(cond, fields)
        else:
            _check_leaf(cond, fields)
    return flt


def _check_leaf(cond: Leaf, fields: Mapping[str, FieldType]) -> None:
    kind = fields.get(cond.field)
    if kind is None:
        known = ", ".join(sorted(fields))
        raise InvalidInputError(f"unknown filter field {cond.field!r}; filterable fields: {known}")
    problem = _leaf_problem(cond, kind)
    if problem:
        raise InvalidInputError(f"filter on {cond.field!r} ({kind.value}): {problem}")


def _leaf_problem(cond: Leaf, kind: FieldType) -> str | None:
    if isinstance(cond, IsEmpty):
        return None
    if isinstance(cond, Match):
        return _value_problem([cond.value], kind)
    if isinstance(cond, MatchAny):
        return _value_problem(cond.values, kind)
    if isinstance(cond, Range):
        return _bounds_problem(cond, kind, FieldType.INTEGER, "a numeric range")
    return _bounds_problem(cond, kind, FieldType.DATETIME, "a datetime range")


def _value_problem(values: Sequence[object], kind: FieldType) -> str | None:
    if kind is FieldType.DATETIME:
        return "datetime fields take a datetime range, not a match"
    want = str if kind is FieldType.KEYWORD else int
    bad = [v for v in values if type(v) is not want]
    return f"expected {want.__name__} values, got {bad!r}" if bad else None


def _bounds_problem(
    cond: Range | DatetimeRange, kind: FieldType, want: FieldType, what: str
) -> str | None:
    if kind is not want:
        return f"{what} needs a {want.value} field"
    if all(b is None for b in (cond.gt, cond.gte, cond.lt, cond.lte)):
        return f"{what} needs at least one of gt, gte, lt, lte"
    return None
