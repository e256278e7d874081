"""Caption composition shared by the demo sources."""

from __future__ import annotations

import re
from collections.abc import Iterable

_WORDS = re.compile(r"[^\W_]+", re.UNICODE)


def _words(text: str) -> set[str]:
    return set(_WORDS.findall(text.casefold()))


def extra_keywords(name: str, keywords: Iterable[str]) -> list[str]:
    """Keywords that say something the name does not (all of whose words are not in the name)."""
    named = _words(name)
    extra = [k for k in keywords if not _words(k) <= named]
    return list(dict.fromkeys(extra))


def keyword_caption(name: str, keywords: Iterable[str], limit: int = 8) -> str | None:
    """The name followed by its other keywords ("grinning face, grin"), or None if none add
    anything. Leading with the name keeps keyword captions distinct between images."""
    extra = extra_keywords(name, keywords)[:limit]
    return f"{name}, {', '.join(extra)}" if extra else None
