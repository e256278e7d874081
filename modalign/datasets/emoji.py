"""Emoji from Unicode CLDR annotations, rendered as colour images with the Noto Color Emoji font.

CLDR's ``annotations/en.xml`` and ``annotationsDerived/en.xml`` give every emoji a short name
(``type="tts"``) and keywords. Each sequence is drawn with Pillow (raqm layout, so ZWJ sequences
become one glyph) centred on a white square. Sequences the font cannot draw as one glyph (blank,
tofu, or falling apart into several glyphs) are rejected with a reason.
"""

from __future__ import annotations

import io
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, features

from modalign.datasets.captions import keyword_caption
from modalign.errors import InvalidInputError

log = logging.getLogger(__name__)

SKIN_TONES = re.compile("[\U0001f3fb-\U0001f3ff]")
VARIATION_SELECTOR = "\ufe0f"
NONCHARACTER = "\U0010fffe"  # never has a glyph: what the font draws for "missing"


@dataclass(frozen=True)
class EmojiEntry:
    """One emoji sequence with its CLDR name and keywords."""

    sequence: str
    name: str
    keywords: tuple[str, ...] = ()

    @property
    def is_skin_tone_variant(self) -> bool:
        return SKIN_TONES.search(self.sequence) is not None

    @property
    def base(self) -> str:
        """The sequence without skin-tone modifiers (what its variants are grouped under)."""
        return SKIN_TONES.sub("", self.sequence)

    @property
    def codepoints(self) -> str:
        """Lower-case hex code points joined by '-', e.g. ``1f44d-1f3fb``."""
        return codepoints_of(self.sequence)

    @property
    def group(self) -> str:
        return f"emoji:{codepoints_of(self.base) or 'skin-tone'}"

    def captions(self) -> list[str]:
        """The name first, then the name with the keywords that add to it."""
        extra = keyword_caption(self.name, self.keywords)
        return [self.name, extra] if extra else [self.name]


def codepoints_of(sequence: str) -> str:
    return "-".join(f"{ord(ch):x}" for ch in sequence if ch != VARIATION_SELECTOR)


def load_annotations(files: Iterable[Path]) -> list[EmojiEntry]:
    """Entries with a name from the given CLDR annotation files, in file order, first one wins."""
    names: dict[str, str] = {}
    keywords: dict[str, tuple[str, ...]] = {}
    for path in files:
        for cp, kind, text in _annotations_in(path):
            if kind == "tts":
                names.setdefault(cp, text)
            else:
                keywords.setdefault(cp, tuple(k.strip() for k in text.split("|") if k.strip()))
    return [EmojiEntry(cp, name, keywords.get(cp, ())) for cp, name in names.items()]


def _annotations_in(path: Path) -> Iterable[tuple[str, str, str]]:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise InvalidInputError(f"cannot read CLDR annotations {path}: {exc}") from exc
    for node in root.iter("annotation"):
        cp, text = node.get("cp"), " ".join((node.text or "").split())
        if cp and text:
            yield cp, node.get("type", "keywords"), text


@dataclass(frozen=True)
class GlyphStyle:
    """How a glyph is drawn: font, size (109 is Noto Color Emoji's bitmap size) and canvas."""

    font_path: Path
    font_size: int = 109
    canvas: int = 160


@lru_cache(maxsize=4)
def has_raqm() -> bool:
    """Whether Pillow can shape text with raqm (needed for ZWJ sequences and flags)."""
    return bool(features.check("raqm"))


@lru_cache(maxsize=4)
def load_font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    """The font, loaded once per process, with raqm layout when available."""
    layout = ImageFont.Layout.RAQM if has_raqm() else ImageFont.Layout.BASIC
    try:
        return ImageFont.truetype(str(path), size, layout_engine=layout)
    except OSError as exc:
        raise InvalidInputError(f"cannot load emoji font {path}: {exc}") from exc


def _draw(text: str, style: GlyphStyle) -> Image.Image:
    font = load_font(style.font_path, style.font_size)
    image = Image.new("RGBA", (style.canvas, style.canvas), (255, 255, 255, 0))
    centre = style.canvas / 2
    ImageDraw.Draw(image).text((centre, centre), text, font=font, embedded_color=True, anchor="mm")
    return image


@lru_cache(maxsize=4)
def _missing_glyph(style: GlyphStyle) -> bytes:
    return _draw(NONCHARACTER, style).tobytes()


def _shapeable(sequence: str) -> str:
    """Without raqm, variation selectors would be drawn as separate glyphs: drop them."""
    return sequence if has_raqm() else sequence.replace(VARIATION_SELECTOR, "")


def render_glyph(sequence: str, style: GlyphStyle) -> Image.Image:
    """Draw one emoji on a white square (RGB); raise InvalidInputError(reason) if it fails."""
    text = _shapeable(sequence)
    font = load_font(style.font_path, style.font_size)
    if font.getlength(text) > 1.5 * style.font_size * 1.25:
        raise InvalidInputError("not a single glyph")
    glyph = _draw(text, style)
    if glyph.getchannel("A").getbbox() is None:
        raise InvalidInputError("blank glyph")
    if glyph.tobytes() == _missing_glyph(style):
        raise InvalidInputError("missing glyph (tofu)")
    canvas = Image.new("RGB", glyph.size, (255, 255, 255))
    canvas.paste(glyph, mask=glyph.getchannel("A"))
    return canvas


def png_bytes(image: Image.Image, compress_level: int = 3) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def variants_of(entries: Sequence[EmojiEntry]) -> dict[str, list[EmojiEntry]]:
    """Entries grouped by their base emoji (the group name)."""
    groups: dict[str, list[EmojiEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.group, []).append(entry)
    return groups
