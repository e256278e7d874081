"""Translate the filter model (:mod:`modalign.search.filters`) into qdrant-client models."""

from __future__ import annotations

from datetime import UTC, datetime

from qdrant_client import models

from modalign.search.filters import (
    Condition,
    DatetimeRange,
    Filter,
    IsEmpty,
    Match,
    MatchAny,
    Range,
)


def to_client(flt: Filter | None) -> models.Filter | None:
    """The qdrant-client Filter for ``flt`` (None stays None)."""
    if flt is None:
        return None
    return models.Filter(
        must=[_condition(c) for c in flt.must] or None,
        should=[_condition(c) for c in flt.should] or None,
        must_not=[_condition(c) for c in flt.must_not] or None,
    )


def _condition(cond: Condition) -> models.Condition:
    if isinstance(cond, Filter):
        inner = to_client(cond)
        assert inner is not None
        return inner
    if isinstance(cond, Match):
        return models.FieldCondition(key=cond.field, match=models.MatchValue(value=cond.value))
    if isinstance(cond, MatchAny):
        return models.FieldCondition(key=cond.field, match=models.MatchAny(any=cond.values))
    if isinstance(cond, Range):
        bounds = models.Range(gt=cond.gt, gte=cond.gte, lt=cond.lt, lte=cond.lte)
        return models.FieldCondition(key=cond.field, range=bounds)
    if isinstance(cond, DatetimeRange):
        return models.FieldCondition(key=cond.field, range=_datetime_range(cond))
    if isinstance(cond, IsEmpty):
        return models.IsEmptyCondition(is_empty=models.PayloadField(key=cond.field))
    raise TypeError(f"unknown condition {cond!r}")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _datetime_range(cond: DatetimeRange) -> models.DatetimeRange:
    return models.DatetimeRange(
        gt=_utc(cond.gt), gte=_utc(cond.gte), lt=_utc(cond.lt), lte=_utc(cond.lte)
    )
