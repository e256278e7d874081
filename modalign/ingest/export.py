"""Any source as a training manifest: ``modalign train`` reads JSONL manifests, and this writes one
from a folder, a manifest, COCO captions or Flickr30K captions.

Every entry the source reader accepts (confined to its root, captions cleaned) becomes one line,
its path relative to the manifest's folder. The split is kept when the source gives one
(``split`` of a manifest entry); otherwise it is drawn from the SHA-256 of the file's bytes, or of
its ``group`` when the entry names one, so copies of one image (and variants of one group) never
land on both sides of training and evaluation. Entries without a caption cannot be trained on and
are counted apart; entries the reader fails, and files that cannot be read, are listed with
their reasons.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from modalign.datasets.manifest import SPLITS, ManifestItem, Split, write_manifest
from modalign.datasets.splits import SplitRatios, split_for
from modalign.errors import InvalidInputError
from modalign.filecopy import hash_file
from modalign.ingest.sources import SourceItem, SourceLimits, SourceSpec, iter_source, source_root


@dataclass
class ExportReport:
    """What one export wrote and what it left out."""

    manifest: Path
    splits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SPLITS, 0))
    uncaptioned: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def written(self) -> int:
        return sum(self.splits.values())


def export_manifest(
    spec: SourceSpec, out: Path, *, limits: SourceLimits, ratios: SplitRatios
) -> ExportReport:
    """Write the source's captioned entries to the manifest ``out`` (atomically)."""
    base = out.parent.resolve()
    root = source_root(spec)
    if not root.is_relative_to(base):
        raise InvalidInputError(
            f"the manifest must sit in the source's image folder {root} or above it, "
            f"since its paths are relative to its own folder (got {out})"
        )
    if out.resolve() == spec.path.resolve():
        raise InvalidInputError(f"the manifest {out} would overwrite the source; name another file")
    report = ExportReport(manifest=out)
    context = _Context(base=base, ratios=ratios, source=spec.kind)
    items = _manifest_items(iter_source(spec, limits), context, report)
    write_manifest(out, items)
    return report


@dataclass(frozen=True)
class _Context:
    base: Path  # the manifest's folder
    ratios: SplitRatios
    source: str  # the ``source`` of entries that name none: the source's kind


def _manifest_items(
    entries: Iterator[SourceItem], context: _Context, report: ExportReport
) -> Iterator[ManifestItem]:
    for entry in entries:
        if entry.path is None:
            report.failed.append((entry.key, entry.error or "unreadable"))
        elif not entry.captions:
            report.uncaptioned += 1
        else:
            try:
                item = _manifest_item(entry, entry.path, context)
            except OSError as exc:
                report.failed.append((entry.key, f"cannot read: {exc.strerror or exc}"))
                continue
            report.splits[item.split] += 1
            yield item


def _manifest_item(entry: SourceItem, path: Path, context: _Context) -> ManifestItem:
    digest = hash_file(path).sha256
    group = entry.meta.get("group")
    given = entry.meta.get("split")
    split: Split = given if given in SPLITS else split_for(str(group or digest), context.ratios)
    source = entry.meta.get("source")
    return ManifestItem(
        path=PurePosixPath(os.path.relpath(path, context.base)).as_posix(),
        captions=list(entry.captions),
        tags=list(entry.tags),
        source=source if isinstance(source, str) and source else context.source,
        split=split,
        group=group if isinstance(group, str) else None,
        sha256=digest,
    )
