"""Translate the filter model (:mod:`modalign.search.filters`) into qdrant-edge conditions."""

from __future__ import annotations

from typing import Any, overload

import qdrant_edge as qe

from modalign.search.filters import (
    Condition,
    DatetimeRange,
    Filter,
    IsEmpty,
    Match,
    MatchAny,
    Range,
)
from modalign.search.schema import to_rfc3339


@overload
def to_edge(flt: Filter) -> qe.Filter: ...


@overload
def to_edge(flt: Filter | None) -> qe.Filter | None: ...


def to_edge(flt: Filter | None) -> qe.Filter | None:
    """The qdrant-edge Filter for ``flt`` (None stays None)."""
    if flt is None:
        return None
    return qe.Filter(
        must=[_condition(c) for c in flt.must] or None,
        should=[_condition(c) for c in flt.should] or None,
        must_not=[_condition(c) for c in flt.must_not] or None,
    )


def _condition(cond: Condition) -> Any:
    if isinstance(cond, Filter):
        return to_edge(cond)
    if isinstance(cond, Match):
        return qe.FieldCondition(cond.field, match=qe.MatchValue(cond.value))
    if isinstance(cond, MatchAny):
        return qe.FieldCondition(cond.field, match=qe.MatchAny(cond.values))
    if isinstance(cond, Range):
        bounds = qe.RangeFloat(gt=cond.gt, gte=cond.gte, lt=cond.lt, lte=cond.lte)
        return qe.FieldCondition(cond.field, range=bounds)
    if isinstance(cond, DatetimeRange):
        return qe.FieldCondition(cond.field, range=_datetime_range(cond))
    if isinstance(cond, IsEmpty):
        return qe.IsEmptyCondition(cond.field)
    raise TypeError(f"unknown condition {cond!r}")


def _datetime_range(cond: DatetimeRange) -> qe.RangeDateTime:
    def fmt(value: Any) -> str | None:
        return None if value is None else to_rfc3339(value)

    return qe.RangeDateTime(gt=fmt(cond.gt), gte=fmt(cond.gte), lt=fmt(cond.lt), lte=fmt(cond.lte))
