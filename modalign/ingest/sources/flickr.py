"""Flickr30K (and Flickr8K) captions: the token file or a CSV.

Formats read:
- ``results_20130124.token``: ``1000092795.jpg#0<TAB>Two young guys ...``
- ``results.csv`` (Kaggle): header ``image_name| comment_number| comment``, ``|``-separated
- ``captions.txt`` / CSV: header ``image,caption``

Lines of one image are consecutive in these files; they are grouped as they stream by. Images
resolve under ``image_root``; by default ``flickr30k-images/`` (or ``Images/``) beside the file.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path

from modalign.ingest.sources.item import SourceItem
from modalign.ingest.sources.manifest import entry_item

_IMAGE_DIRS = ("flickr30k-images", "flickr30k_images", "Images", "images")


def read_flickr(
    captions_file: Path, *, image_root: Path | None = None, max_caption_chars: int
) -> Iterator[SourceItem]:
    """One item per image named in the file, with its captions."""
    root = (image_root or default_flickr_root(captions_file)).resolve()
    with captions_file.open("rb") as fh:
        lines = (raw.decode("utf-8", errors="replace").rstrip("\r\n") for raw in fh)
        rows = _rows(lines)
        for name, group in itertools.groupby(rows, key=lambda row: row[0]):
            entry = {"captions": [caption for _, caption in group], "source": "flickr30k"}
            yield entry_item(root, name, entry, max_caption_chars)


def default_flickr_root(captions_file: Path) -> Path:
    """The image folder beside the captions file, by its usual names, else the file's folder."""
    folder = captions_file.resolve().parent
    for name in _IMAGE_DIRS:
        if (folder / name).is_dir():
            return folder / name
    return folder


def looks_like_flickr(first_line: str) -> bool:
    """Whether a text file's first line is a Flickr token line or a Flickr CSV header."""
    head = first_line.strip().lower().replace(" ", "")
    if head.startswith(("image_name|", "image,caption", "image_name,")):
        return True
    name, sep, _ = first_line.partition("\t")
    return bool(sep) and "#" in name


def _rows(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    first = next(lines, None)
    if first is None:
        return
    if "\t" in first:
        yield from _token_rows(itertools.chain([first], lines))
    elif "|" in first:
        yield from _csv_rows(lines, delimiter="|", caption_column=-1)
    else:
        yield from _csv_rows(lines, delimiter=",", caption_column=1)


def _token_rows(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    for line in lines:
        name, sep, caption = line.partition("\t")
        if sep:
            yield name.split("#", 1)[0].strip(), caption


def _csv_rows(
    lines: Iterator[str], *, delimiter: str, caption_column: int
) -> Iterator[tuple[str, str]]:
    for row in csv.reader(lines, delimiter=delimiter):
        if len(row) >= 2 and row[0].strip():
            yield row[0].strip(), row[caption_column].strip()
