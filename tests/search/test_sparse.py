"""Keyword vectors from the text tower's WordPiece vocabulary (the real tokenizer, no torch)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from modalign.search.sparse import K1, KeywordEncoder, image_text


@pytest.fixture(scope="module")
def keywords() -> KeywordEncoder:
    return KeywordEncoder()


def test_terms_are_wordpiece_ids_without_stopwords_punctuation_or_specials(
    keywords: KeywordEncoder,
) -> None:
    assert keywords.terms("A Grinning face, with the big EYES!") == keywords.terms(
        "grinning face big eyes"
    )
    assert len(keywords.terms("grinning face big eyes")) == 4
    assert keywords.terms("the, of - !!") == []


def test_accents_and_case_fold_and_rare_words_split_into_pieces(keywords: KeywordEncoder) -> None:
    assert keywords.terms("Pokémon") == keywords.terms("pokemon")
    assert len(keywords.terms("axolotl")) > 1  # not in the vocabulary: pieces, no collision
    assert keywords.terms("axolotl") != keywords.terms("axe")


def test_long_texts_are_not_truncated(keywords: KeywordEncoder) -> None:
    text = " ".join(f"word{i}" for i in range(400))
    assert len(keywords.terms(text)) > 400  # tokenizer.json truncates to 128 for the tower


def test_document_weights_saturate_term_frequency(keywords: KeywordEncoder) -> None:
    once = keywords.document(["cat"])
    thrice = keywords.document(["cat cat", "cat"])
    assert once.indices == thrice.indices
    assert once.values[0] == pytest.approx(1.0)
    assert thrice.values[0] == pytest.approx(3 * (K1 + 1) / (3 + K1))
    assert list(thrice.indices) == sorted(thrice.indices)


def test_query_weighs_each_distinct_term_once(keywords: KeywordEncoder) -> None:
    vector = keywords.query("red red apple")
    assert len(vector.indices) == 2
    assert set(vector.values) == {1.0}
    assert not keywords.query("the of")


def test_image_text_is_captions_then_tags() -> None:
    assert image_text(["a red apple"], ["fruit"]) == ["a red apple", "fruit"]


def test_module_does_not_import_torch() -> None:
    code = ("import sys, modalign.search.sparse as s; s.KeywordEncoder();"
            " print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
