"""Caption cleaning: every caption from any source goes through :func:`clean_caption`."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_SPACE_RUN = re.compile(r"\s+")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_caption(raw: str | bytes, max_chars: int) -> str | None:
    """The caption as stored, or None when nothing usable is left.

    Invalid UTF-8 bytes and lone surrogates become U+FFFD, text is NFC-normalised, control
    characters and whitespace runs become one space, and the result is cut to ``max_chars``.
    """
    text = _as_text(raw)
    text = unicodedata.normalize("NFC", text)
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    text = _SPACE_RUN.sub(" ", text).strip()
    if not text:
        return None
    return text[:max_chars].rstrip()


def clean_captions(raws: Iterable[str | bytes], max_chars: int) -> tuple[str, ...]:
    """Clean every caption, dropping empty ones and exact repeats (order kept)."""
    seen: dict[str, None] = {}
    for raw in raws:
        text = clean_caption(raw, max_chars)
        if text is not None:
            seen.setdefault(text, None)
    return tuple(seen)


def clean_text(text: str) -> str:
    """``text`` with lone surrogates (undecodable bytes, bad JSON escapes) as U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def _as_text(raw: str | bytes) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    return clean_text(raw)
