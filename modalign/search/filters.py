"""A small typed filter model, checked against a collection's payload schema.

A :class:`Filter` holds ``must`` (all hold), ``should`` (at least one holds, when non-empty) and
``must_not`` (none holds) lists of conditions: :class:`Match` (equal to a value; on a list field,
any element), :class:`MatchAny` (equal to one of several values), :class:`Range` (numeric bounds),
:class:`DatetimeRange` (datetime bounds) and :class:`IsEmpty` (missing, null or ``[]``), or a nested
:class:`Filter`. Each backend translates the same model; :func:`check_filter` turns an unknown field
or a value of the wrong type into an :class:`InvalidInputError` before the backend sees it.

A filter's cost is bounded where it is built: it nests at most :data:`MAX_FILTER_DEPTH` levels
(the top-level filter is level 1), holds at most :data:`MAX_FILTER_CONDITIONS` conditions in all
(nested filters count as conditions), a :class:`MatchAny` at most :data:`MAX_ANY_VALUES` values;
integers fit the engine's 64-bit integer index, numeric bounds are finite, datetime bounds stay
within years 1..9999 in UTC. Anything beyond is a validation error (an HTTP 422), never an engine
crash.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from modalign.errors import InvalidInputError
from modalign.search.schema import FieldType

MAX_FILTER_DEPTH = 4
MAX_FILTER_CONDITIONS = 64
MAX_ANY_VALUES = 256
MAX_KEYWORD_CHARS = 256
MAX_FIELD_CHARS = 64
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

# Qdrant's integer payload index holds signed 64-bit values; a wider Python int would crash the
# engine's bindings, so it is refused here.
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
Keyword = Annotated[str, Field(max_length=MAX_KEYWORD_CHARS)]
Bound = Annotated[float, Field(allow_inf_nan=False)]
Scalar = Keyword | Int64 | bool
FILTER_LISTS = ("must", "should", "must_not")


class _Condition(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str = Field(min_length=1, max_length=MAX_FIELD_CHARS)


class Match(_Condition):
    """The field equals ``value`` (on a list field: one element does)."""

    op: Literal["match"] = "match"
    value: Scalar


class MatchAny(_Condition):
    """The field equals one of ``values``."""

    op: Literal["any"] = "any"
    values: list[Keyword] | list[Int64] = Field(min_length=1, max_length=MAX_ANY_VALUES)


class Range(_Condition):
    """Numeric bounds on the field (any combination of gt / gte / lt / lte), finite floats."""

    op: Literal["range"] = "range"
    gt: Bound | None = None
    gte: Bound | None = None
    lt: Bound | None = None
    lte: Bound | None = None


class DatetimeRange(_Condition):
    """Datetime bounds on the field; naive datetimes are taken to be UTC (and stored as UTC)."""

    op: Literal["datetime_range"] = "datetime_range"
    gt: datetime | None = None
    gte: datetime | None = None
    lt: datetime | None = None
    lte: datetime | None = None

    @field_validator("gt", "gte", "lt", "lte")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{value.isoformat()} is outside years 1..9999 in UTC") from None


class IsEmpty(_Condition):
    """The field is missing, null or an empty list."""

    op: Literal["is_empty"] = "is_empty"


Condition = Annotated[
    "Match | MatchAny | Range | DatetimeRange | IsEmpty | Filter", Field(union_mode="left_to_right")
]


class Filter(BaseModel):
    """must / should / must_not lists of conditions (or nested filters), within the size limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    must: list[Condition] = Field(default_factory=list)
    should: list[Condition] = Field(default_factory=list)
    must_not: list[Condition] = Field(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _within_limits(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Checked on the raw input, before the nested filters are validated: a deep or huge
        # filter is refused at the cost of the limits, not of its size.
        problem = size_problem(data)
        if problem:
            raise ValueError(problem)
        return handler(data)

    def is_empty(self) -> bool:
        """True when the filter has no condition at all."""
        return not (self.must or self.should or self.must_not)


Filter.model_rebuild()

Leaf = Match | MatchAny | Range | DatetimeRange | IsEmpty


def without(flt: Filter | None, cond: Leaf) -> Filter:
    """``flt`` with ``cond`` added to its ``must_not`` list, at the same depth.

    Not validated again: a filter already at the condition limit is refused by
    :func:`check_filter` (an InvalidInputError) when it reaches the store.
    """
    if flt is None:
        return Filter(must_not=[cond])
    return flt.model_copy(update={"must_not": [*flt.must_not, cond]})


def size_problem(data: object) -> str | None:
    """Why ``data`` (a Filter or its JSON-like form) is beyond the limits, or None.

    Walks at most :data:`MAX_FILTER_CONDITIONS` conditions whatever the input's size.
    """
    count = 0
    pending = [(data, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_FILTER_DEPTH:
            return f"filters nest at most {MAX_FILTER_DEPTH} levels deep"
        for cond in _conditions_of(node):
            count += 1
            if count > MAX_FILTER_CONDITIONS:
                return f"a filter holds at most {MAX_FILTER_CONDITIONS} conditions in all"
            if isinstance(cond, Filter) or (isinstance(cond, dict) and "field" not in cond):
                pending.append((cond, depth + 1))
    return None


def _conditions_of(node: object) -> Iterable[object]:
    if isinstance(node, Filter):
        return chain(node.must, node.should, node.must_not)
    if isinstance(node, dict):
        lists = (node.get(name) for name in FILTER_LISTS)
        return chain.from_iterable(v for v in lists if isinstance(v, list))
    return ()


def parse_filter(data: object) -> Filter:
    """Validate JSON-like data (e.g. an HTTP body) into a Filter, or raise InvalidInputError."""
    if isinstance(data, Filter):
        return data
    try:
        return Filter.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(f"invalid filter: {_describe(exc)}") from exc


def _describe(exc: ValidationError) -> str:
    """The errors as ``loc: message`` lines, without the (possibly huge) input."""
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
        for error in exc.errors(include_url=False, include_input=False)
    )


def check_filter(flt: Filter, fields: Mapping[str, FieldType]) -> Filter:
    """Raise InvalidInputError unless the filter is within the limits and every condition names a
    known field with a fitting value (also for filters built with ``model_construct``)."""
    problem = size_problem(flt)
    if problem:
        raise InvalidInputError(f"invalid filter: {problem}")
    _check_conditions(flt, fields)
    return flt


def _check_conditions(flt: Filter, fields: Mapping[str, FieldType]) -> None:
    for cond in chain(flt.must, flt.should, flt.must_not):
        if isinstance(cond, Filter):
            _check_conditions(cond, fields)
        else:
            _check_leaf(cond, fields)


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
    if bad:
        return f"expected {want.__name__} values, got {bad!r:.200}"
    wide = [v for v in values if isinstance(v, int) and not INT64_MIN <= v <= INT64_MAX]
    return f"integers must fit in 64 bits, got {wide!r:.200}" if wide else None


def _bounds_problem(
    cond: Range | DatetimeRange, kind: FieldType, want: FieldType, what: str
) -> str | None:
    if kind is not want:
        return f"{what} needs a {want.value} field"
    bounds = [b for b in (cond.gt, cond.gte, cond.lt, cond.lte) if b is not None]
    if not bounds:
        return f"{what} needs at least one of gt, gte, lt, lte"
    if any(isinstance(b, float) and not math.isfinite(b) for b in bounds):
        return f"{what} needs finite bounds"
    return None
