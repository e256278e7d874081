"""Small dialect helpers shared by the repository modules."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from modalign.catalog.models import Base

T = TypeVar("T")

CHUNK = 500  # rows per statement; keeps bound parameters far below SQLite's limit


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_ignoring_conflicts(session: Session, model: type[Base]) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the session's dialect (SQLite or PostgreSQL)."""
    table = model.__table__
    assert isinstance(table, Table)
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()
