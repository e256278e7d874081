from __future__ import annotations

from modalign.datasets.captions import extra_keywords, keyword_caption


def test_keywords_already_in_the_name_are_dropped() -> None:
    keywords = ["face", "grin", "grinning face", "Grin"]
    assert extra_keywords("grinning face", keywords) == ["grin", "Grin"]
    assert keyword_caption("grinning face", keywords) == "grinning face, grin, Grin"


def test_no_caption_when_keywords_add_nothing() -> None:
    assert keyword_caption("flag: Belgium", ["flag"]) is None
    assert keyword_caption("bat", []) is None


def test_keyword_caption_is_capped() -> None:
    caption = keyword_caption("x", [f"k{i}" for i in range(20)], limit=3)
    assert caption == "x, k0, k1, k2"
