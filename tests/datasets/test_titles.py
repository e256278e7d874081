"""Title cleaning and the generic/collection-title rules, on real openclipart titles."""

from __future__ import annotations

import pytest

from modalign.datasets import titles


@pytest.mark.parametrize(
    ("raw", "creators", "expected"),
    [
        ("Clipart by Nicu Buculei - jigsaw_red_10", ("Nicu Buculei",), "jigsaw red"),
        ("Clipart by Nicu Buculei - pear", ("Nicu Buculei",), "pear"),
        ("BlueMan#110", (), "blue man"),
        ("Tigre02", (), "tigre"),
        ("motorcycle1", (), "motorcycle"),
        ("bluePane", (), "blue pane"),
        ("arrow-right-purple", (), "arrow right purple"),
        ("t-shirt", (), "t-shirt"),
        ("Baseball Cap (B and W)", (), "baseball cap black and white"),
        ("glace_03_bw", (), "glace black and white"),
        ("books-aj.svg", ("AJ Ashton",), "books"),
        ("magnifying glass 4", (), "magnifying glass"),
        ("45 rpm record", (), "45 rpm record"),
        ("Iraqi flag 1959-1963", (), "iraqi flag 1959 1963"),
        ("USB Memory Stick", (), "USB memory stick"),
        ("Candle by John Smith", ("John Smith",), "candle"),
        ("waxinggibbous_openclipart", (), "waxinggibbous"),
        ("SVG buttons", (), "buttons"),
    ],
)
def test_clean_title(raw: str, creators: tuple[str, ...], expected: str) -> None:
    assert titles.clean_title(raw, creators) == expected


@pytest.mark.parametrize(
    ("stem", "creators", "drop", "expected"),
    [
        ("armadillo_architetto_fra_01", ("Architetto Francesco Rollandin",), (), "armadillo"),
        ("az-lizard_benji_park_01", ("Benji Park",), (), "az lizard"),
        ("smiley004", (), (), "smiley"),
        ("gift03", (), (), "gift"),
        ("aiga_toilet_men_", (), ("AIGA", "Symbol", "Signs"), "toilet men"),
        ("car_0_symbol_10cm_bwh", (), ("Map", "Symbols"), "car"),
        ("peach_simple_bw", (), (), "peach simple black and white"),
        ("fc16", (), (), "fc"),
    ],
)
def test_title_from_stem(
    stem: str, creators: tuple[str, ...], drop: tuple[str, ...], expected: str
) -> None:
    assert titles.title_from_stem(stem, creators, drop) == expected


@pytest.mark.parametrize(
    "title",
    [
        "AIGA_Symbol_Signs",
        "Various Cliparts",
        "SVG Road Signs",
        "Homes Clipart",
        "R16 sibmission",
        "Australian Maps",
        "Map Symbols",
        "gramastar",
    ],
)
def test_collection_titles_are_recognised(title: str) -> None:
    assert titles.is_collection_title(title)


@pytest.mark.parametrize("title", ["Brown Fish", "Clipart by Nicu Buculei - pear", "Road Sign"])
def test_descriptive_titles_are_not_collections(title: str) -> None:
    assert not titles.is_collection_title(title)


@pytest.mark.parametrize(
    "title",
    [
        "Lemon SVG theme",
        "Part of the Flat Icon Collection (Wed Aug 25 23:29:46 2004)",
        "gold-theme",
        "plastik-icon-theme",
        "blueberry - iconset",
        "Etiquette Icons",
    ],
)
def test_icon_theme_titles(title: str) -> None:
    assert titles.is_icon_theme_title(title)


def test_theme_as_part_of_a_word_is_not_an_icon_theme() -> None:
    assert not titles.is_icon_theme_title("Anthem of the seas")


@pytest.mark.parametrize(
    ("text", "usable"),
    [
        ("card", False),
        ("people", False),
        ("fc", False),
        ("", False),
        ("70a", False),
        ("svg image", False),
        ("red card", True),
        ("bat", True),
        ("t-shirt", True),
    ],
)
def test_is_usable(text: str, usable: bool) -> None:
    assert titles.is_usable(text) is usable


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ("ornamental_s_5", "five of spades, ornamental playing card"),
        ("bordered_h_j", "jack of hearts, bordered playing card"),
        ("white_d_10", "ten of diamonds, white playing card"),
        ("bordered_jk_r", "red joker, bordered playing card"),
        ("back01", None),
        ("bat_orlando_karam_", None),
    ],
)
def test_card_title(stem: str, expected: str | None) -> None:
    assert titles.card_title(stem) == expected


def test_specific_part_of_a_collection_title() -> None:
    assert titles.specific_part("tree - RPG map elements") == "tree"
    assert titles.specific_part("mouth - body part") is None
    assert titles.specific_part("Brown Fish") is None


def test_clean_keywords_drops_junk_and_authors() -> None:
    subjects = [
        "hash",
        "hash(0x89f892c)",
        "0x9c7e2ec",
        "11",
        "unsorted",
        "mapsym",
        "signs_and_symbols",
        "architetto francesco rollandin",
        "Bird",
        "bird",
    ]
    cleaned = titles.clean_keywords(subjects, ("Architetto Francesco Rollandin",))
    assert cleaned == ["map symbol", "signs and symbols", "bird"]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("a lineart drawing of a sneaker's footprint", True),
        ("jean.victor.balin@gmail.com", False),
        ("EPS converted from  http://aiga.org", False),
        ("HASH(0x8a40c04)", False),
        ("Part of Hotel Icons Collection", False),
        ("Made with Sodipodi", False),
        ("Architetto Francesco Rollandin", False),
        ("Bottled Drink", False),
    ],
)
def test_clean_description(text: str, kept: bool) -> None:
    result = titles.clean_description(text, "bottled drink", ("Architetto Francesco Rollandin",))
    assert (result is not None) is kept


def test_adds_words() -> None:
    assert titles.adds_words("gift", "baloon")
    assert not titles.adds_words("signalflag", "international maritime signal flag")
