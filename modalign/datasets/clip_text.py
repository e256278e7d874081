"""Captions and tags for one openclipart drawing, from its SVG metadata and file name."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from modalign.datasets import titles
from modalign.datasets.captions import keyword_caption
from modalign.datasets.openclipart import ClipFile, ClipMetadata
from modalign.errors import InvalidInputError

#: A cleaned title carried by this many drawings names a set, not a picture: repair it.
SHARED_TITLE_MIN = 4


@dataclass(frozen=True)
class ClipText:
    """What the manifest says about a drawing."""

    captions: tuple[str, ...]
    tags: tuple[str, ...]


def title_key(meta: ClipMetadata) -> str:
    """The cleaned title, used to count how many drawings share it."""
    return titles.clean_title(meta.title or "", meta.creators).casefold()


def count_titles(metas: Iterable[ClipMetadata]) -> Counter[str]:
    return Counter(title_key(meta) for meta in metas)


def _repaired(clip: ClipFile, meta: ClipMetadata, raw: str) -> str:
    drop = titles.split_words(titles.strip_credits(raw)) if titles.is_collection_title(raw) else []
    name = titles.title_from_stem(clip.stem, meta.creators, drop)
    return titles.with_noun(name, titles.collection_noun(raw)) if titles.is_usable(name) else ""


def choose_title(clip: ClipFile, meta: ClipMetadata, shared: Mapping[str, int]) -> str:
    """The name caption: the cleaned title, or a repair when the title names no single picture."""
    raw = meta.title or ""
    if titles.is_icon_theme_title(raw):
        raise InvalidInputError("icon theme")
    card = titles.card_title(clip.stem)
    if card is not None:
        return card
    raw = titles.specific_part(raw) or raw
    title = titles.clean_title(raw, meta.creators)
    collection = titles.is_collection_title(raw) or not titles.is_usable(title)
    if not collection and shared.get(title.casefold(), 0) < SHARED_TITLE_MIN:
        return title
    repaired = _repaired(clip, meta, raw)
    if not collection:
        return repaired if repaired and titles.adds_words(repaired, title) else title
    if repaired:
        return repaired
    fallback = titles.keyword_title(titles.clean_keywords(meta.subjects, meta.creators))
    reason = "generic or collection title" if raw.strip() else "no title"
    return titles.require_usable(fallback, f"{reason}, no usable text")


def with_folder_noun(name: str, clip: ClipFile) -> str:
    """Flags are titled with their country ("turkey"): say that the picture is a flag."""
    if "flags" in PurePosixPath(clip.folder).parts and "flag" not in name.lower():
        return titles.with_noun(name, "flag")
    return name


def folder_tags(clip: ClipFile) -> list[str]:
    return [" ".join(titles.split_words(part)).lower() for part in PurePosixPath(clip.folder).parts]


def describe_clip(clip: ClipFile, meta: ClipMetadata, shared: Mapping[str, int]) -> ClipText:
    """Captions (name first, then keywords, then the description) and tags of a drawing."""
    name = with_folder_noun(choose_title(clip, meta, shared), clip)
    keywords = titles.clean_keywords(meta.subjects, meta.creators)
    captions = [name]
    with_keywords = keyword_caption(name, keywords)
    if with_keywords:
        captions.append(with_keywords)
    description = titles.clean_description(meta.description, name, meta.creators)
    if description:
        captions.append(description)
    tags = [t for t in dict.fromkeys([*keywords, *folder_tags(clip)]) if t]
    return ClipText(tuple(captions), tuple(tags))
