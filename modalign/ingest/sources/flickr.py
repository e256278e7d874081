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

from modalign.ingest.sources.item import SourceItem, SourceLimits, failed_item
from modalign.ingest.sources.manifest import entry_item
from modalign.ingest.sources.paths import is_folder
from modalign.ingest.sources.reading import source_lines

_IMAGE_DIRS = ("flickr30k-images", "flickr30k_images", "Images", "images")


def read_flickr(captions_file: Path, *, root: Path, limits: SourceLimits) -> Iterator[SourceItem]:
    """One item per image named in the file, with its captions, resolved under ``root`` (see
    :func:`default_flickr_root`); a row that cannot be parsed (an oversized field) is a failed
    item of its own."""
    raws = source_lines(captions_file, "Flickr captions")
    lines = (raw.decode("utf-8", errors="surrogateescape").rstrip("\r\n") for raw in raws)
    for name, group in itertools.groupby(_rows(lines), key=lambda row: row[0]):
        rows = list(group)
        if isinstance(name, int):
            yield failed_item(f"row {name}", f"row {name}: {rows[0][1]}")
            continue
        entry = {"captions": [caption for _, caption in rows], "source": "flickr30k"}
        yield entry_item(root, name, entry, limits)


def default_flickr_root(captions_file: Path) -> Path:
    """The image folder beside the captions file, by its usual names, else the file's folder."""
    folder = captions_file.resolve().parent
    for name in _IMAGE_DIRS:
        if is_folder(folder / name):
            return folder / name
    return folder


def looks_like_flickr(first_line: str) -> bool:
    """Whether a text file's first line is a Flickr token line or a Flickr CSV header."""
    head = first_line.strip().lower().replace(" ", "")
    if head.startswith(("image_name|", "image,caption", "image_name,")):
        return True
    name, sep, _ = first_line.partition("\t")
    return bool(sep) and "#" in name


Row = tuple[str, str] | tuple[int, str]  # (image name, caption), or (row number, parse error)


def _rows(lines: Iterator[str]) -> Iterator[Row]:
    first = next(lines, None)
    if first is None:
        return
    if "\t" in first:
        yield from _token_rows(itertools.chain([first], lines))
    elif "|" in first:
        yield from _csv_rows(lines, delimiter="|", caption_column=-1)
    else:
        yield from _csv_rows(lines, delimiter=",", caption_column=1)


HEADER_LINES = 1  # a CSV's rows are numbered from the file's first line, its header


def _token_rows(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    for line in lines:
        name, sep, caption = line.partition("\t")
        if sep:
            yield name.split("#", 1)[0].strip(), caption


def _csv_rows(lines: Iterator[str], *, delimiter: str, caption_column: int) -> Iterator[Row]:
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield HEADER_LINES + reader.line_num, f"cannot parse the row: {exc}"
            continue
        if len(row) >= 2 and row[0].strip():
            yield row[0].strip(), row[caption_column].strip()
