"""Caption cleaning."""

from __future__ import annotations

from modalign.ingest.captions import clean_caption, clean_captions


def test_whitespace_and_control_characters_collapse() -> None:
    assert clean_caption("  a\tdog\n\n on\x00 grass  ", 100) == "a dog on grass"


def test_empty_captions_are_dropped() -> None:
    assert clean_caption("   \t\n", 100) is None
    assert clean_captions(["", " ", "a cat"], 100) == ("a cat",)


def test_long_captions_are_cut() -> None:
    cut = clean_caption("word " * 20_000, 2000)
    assert cut is not None and len(cut) <= 2000 and cut.startswith("word word")


def test_invalid_utf8_and_lone_surrogates_become_replacement_characters() -> None:
    assert clean_caption(b"caf\xe9", 100) == "caf\ufffd"
    assert clean_caption("bad \udcff end", 100) == "bad \ufffd end"
    text = clean_caption("bad \udcff end", 100)
    assert text is not None
    text.encode("utf-8")  # storable


def test_text_is_nfc_normalised_and_repeats_dropped() -> None:
    decomposed = "cafe\u0301"
    assert clean_captions([decomposed, "caf\u00e9", "other"], 100) == ("caf\u00e9", "other")
