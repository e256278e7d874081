"""Text clean-up for openclipart: titles into captions, keywords into tags.

Many openclipart titles are not descriptions: collection names ("AIGA_Symbol_Signs", "Various
Cliparts"), author credits ("Clipart by Nicu Buculei - pear"), file names ("smiley111"), or one
title shared by a whole set ("card" on 226 playing cards). This module cleans a title into words,
recognises the ones that do not describe their own picture, and repairs them from the file name
or the keywords.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from modalign.errors import InvalidInputError

FILE_EXTENSION = re.compile(r"\.(?:svg|png|jpe?g|gif|eps|ai|odg)\b", re.IGNORECASE)
CREDIT_PREFIX = re.compile(r"^\s*clip\s*-?\s*arts?\s+by\s+[^-–]*?\s+[-–]\s*", re.IGNORECASE)
ICON_THEME_TITLE = re.compile(
    r"\btheme\b|\biconset\b|\bicon collection\b|\betiquette icons\b", re.IGNORECASE
)
COLLECTION_TITLE = re.compile(
    r"\bcollection\b|\bcliparts?\b|\bsymbol[ _]signs\b|\broad ?signs\b|\bmap symbols\b|\bmaps\b"
    r"|s[iu]bmission|\bgramastar\b|\bmap elements\b|\bvarious\b",
    re.IGNORECASE,
)
WORD = re.compile(r"[^\W_]+(?:[-'’][^\W_]+)*")
BLACK_AND_WHITE = re.compile(r"\bb\s*(?:and|&|/)\s*w\b", re.IGNORECASE)
ACRONYM = re.compile(r"^[A-Z]{2,5}$")
ZERO_PADDED = re.compile(r"^0\d+$")
HAS_DIGIT = re.compile(r"\d")
MEASUREMENT = re.compile(r"\d+(?:cm|mm|m|px|pt|in)(?![a-z])", re.IGNORECASE)
#: File-name tokens that are production notes, not names.
TITLE_JUNK = frozenset({"svg", "png", "openclipart"})
JUNK = TITLE_JUNK | {"bwh", "copy", "final", "new", "old", "version"}
HEX_JUNK = re.compile(r"^(?:hash\(?)?0x[0-9a-f]+\)?$|^hash\(", re.IGNORECASE)

JUNK_DESCRIPTION = (
    r"@|https?:|www\.|hash\(|collection|converted|sodipodi|inkscape|made with|created with"
)
#: Titles that name nothing in particular (compared case-insensitively, after cleaning).
GENERIC_WORDS = frozenset(
    [
        "untitled",
        "image",
        "images",
        "picture",
        "drawing",
        "clipart",
        "clip",
        "art",
        "cliparts",
        "icon",
        "icons",
        "svg",
        "png",
        "new",
        "document",
        "layer",
        "unnamed",
        "test",
        "sample",
        "example",
        "card",
        "people",
        "advertising",
        "symbol",
        "sign",
        "logo",
        "misc",
        "various",
        "stuff",
        "object",
        "shape",
        "shapes",
        "design",
        "graphic",
        "graphics",
        "illustration",
        "background",
        "theme",
        "collection",
        "copy",
        "group",
        "path",
        "rect",
        "unsorted",
        "hash",
        "the",
        "and",
        "for",
        "with",
    ]
)
#: Short tokens that carry meaning even though they are under three letters.
WORD_EXPANSIONS = {"bw": "black and white"}
KEYWORD_FIXES = {
    "mapsym": "map symbol",
    "roadsign": "road sign",
    "roadtravel": "road travel",
    "religholiday": "religious holiday",
    "musicstuff": "music",
    "networksym": "network symbol",
    "arrowshape": "arrow",
    "appicon": "application icon",
    "unitedstates": "united states",
}
DROPPED_KEYWORDS = frozenset({"hash", "unsorted", "none", "null", "svg", "png", "clipart"})
#: For titles naming a collection, the noun its members are (appended to a repaired name).
COLLECTION_NOUNS = {
    "aiga symbol signs": "sign",
    "svg road signs": "road sign",
    "road signs": "road sign",
    "map symbols": "map symbol",
    "australian maps": "map",
}
CARD_SUITS = {"c": "clubs", "d": "diamonds", "h": "hearts", "s": "spades"}
CARD_RANKS = {
    "a": "ace",
    "j": "jack",
    "q": "queen",
    "k": "king",
    "2": "two",
    "3": "three",
    "4": "four",
    "5": "five",
    "6": "six",
    "7": "seven",
    "8": "eight",
    "9": "nine",
    "10": "ten",
}
CARD_STEM = re.compile(
    r"^(?P<style>[a-z]+)_(?:(?P<suit>[cdhs])_(?P<rank>10|[2-9ajqk])|jk_(?P<joker>[br]))$"
)


def split_words(text: str) -> list[str]:
    """Words of a title or file stem: underscores, hyphens, camelCase and glued digits split."""
    text = FILE_EXTENSION.sub(" ", text)
    text = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=\d)|(?<=\d)(?=[A-Za-z]{2})", " ", text)
    text = re.sub(r"(?<=[^\W_]{2})-(?=[^\W_]{2})", " ", text)
    return [word for word in WORD.findall(text.replace("_", " ")) if word]


def _case(word: str) -> str:
    return word if ACRONYM.match(word) else word.lower()


def _drop_numbers(words: Sequence[str]) -> list[str]:
    kept = [w for w in words if not ZERO_PADDED.match(w)]
    while kept and kept[-1].isdigit() and len(kept[-1]) <= 3:
        kept.pop()
    return kept


def _expand(words: Iterable[str]) -> list[str]:
    return [WORD_EXPANSIONS.get(word.lower(), word) for word in words]


def strip_credits(title: str, creators: Sequence[str] = ()) -> str:
    """Remove "Clipart by X - " prefixes and "by <creator>" suffixes."""
    title = CREDIT_PREFIX.sub("", title)
    for creator in creators:
        pattern = rf"\s*(?:[-–,(]\s*)?\b(?:by|from|de|di)\s+{re.escape(creator)}\)?\s*$"
        title = re.sub(pattern, "", title, flags=re.IGNORECASE)
    return title.strip()


def clean_title(title: str, creators: Sequence[str] = ()) -> str:
    """A title as plain lower-case words: credits, extensions, numbers and separators removed."""
    title = BLACK_AND_WHITE.sub("black and white", strip_credits(title, creators))
    words = _drop_numbers([w for w in split_words(title) if w.lower() not in TITLE_JUNK])
    tokens = _creator_tokens(creators)
    while len(words) > 1 and words[-1].lower() in tokens:
        words.pop()
    return " ".join(_case(word) for word in _expand(words))


def _creator_tokens(creators: Sequence[str]) -> set[str]:
    return {word.lower() for creator in creators for word in split_words(creator)}


def _is_creator_fragment(word: str, tokens: set[str]) -> bool:
    word = word.lower()
    return len(word) >= 2 and any(token.startswith(word) for token in tokens)


def title_from_stem(stem: str, creators: Sequence[str] = (), drop: Iterable[str] = ()) -> str:
    """A name from a file stem such as ``armadillo_architetto_fra_01``: trailing author fragments,
    numbers, single letters and the collection's own words are removed."""
    tokens = _creator_tokens(creators)
    dropped = {word.lower().rstrip("s") for word in drop}
    stem = MEASUREMENT.sub(" ", stem)
    words = [w for w in split_words(stem) if not HAS_DIGIT.search(w) and w.lower() not in JUNK]
    while words and (len(words[-1]) == 1 or _is_creator_fragment(words[-1], tokens)):
        words.pop()
    words = [w for w in words if w.lower().rstrip("s") not in dropped and len(w) > 1]
    return " ".join(_case(word) for word in _expand(words))


def is_usable(text: str) -> bool:
    """Whether a caption names something: a word of 3+ letters that is not generic."""
    return any(
        len(word) >= 3 and word.replace("-", "").isalpha() and word.lower() not in GENERIC_WORDS
        for word in split_words(text)
    )


def card_title(stem: str) -> str | None:
    """Playing cards are all titled "card"; their file names say which card they are."""
    match = CARD_STEM.match(stem.lower())
    if match is None:
        return None
    style = match["style"]
    if match["joker"]:
        colour = "black" if match["joker"] == "b" else "red"
        return f"{colour} joker, {style} playing card"
    return f"{CARD_RANKS[match['rank']]} of {CARD_SUITS[match['suit']]}, {style} playing card"


def collection_noun(title: str) -> str | None:
    """The noun members of a known collection are (e.g. "sign" for the AIGA symbol signs)."""
    return COLLECTION_NOUNS.get(" ".join(split_words(title)).lower())


def with_noun(name: str, noun: str | None) -> str:
    if not noun or noun.split()[-1] in name.split():
        return name
    return f"{name} {noun}"


def _plain(title: str) -> str:
    return " ".join(split_words(title))


def is_collection_title(title: str) -> bool:
    return COLLECTION_TITLE.search(_plain(strip_credits(title))) is not None


def specific_part(title: str) -> str | None:
    """The part of "tree - RPG map elements" that names the picture (the rest names a set)."""
    head, sep, tail = title.partition(" - ")
    if sep and is_usable(head) and COLLECTION_TITLE.search(_plain(tail)):
        return head
    return None


def is_icon_theme_title(title: str) -> bool:
    return ICON_THEME_TITLE.search(_plain(title)) is not None


def adds_words(candidate: str, title: str) -> bool:
    """Whether a repaired name says something the title does not (ignoring spaces and plurals)."""
    squashed = "".join(split_words(title.lower()))
    return any(
        is_usable(word) and word.rstrip("s") not in squashed
        for word in split_words(candidate.lower())
    )


def _fix_keyword(keyword: str) -> str:
    keyword = KEYWORD_FIXES.get(keyword.lower(), keyword)
    return " ".join(_case(word) for word in split_words(keyword))


def _matches_creator(keyword: str, creators: Sequence[str]) -> bool:
    folded = keyword.casefold()
    return any(folded in c.casefold() or c.casefold() in folded for c in creators)


def _junk_keyword(keyword: str) -> bool:
    return (
        HEX_JUNK.match(keyword) is not None
        or keyword.lower() in DROPPED_KEYWORDS
        or not any(ch.isalpha() for ch in keyword)
        or (len(keyword) > 20 and " " not in keyword)
    )


def clean_keywords(subjects: Iterable[str], creators: Sequence[str] = ()) -> list[str]:
    """Keywords as words: junk (hashes, "unsorted"), author names and duplicates removed."""
    cleaned: list[str] = []
    for subject in subjects:
        if _junk_keyword(subject.strip()):
            continue
        keyword = _fix_keyword(subject)
        if len(keyword) >= 2 and not _matches_creator(keyword, creators):
            cleaned.append(keyword)
    return list(dict.fromkeys(cleaned))


def clean_description(text: str | None, title: str, creators: Sequence[str] = ()) -> str | None:
    """A description worth keeping as a caption: human text, not a credit, link or the title."""
    if not text or re.search(JUNK_DESCRIPTION, text, re.IGNORECASE):
        return None
    text = " ".join(text.split())
    words = split_words(text)
    if not 2 <= len(words) <= 40 or _matches_creator(text, creators):
        return None
    if " ".join(words).lower() == " ".join(split_words(title)).lower():
        return None
    return text


def keyword_title(keywords: Sequence[str]) -> str:
    """A last-resort name from the first descriptive keywords (e.g. "flowchart shape")."""
    usable = [k for k in keywords if is_usable(k)]
    return " ".join(usable[:2])


def require_usable(text: str, reason: str = "no usable text") -> str:
    if not is_usable(text):
        raise InvalidInputError(reason)
    return text
