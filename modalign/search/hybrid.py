"""Search modes and the fusion of a dense and a keyword result list (both done by the engine).

- ``vector``: nearest points by cosine similarity of the dense vectors (the default).
- ``keyword``: points by the keyword (sparse) vector of a text query
  (:mod:`modalign.search.sparse`), scored by the engine with the IDF modifier.
- ``hybrid``: one engine call that prefetches the best ``prefetch`` points of each list (filters
  applied to both) and fuses them by reciprocal rank: a point's score is
  ``sum_i w_i / (k + rank_i)`` over the lists it is in (ranks counted from 0, ``k`` =
  ``store.rrf_k``), the dense list weighing 1 and the keyword
  list ``keyword_weight``.

A version's collections get their keyword vector (named :data:`KEYWORDS`, Qdrant's ``Modifier.IDF``)
when they are created; collections made before it cannot answer keyword or hybrid queries
(:func:`missing_keywords`), and the points written to them carry their dense vector only.
"""

from __future__ import annotations

from typing import Literal, get_args

from modalign.errors import InvalidInputError

SearchMode = Literal["vector", "keyword", "hybrid"]
MODES: tuple[str, ...] = get_args(SearchMode)
DEFAULT_MODE: SearchMode = "hybrid"  # chosen by bench/hybrid.py (docs/hybrid.md)
KEYWORDS = "keywords"  # the sparse vector's name, beside the unnamed dense vector
MAX_PREFETCH = 1000


def check_mode(mode: str) -> SearchMode:
    """``mode`` if it is one of :data:`MODES`; InvalidInputError naming them otherwise."""
    if mode not in MODES:
        raise InvalidInputError(f"unknown search mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode  # type: ignore[return-value]  # checked against the Literal's values above


def check_fusion(prefetch: int | None, keyword_weight: float | None) -> None:
    """InvalidInputError for a prefetch depth or keyword weight out of range."""
    if prefetch is not None and not 1 <= prefetch <= MAX_PREFETCH:
        raise InvalidInputError(f"prefetch must be between 1 and {MAX_PREFETCH}, got {prefetch}")
    if keyword_weight is not None and not 0.0 < keyword_weight <= 100.0:  # False for NaN too
        raise InvalidInputError(f"keyword_weight must be in (0, 100], got {keyword_weight}")


def prefetch_depth(limit: int, offset: int, prefetch: int) -> int:
    """Candidates taken from each list: at least the page asked for."""
    return max(prefetch, limit + offset)


def missing_keywords(collection: str) -> InvalidInputError:
    """The error for a keyword or hybrid query on collections made without keyword vectors."""
    return InvalidInputError(
        f"collection {collection} has no keyword vectors (its model version's collections were "
        "created before keyword search existed), so it answers mode=vector only. Lay its points "
        "out again under a new model version, whose collections get them: `modalign train "
        "--version NEW`, then `modalign reindex --model NEW`"
    )
