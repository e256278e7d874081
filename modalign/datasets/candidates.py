"""The demo set's candidate items: each source turned into captions, tags and a render task.

Text problems (no name, a collection title that cannot be repaired, a broken SVG) are decided here,
before anything is rendered; image problems are decided by the render tasks.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from modalign.datasets import clip_text
from modalign.datasets.emoji import EmojiEntry, GlyphStyle, has_raqm, load_annotations
from modalign.datasets.openclipart import (
    ClipFile,
    ClipMetadata,
    ImageLimits,
    excluded_folder,
    find_clips,
    read_svg_metadata,
)
from modalign.datasets.render import ClipJob, EmojiJob, Job
from modalign.datasets.splits import SplitRatios, split_for
from modalign.errors import InvalidInputError

log = logging.getLogger(__name__)

EMOJI_LICENSE = "OFL-1.1 AND Unicode-DFS-2016"
OPENCLIPART_LICENSE = "CC-PDDC"
RENDER_VERSION = "v2"


@dataclass(frozen=True)
class Candidate:
    """One item that will be in the manifest if its image renders."""

    source: str
    out_rel: str
    captions: tuple[str, ...]
    tags: tuple[str, ...]
    license: str
    group: str
    split_key: str
    job: Job
    fingerprint: str
    variant: bool = False


@dataclass
class Skips:
    """Items left out, by source and reason."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, source: str, reason: str) -> None:
        self.counts.setdefault(source, Counter())[reason] += 1


def _file_stamp(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _emoji_candidate(entry: EmojiEntry, style: GlyphStyle, font_stamp: str) -> Candidate:
    fingerprint = f"emoji|{RENDER_VERSION}|{style}|{font_stamp}|raqm={has_raqm()}|{entry.sequence}"
    return Candidate(
        source="emoji",
        out_rel=f"emoji/{entry.codepoints}.png",
        captions=tuple(entry.captions()),
        tags=entry.keywords,
        license=EMOJI_LICENSE,
        group=entry.group,
        split_key=entry.group,
        job=EmojiJob(entry.sequence, style),
        fingerprint=fingerprint,
        variant=entry.is_skin_tone_variant,
    )


def emoji_candidates(
    annotations: tuple[Path, ...],
    style: GlyphStyle,
    *,
    ratios: SplitRatios,
    skips: Skips,
    limit: int | None = None,
) -> list[Candidate]:
    """Every named emoji; skin-tone variants only when their base emoji's group is in train."""
    entries = load_annotations(annotations)[:limit]
    stamp = _file_stamp(style.font_path)
    kept = []
    for entry in entries:
        if entry.is_skin_tone_variant and split_for(entry.group, ratios) != "train":
            skips.add("emoji", "skin-tone variant of a val/test emoji")
            continue
        kept.append(_emoji_candidate(entry, style, stamp))
    log.info("emoji: %d candidates from %d CLDR entries", len(kept), len(entries))
    return kept


def _metadata(clips: list[ClipFile], skips: Skips) -> dict[str, ClipMetadata]:
    metas: dict[str, ClipMetadata] = {}
    for clip in clips:
        reason = excluded_folder(clip)
        try:
            if reason is None:
                metas[clip.rel] = read_svg_metadata(clip.svg)
        except InvalidInputError as exc:
            reason = str(exc)
        if reason is not None:
            skips.add("openclipart", reason)
    return metas


def _clip_candidate(clip: ClipFile, text: clip_text.ClipText, limits: ImageLimits) -> Candidate:
    try:
        source_sha = hashlib.sha256(clip.png.read_bytes()).hexdigest()
    except OSError as exc:
        raise InvalidInputError("unreadable PNG") from exc
    return Candidate(
        source="openclipart",
        out_rel=f"openclipart/{clip.rel}",
        captions=text.captions,
        tags=text.tags,
        license=OPENCLIPART_LICENSE,
        group=f"openclipart:{source_sha[:16]}",
        split_key=source_sha,
        job=ClipJob(clip.png, limits),
        fingerprint=f"clip|{RENDER_VERSION}|{limits}|{source_sha}",
    )


def clip_candidates(
    png_root: Path,
    svg_root: Path,
    limits: ImageLimits,
    *,
    skips: Skips,
    limit: int | None = None,
) -> list[Candidate]:
    """Every openclipart drawing whose SVG metadata yields a caption that names its picture."""
    clips = find_clips(png_root, svg_root)[:limit]
    metas = _metadata(clips, skips)
    shared = clip_text.count_titles(metas.values())
    kept = []
    for clip in clips:
        if clip.rel not in metas:
            continue
        try:
            text = clip_text.describe_clip(clip, metas[clip.rel], shared)
            kept.append(_clip_candidate(clip, text, limits))
        except InvalidInputError as exc:
            skips.add("openclipart", str(exc))
    log.info("openclipart: %d candidates from %d drawings", len(kept), len(clips))
    return kept
