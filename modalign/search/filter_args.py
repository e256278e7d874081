"""Parse command-line filter expressions into a :class:`~modalign.search.filters.Filter`.

Each expression is ``FIELD OP VALUE``; all expressions must hold:

- ``source=emoji`` match; ``tags=animal,food`` match any; ``split!=test`` must not match;
- ``width>=100``, ``height<64`` numeric ranges; ``created_at>=2026-01-01`` datetime ranges
  (ISO 8601 date or datetime, UTC unless it carries an offset);
- ``tags=`` (nothing after ``=``) the field is empty; ``tags!=`` it is not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from modalign.errors import InvalidInputError
from modalign.search.filters import (
    Condition,
    DatetimeRange,
    Filter,
    IsEmpty,
    Leaf,
    Match,
    MatchAny,
    Range,
    check_filter,
)
from modalign.search.schema import FieldType

_EXPR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|!=|=|>|<)\s*(.*?)\s*$")
_BOUND = {">=": "gte", ">": "gt", "<=": "lte", "<": "lt"}


def parse_filter_args(exprs: Sequence[str], fields: Mapping[str, FieldType]) -> Filter | None:
    """A Filter from CLI expressions (None if there are none); InvalidInputError if malformed."""
    if not exprs:
        return None
    must: list[Condition] = []
    must_not: list[Condition] = []
    for expr in exprs:
        negated, cond = _parse_one(expr, fields)
        (must_not if negated else must).append(cond)
    return check_filter(Filter(must=must, must_not=must_not), fields)


def _parse_one(expr: str, fields: Mapping[str, FieldType]) -> tuple[bool, Leaf]:
    found = _EXPR.match(expr)
    if not found:
        raise InvalidInputError(
            f"cannot parse filter {expr!r}; use FIELD=VALUE, FIELD!=VALUE, FIELD>=VALUE, ..."
        )
    field, op, raw = found.groups()
    kind = fields.get(field)
    if kind is None:
        known = ", ".join(sorted(fields))
        raise InvalidInputError(f"unknown filter field {field!r}; filterable fields: {known}")
    if op in _BOUND:
        return False, _range(field, kind, _BOUND[op], raw)
    return op == "!=", _equality(field, kind, raw)


def _equality(field: str, kind: FieldType, raw: str) -> Leaf:
    if raw == "":
        return IsEmpty(field=field)
    if kind is FieldType.DATETIME:
        raise InvalidInputError(f"filter on {field!r}: datetime fields take >=, >, <=, < bounds")
    values = [_scalar(field, kind, part.strip()) for part in raw.split(",")]
    if len(values) == 1:
        return Match(field=field, value=values[0])
    if kind is FieldType.INTEGER:
        return MatchAny(field=field, values=[int(v) for v in values])
    return MatchAny(field=field, values=[str(v) for v in values])


def _scalar(field: str, kind: FieldType, raw: str) -> str | int:
    if kind is FieldType.KEYWORD:
        return raw
    try:
        return int(raw)
    except ValueError:
        raise InvalidInputError(f"filter on {field!r}: {raw!r} is not an integer") from None


def _range(field: str, kind: FieldType, bound: str, raw: str) -> Leaf:
    if kind is FieldType.INTEGER:
        try:
            return Range.model_validate({"field": field, bound: float(raw)})
        except ValueError:
            raise InvalidInputError(f"filter on {field!r}: {raw!r} is not a number") from None
    if kind is FieldType.DATETIME:
        return DatetimeRange.model_validate({"field": field, bound: parse_datetime(field, raw)})
    raise InvalidInputError(f"filter on {field!r}: keyword fields take = or != only")


def parse_datetime(field: str, raw: str) -> datetime:
    """An ISO 8601 date or datetime; UTC unless it carries an offset."""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInputError(
            f"filter on {field!r}: {raw!r} is not an ISO 8601 date or datetime"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
