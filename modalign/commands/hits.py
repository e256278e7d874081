"""Search hits for the terminal: a row of facts per hit, its file on a line of its own below.

The file is shown as the catalog keeps it (relative to the data directory when it lies inside,
else relative to the current directory when inside that, else absolute) and is never cut: its
line is left to the terminal to wrap, so it stays one line to copy. On a terminal that supports
them it is a link to the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

from rich.console import Console
from rich.style import Style
from rich.text import Text

from modalign.config import PathsSettings
from modalign.search.results import AssetInfo, CaptionHit, ImageHit

Hit = ImageHit | CaptionHit
COLUMNS = ("#", "score", "asset", "source", "size", "tags")
RIGHT = frozenset({"#", "score", "asset", "size"})


def file_path(uri: str, paths: PathsSettings) -> Path | None:
    """The file a stored uri names on this machine (None for a non-file URL)."""
    if "://" in uri:
        parsed = urlparse(uri)
        return Path(unquote(parsed.path)) if parsed.scheme == "file" else None
    return paths.from_stored(uri)


def file_link(asset: AssetInfo | None, paths: PathsSettings) -> str | None:
    """A ``file://`` link to the hit's image (its URL as stored when it is not a file)."""
    if asset is None:
        return None
    path = file_path(asset.uri, paths)
    return path.as_uri() if path is not None else asset.uri


def shown_path(uri: str, cwd: Path) -> str:
    """A stored uri as the user reads it: relative paths as stored; an absolute file relative
    to ``cwd`` when inside it; a URL's path for ``file://``; any other URL as it is."""
    if "://" in uri:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            return uri
        uri = unquote(parsed.path)
    path = Path(uri)
    if path.is_absolute() and path.is_relative_to(cwd):
        return path.relative_to(cwd).as_posix()
    return uri


def _row(rank: int, hit: Hit) -> list[str]:
    payload = hit.payload
    size = f"{payload.get('width', '?')}x{payload.get('height', '?')}"
    tags = ", ".join(payload.get("tags", []))
    return [str(rank), f"{hit.score:.4f}", str(hit.asset_id), str(payload.get("source", "")),
            size, tags]


def _format(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as aligned text: every column as wide as its widest cell, the last left as it is."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = []
    for row in rows:
        cells = [cell.rjust(width) if name in RIGHT else cell.ljust(width)
                 for cell, width, name in zip(row, widths, COLUMNS, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return lines


def _details(hit: Hit, paths: PathsSettings, cwd: Path, indent: str) -> list[Text]:
    """The lines under a hit's row: its caption (caption hits), then its file."""
    below: list[Text] = []
    if isinstance(hit, CaptionHit):
        below.append(Text(f'{indent}"{hit.text}"'))
    if hit.asset is None:
        below.append(Text(f"{indent}(not in catalog)", style="dim"))
        return below
    link = file_link(hit.asset, paths)
    path = Text(indent)
    path.append(shown_path(hit.asset.uri, cwd),
                Style(link=link) if link and link.startswith("file://") else Style())
    below.append(path)
    return below


def hit_lines(
    hits: Sequence[Hit], first_rank: int, paths: PathsSettings, cwd: Path, title: str
) -> list[tuple[Text, bool]]:
    """(line, wrap) pairs: the title, a header, each hit's row (cut to the width: ``wrap``
    False) and under it its caption and file (never cut: ``wrap`` True, the terminal wraps)."""
    rows = [list(COLUMNS), *(_row(rank, hit) for rank, hit in enumerate(hits, first_rank))]
    lines = _format(rows)
    indent = " " * (max(len(row[0]) for row in rows) + 2)  # under the score
    out = [(Text(title, style="bold"), True), (Text(lines[0], style="bold"), False)]
    for line, hit in zip(lines[1:], hits, strict=True):
        out.append((Text(line), False))
        out += [(text, True) for text in _details(hit, paths, cwd, indent)]
    return out


def print_hits(
    console: Console, hits: Sequence[Hit], first_rank: int, paths: PathsSettings, title: str
) -> None:
    """Print the hits on ``console`` (files shown relative to the current directory)."""
    for text, wrap in hit_lines(hits, first_rank, paths, Path.cwd(), title):
        if wrap:
            console.print(text, soft_wrap=True)
        else:
            console.print(text, no_wrap=True, overflow="ellipsis")
