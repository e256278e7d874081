"""Quantization of a model version's collections: the kinds, the per-query bounds, the checks.

The kind (``store.quantization``) is fixed when a version's collections are created and recorded
with them (the edge store's ``state.json``, a Qdrant collection's metadata). Both engines quantize
and rescore themselves; this module only names the choices and refuses the ones that cannot be
honoured:

- ``none``: float32 vectors, in RAM (memory-mapped and pre-warmed).
- ``int8``: Qdrant's scalar quantization (one byte per dimension, the 0.99 quantile range), kept in
  RAM; the original vectors move to disk (memory-mapped) and rescore the candidates.
- ``binary``: Qdrant's binary quantization (one bit per dimension, the query kept at 8 bits), the
  same way. At our 256 dimensions it needs a high oversampling (about 16) to find the top 10
  (``docs/quantization.md`` has the measured figures).

A query on a quantized collection takes ``limit x oversampling`` candidates by their quantized
scores and rescores them on the original vectors (``rescore``), so the scores it returns are exact
cosines. Collections without quantization ignore both.
"""

from __future__ import annotations

from typing import Literal, get_args

from modalign.errors import ConfigError, InvalidInputError

Quantization = Literal["none", "int8", "binary"]
KINDS: tuple[str, ...] = get_args(Quantization)
QUANTILE = 0.99  # int8: values outside the central 99 % are clipped to its range
MIN_OVERSAMPLING = 1.0
MAX_OVERSAMPLING = 16.0


def check_kind(kind: str) -> Quantization:
    """``kind`` if modalign knows it; ConfigError naming the choices otherwise."""
    if kind not in KINDS:
        raise ConfigError(f"unknown quantization {kind!r}; choose one of {', '.join(KINDS)}")
    return kind  # type: ignore[return-value]  # checked against the Literal's values above


def check_oversampling(value: float | None) -> float | None:
    """``value`` if None or within the bounds; InvalidInputError otherwise."""
    if value is None:
        return None
    if not MIN_OVERSAMPLING <= value <= MAX_OVERSAMPLING:  # False for NaN too
        raise InvalidInputError(
            f"oversampling must be between {MIN_OVERSAMPLING:g} and {MAX_OVERSAMPLING:g},"
            f" got {value}"
        )
    return value


def check_unchanged(collection: str, recorded: str, wanted: str) -> None:
    """ConfigError if ``collection`` was created with another quantization than asked for now."""
    if recorded == wanted:
        return
    raise ConfigError(
        f"collection {collection} was created with store.quantization={recorded}, but the "
        f"settings now say {wanted}: quantization is fixed when a model version's collections "
        f"are created. Set MODALIGN_STORE__QUANTIZATION={recorded} to keep using this version, "
        f"or lay its points out again with {wanted} under a new model version "
        "(`modalign train --version NEW`, then `modalign reindex --model NEW`)"
    )
