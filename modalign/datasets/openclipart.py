"""Openclipart drawings: PNGs paired with their SVGs, whose RDF metadata holds title and keywords.

Debian ships the PNG renderings (``openclipart-png``) and the SVG sources (``openclipart-svg``) in
parallel trees. The SVG's ``<metadata><rdf:RDF><cc:Work>`` carries ``dc:title``, ``dc:subject``
keywords, ``dc:description`` and ``dc:creator``. Symlinked duplicates are listed once.
"""

from __future__ import annotations

import io
import logging
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

from modalign.errors import InvalidInputError

log = logging.getLogger(__name__)

DC = "{http://purl.org/dc/elements/1.1/}"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"

#: zlib level of the PNGs written: 3 is ~2x faster than the default 6 for ~10% larger files.
PNG_COMPRESS_LEVEL = 3
#: Not pictures of things: star polygons and colour gradients.
EXCLUDED_FOLDERS: tuple[str, ...] = ("shapes/stars", "special/gradients")


@dataclass(frozen=True)
class ClipFile:
    """One drawing: its PNG, its SVG and its path relative to the PNG root (POSIX)."""

    rel: str
    png: Path
    svg: Path

    @property
    def folder(self) -> str:
        return str(PurePosixPath(self.rel).parent)

    @property
    def stem(self) -> str:
        return PurePosixPath(self.rel).stem


@dataclass(frozen=True)
class ClipMetadata:
    """What an SVG's RDF says about its drawing."""

    title: str | None = None
    subjects: tuple[str, ...] = ()
    description: str | None = None
    creators: tuple[str, ...] = ()


def find_clips(png_root: Path, svg_root: Path) -> list[ClipFile]:
    """Every real (non-symlink) PNG under png_root with its SVG path, sorted by relative path."""
    clips = []
    for png in sorted(png_root.rglob("*.png")):
        if png.is_symlink() or not png.is_file():
            continue
        rel = png.relative_to(png_root).as_posix()
        clips.append(ClipFile(rel, png, svg_root / PurePosixPath(rel).with_suffix(".svg")))
    return clips


def excluded_folder(clip: ClipFile) -> str | None:
    """Why a clip's folder is left out (star shapes, icon themes), or None."""
    folder = clip.folder + "/"
    if any(folder.startswith(excluded + "/") for excluded in EXCLUDED_FOLDERS):
        return "excluded folder (stars, gradients)"
    if any(part.endswith("-theme") for part in PurePosixPath(clip.folder).parts):
        return "icon theme"
    return None


def _text(node: ET.Element | None) -> str | None:
    if node is None:
        return None
    text = " ".join("".join(node.itertext()).split())
    return text or None


def _agent_names(work: ET.Element) -> tuple[str, ...]:
    names = []
    for tag in ("creator", "rights", "contributor"):
        for agent in work.findall(f"{DC}{tag}"):
            name = _text(agent.find(f".//{DC}title")) or _text(agent)
            if name:
                names.append(name)
    return tuple(dict.fromkeys(names))


def _subjects(work: ET.Element) -> tuple[str, ...]:
    subject = work.find(f"{DC}subject")
    if subject is None:
        return ()
    items = [_text(li) for li in subject.iter(f"{RDF}li")]
    if not any(items):
        items = [part.strip() for part in (_text(subject) or "").split(",")]
    return tuple(item for item in items if item)


def read_svg_metadata(path: Path) -> ClipMetadata:
    """Title, keywords, description and creators from an SVG's RDF; InvalidInputError if broken."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        log.debug("broken SVG %s: %s", path, exc)
        raise InvalidInputError("broken SVG") from exc
    except OSError as exc:
        log.debug("unreadable SVG %s: %s", path, exc)
        raise InvalidInputError("missing or unreadable SVG") from exc
    work = next((node for node in root.iter() if node.tag.endswith("}Work")), None)
    if work is None:
        return ClipMetadata()
    return ClipMetadata(
        title=_text(work.find(f"{DC}title")),
        subjects=_subjects(work),
        description=_text(work.find(f"{DC}description")),
        creators=_agent_names(work),
    )


@dataclass(frozen=True)
class ImageLimits:
    """Bounds on the drawings kept, and the size they are shrunk to."""

    max_side: int = 288
    min_side: int = 16
    max_aspect: float = 8.0
    max_source_pixels: int = 40_000_000


def _check_size(width: int, height: int, limits: ImageLimits) -> None:
    if width * height > limits.max_source_pixels:
        raise InvalidInputError("source image too large")
    if min(width, height) < limits.min_side:
        raise InvalidInputError("image too small")
    if max(width, height) / min(width, height) > limits.max_aspect:
        raise InvalidInputError("extreme aspect ratio")


def _normalise_mode(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "RGB"):
        return image
    has_alpha = image.mode in ("LA", "PA") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _band_is_flat(band: Image.Image) -> bool:
    low, high = band.getextrema()
    return bool(low == high)


def _is_blank(image: Image.Image) -> bool:
    """Nothing to see: fully transparent, or one flat colour."""
    if image.mode == "RGBA":
        alpha = image.getchannel("A")
        if alpha.getbbox() is None:
            return True
        if not _band_is_flat(alpha):
            return False
    return _band_is_flat(image.convert("L"))


def prepare_png(data: bytes, limits: ImageLimits) -> tuple[bytes, int, int]:
    """The PNG bytes to store (the original when small enough, else shrunk), width, height."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
        with probe:
            _check_size(*probe.size, limits)
            probe.load()
            image = _normalise_mode(probe)
    except Image.DecompressionBombError as exc:
        raise InvalidInputError("source image too large") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        log.debug("undecodable PNG: %s", exc)
        raise InvalidInputError("undecodable PNG") from exc
    original = max(image.size) <= limits.max_side
    if not original:
        image.thumbnail((limits.max_side, limits.max_side), Image.Resampling.BICUBIC, 2.0)
    if _is_blank(image):
        raise InvalidInputError("blank image")
    if original:
        return data, image.width, image.height
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue(), image.width, image.height
