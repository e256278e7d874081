"""Build the demo dataset: emoji and openclipart images, a JSONL manifest and a summary.

``build_demo`` renders into ``<out_dir>/emoji`` and ``<out_dir>/openclipart``, writes
``manifest.jsonl`` and ``summary.json``, and returns a :class:`BuildSummary`. It is idempotent: a
second run reuses every image whose inputs and file are unchanged. Splits are decided by a hash
of each item's group (the image hash for drawings, the base emoji for emoji), except that
skin-tone variants and items whose name caption is shared by several images stay in train, so
every val/test query names one picture.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field, computed_field

from modalign.config import Settings
from modalign.datasets.candidates import Candidate, Skips, clip_candidates, emoji_candidates
from modalign.datasets.emoji import GlyphStyle
from modalign.datasets.manifest import SPLITS, ManifestItem, Split, write_manifest
from modalign.datasets.openclipart import ImageLimits
from modalign.datasets.render import Outcome, RenderIndex, Task, render_all
from modalign.datasets.splits import SplitRatios, split_for
from modalign.progress import ProgressSink

log = logging.getLogger(__name__)

CLDR = Path("/usr/share/unicode/cldr/common")
MANIFEST_NAME = "manifest.jsonl"
SUMMARY_NAME = "summary.json"
INDEX_NAME = ".render-index.json"
IMAGE_DIRS = ("emoji", "openclipart")


@dataclass(frozen=True)
class DemoSources:
    """Where the Debian packages put the demo's raw material."""

    emoji_font: Path = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
    cldr_annotations: tuple[Path, ...] = (
        CLDR / "annotations" / "en.xml",
        CLDR / "annotationsDerived" / "en.xml",
    )
    openclipart_png: Path = Path("/usr/share/openclipart/png")
    openclipart_svg: Path = Path("/usr/share/openclipart/svg")


@dataclass(frozen=True)
class BuildOptions:
    """How the demo set is built. ``limit`` caps the items taken from each source (for tests)."""

    limit: int | None = None
    workers: int = 2
    ratios: SplitRatios = field(default_factory=SplitRatios)
    image_limits: ImageLimits = field(default_factory=ImageLimits)
    glyph_size: int = 109
    glyph_canvas: int = 160
    #: A name caption carried by this many images cannot identify one: those images stay in train.
    shared_caption_min: int = 3


class SourceSummary(BaseModel):
    """Counts for one source."""

    splits: dict[str, int] = Field(default_factory=lambda: {str(s): 0 for s in SPLITS})
    skipped: dict[str, int] = Field(default_factory=dict)
    variants: int = Field(0, description="Skin-tone variants kept (all in train).")
    shared_caption_train_only: int = Field(0, description="Kept in train: name caption shared.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kept(self) -> int:
        return sum(self.splits.values())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kept_without_variants(self) -> int:
        return self.kept - self.variants


class BuildSummary(BaseModel):
    """What a build produced."""

    out_dir: str
    manifest: str
    sources: dict[str, SourceSummary]
    rendered: int
    reused: int
    seconds: float

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total(self) -> int:
        return sum(source.kept for source in self.sources.values())

    def split_total(self, split: Split) -> int:
        return sum(source.splits[split] for source in self.sources.values())


def _tasks(out_dir: Path, candidates: Iterable[Candidate]) -> dict[str, Task]:
    return {c.out_rel: Task(c.job, out_dir / c.out_rel, c.fingerprint) for c in candidates}


def _unique_images(
    candidates: list[Candidate], outcomes: dict[str, Outcome], skips: Skips
) -> list[tuple[Candidate, Outcome]]:
    """Candidates whose image rendered, first one kept when two images are byte-identical."""
    seen: set[str] = set()
    kept = []
    for candidate in candidates:
        outcome = outcomes[candidate.out_rel]
        if outcome.sha256 is None:
            skips.add(candidate.source, outcome.reason or "render failed")
        elif outcome.sha256 in seen:
            skips.add(candidate.source, "duplicate image")
        else:
            seen.add(outcome.sha256)
            kept.append((candidate, outcome))
    return kept


def _name_key(caption: str) -> str:
    return " ".join(caption.casefold().split())


def _split(candidate: Candidate, shared: bool, options: BuildOptions) -> Split:
    if candidate.variant or shared:
        return "train"
    return split_for(candidate.split_key, options.ratios)


def _item(candidate: Candidate, outcome: Outcome, split: Split) -> ManifestItem:
    return ManifestItem(
        path=candidate.out_rel,
        captions=list(candidate.captions),
        tags=list(candidate.tags),
        source=candidate.source,
        license=candidate.license,
        split=split,
        group=candidate.group,
        sha256=outcome.sha256,
        width=outcome.width,
        height=outcome.height,
    )


def assign_items(
    rendered: list[tuple[Candidate, Outcome]], options: BuildOptions
) -> tuple[list[ManifestItem], dict[str, SourceSummary]]:
    """Manifest items with their splits, and per-source counts of what went where."""
    names = Counter(_name_key(c.captions[0]) for c, _ in rendered)
    summaries: dict[str, SourceSummary] = {}
    items = []
    for candidate, outcome in rendered:
        shared = names[_name_key(candidate.captions[0])] >= options.shared_caption_min
        split = _split(candidate, shared, options)
        summary = summaries.setdefault(candidate.source, SourceSummary())
        summary.splits[split] += 1
        summary.variants += candidate.variant
        summary.shared_caption_train_only += shared and not candidate.variant
        items.append(_item(candidate, outcome, split))
    return items, summaries


def _remove_stale(out_dir: Path, keep: set[str]) -> int:
    """Delete images a previous build wrote that are no longer in the manifest."""
    removed = 0
    for folder in IMAGE_DIRS:
        for path in (out_dir / folder).rglob("*.png"):
            if path.relative_to(out_dir).as_posix() not in keep:
                path.unlink()
                removed += 1
    return removed


def _candidates(sources: DemoSources, options: BuildOptions, skips: Skips) -> list[Candidate]:
    style = GlyphStyle(sources.emoji_font, options.glyph_size, options.glyph_canvas)
    emoji = emoji_candidates(
        sources.cldr_annotations, style, ratios=options.ratios, skips=skips, limit=options.limit
    )
    clips = clip_candidates(
        sources.openclipart_png,
        sources.openclipart_svg,
        options.image_limits,
        skips=skips,
        limit=options.limit,
    )
    return emoji + clips


def build_demo(
    out_dir: Path, sources: DemoSources | None = None, options: BuildOptions | None = None,
    sink: ProgressSink | None = None,
) -> BuildSummary:
    """Build (or refresh) the demo dataset in ``out_dir`` and return its summary (``sink``
    shows the rendering)."""
    sources, options = sources or DemoSources(), options or BuildOptions()
    started = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    skips = Skips()
    candidates = _candidates(sources, options, skips)
    index = RenderIndex.load(out_dir, out_dir / INDEX_NAME)
    outcomes, rendered = render_all(
        index, _tasks(out_dir, candidates), options.workers, sink
    )
    items, summaries = assign_items(_unique_images(candidates, outcomes, skips), options)
    write_manifest(out_dir / MANIFEST_NAME, items)
    index.save(out_dir / INDEX_NAME)
    removed = _remove_stale(out_dir, {item.path for item in items})
    for source, reasons in skips.counts.items():
        summaries.setdefault(source, SourceSummary()).skipped = dict(reasons.most_common())
    summary = BuildSummary(
        out_dir=str(out_dir),
        manifest=str(out_dir / MANIFEST_NAME),
        sources=summaries,
        rendered=rendered,
        reused=len(candidates) - rendered,
        seconds=round(time.perf_counter() - started, 2),
    )
    (out_dir / SUMMARY_NAME).write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
    log.info("demo set: %d items in %s (%d stale files removed)", summary.total, out_dir, removed)
    return summary


def build_demo_for(
    settings: Settings, options: BuildOptions | None = None, sink: ProgressSink | None = None
) -> BuildSummary:
    """Build the demo dataset where the settings put it (``settings.paths.demo_dir``)."""
    return build_demo(settings.paths.demo_dir, DemoSources(), options, sink)
