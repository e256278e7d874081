"""Near-duplicate benchmark: detection quality against the demo set's known groups, and what
detection costs ingestion.

The demo manifest ties an emoji's skin-tone variants (and the base emoji) together with its
``group`` field (``emoji:<codepoints without modifiers>``); every other entry has a group of its
own. Pairs of entries sharing a group are the positives. One run:

1. ingests the manifest (or its first ``--limit`` entries) twice in-process, each into a fresh
   data dir (SQLite catalog, qdrant-edge store, 1 torch thread, the encoder child process):
   ``ingest.near_duplicates=off``, then ``link`` at the lowest threshold of the sweep; the
   throughput ratio is on/off (items/s, from job creation to the job's finish), repeated
   ``--rounds`` times alternating, best of each;
2. reads the recorded relations and, for each threshold of the sweep, keeps those at or above
   it (what ingestion at that threshold records: an image's original is its nearest indexed or
   earlier image whatever the threshold, recorded when their cosine reaches it), and groups the
   images by them (connected components, as ``modalign duplicates`` lists them);
3. scores the *detected pairs*, every two images in one detected group, against the positives:
   precision = detected pairs that are positives / detected pairs, recall = positives detected /
   positives. ``edge_precision`` is the share of recorded relations themselves that tie two
   images of one known group; ``f1`` their harmonic mean of precision and recall. The same at
   the default threshold within each ``source`` of the manifest (``by_source``: pairs and
   relations whose two images both come from it).

The known groups are a lower bound of the true ones: they tie skin-tone variants only, so two
drawings of openclipart that differ only in colour, or two emoji that look alike, count against
precision when detected.

The model is a trained checkpoint (``--model``: a directory written by ``modalign train``); a
random model means nothing here. Prints a table, then one JSON object as the last line. Run with
``nice``; the machine is shared.

    nice .venv/bin/python bench/duplicates.py --model data/models/v1 [--limit N] [--rounds 1]
        [--thresholds 0.85,0.9,...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from modalign.config import Settings
from modalign.search.duplicates import connected

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = "0.80,0.85,0.90,0.93,0.95,0.96,0.97,0.98,0.99"
log = logging.getLogger("bench.duplicates")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=ROOT / "data/demo/manifest.jsonl")
    parser.add_argument("--model", type=Path, required=True, help="A trained checkpoint dir.")
    parser.add_argument("--limit", type=int, default=None, help="The first N entries only.")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=1, help="Off/on ingestions, alternating.")
    parser.add_argument("--thresholds", default=THRESHOLDS)
    parser.add_argument(
        "--cache", type=Path, default=None,
        help="Tower cache dir to share (default: a fresh one, filled before the timed runs).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the work directory.")
    return parser.parse_args()


def first_entries(manifest: Path, limit: int | None, target: Path) -> Path:
    """The manifest's first ``limit`` entries (all when None) and their images, copied under
    ``target`` (ingestion reads a manifest's files under its folder only)."""
    lines = manifest.read_text().splitlines()[:limit]
    for entry in map(json.loads, lines):
        destination = target / entry["path"]
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(manifest.parent / entry["path"], destination)
    out = target / "manifest.jsonl"
    out.write_text("".join(line + "\n" for line in lines))
    return out


def settings_for(
    data_dir: Path, cache: Path, batch_size: int, mode: str, threshold: float
) -> Settings:
    data_dir.mkdir(parents=True)
    (data_dir / "cache").symlink_to(cache, target_is_directory=True)
    return Settings(
        paths={"data_dir": data_dir},
        encoders={"torch_threads": 1, "image_backend": "onnx"},
        ingest={
            "batch_size": batch_size, "near_duplicates": mode,
            "near_duplicate_threshold": threshold,
        },
    )


def install_model(settings: Settings, model: Path) -> str:
    """The checkpoint copied under the data dir and registered as the active version, with its
    collections created (set-up, as before any real ingest into a version)."""
    from modalign.encoders.checkpoint import read_card
    from modalign.encoders.model_versions import register_checkpoint
    from modalign.search.factory import open_store

    card = read_card(model)
    directory = settings.paths.models_dir / card.name
    shutil.copytree(model, directory)
    register_checkpoint(settings, directory, card)
    store = open_store(settings)
    try:
        store.create_version(card.name, image_dim=card.dim, caption_dim=card.dim)
    finally:
        store.close()
    return card.name


def warm_cache(settings: Settings, model: Path) -> None:
    """Export the image tower into the shared cache before any timed run (set-up)."""
    from PIL import Image

    from modalign.encoders.load import load_dual_encoder

    version = install_model(settings, model)
    load_dual_encoder(settings, version).encode_images([Image.new("RGB", (64, 64), "white")])


def ingest(settings: Settings, manifest: Path, model: Path) -> dict[str, Any]:
    """One in-process ingestion of the manifest: items/s and the summed stage seconds."""
    from modalign.ingest.pipeline import BatchResult
    from modalign.ingest.runner import JobRunner
    from modalign.ingest.sources import SourceSpec

    version = install_model(settings, model)
    stages: dict[str, float] = {}

    def collect(result: BatchResult) -> None:
        for name, secs in result.seconds.items():
            stages[name] = stages.get(name, 0.0) + secs

    runner = JobRunner(settings)
    try:
        job_id = runner.create(SourceSpec(manifest, "manifest"))
        runner.run_here(job_id, on_batch=collect)
        progress = runner.progress(job_id)
    finally:
        runner.close()
    assert progress.finished_at is not None, progress
    seconds = (progress.finished_at - progress.created_at).total_seconds()
    items = progress.done + progress.failed + progress.skipped
    return {
        "version": version, "items": items, "failed": progress.failed, "seconds": seconds,
        "items_per_s": items / seconds,
        "stage_seconds": {k: round(v, 2) for k, v in stages.items()},
    }


def relations(settings: Settings, version: str) -> list[tuple[str, str, float]]:
    """(image path, original's path, cosine) of every recorded relation."""
    from sqlalchemy import select

    from modalign.catalog import repo
    from modalign.catalog.db import make_engine, make_session_factory, session_scope
    from modalign.catalog.models import Asset

    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            version_id = repo.get_model_version(session=session, ref=version).id
            uris = {a: u for a, u in session.execute(select(Asset.id, Asset.uri))}
            rows = repo.near_duplicate_pairs(session=session, model_version_id=version_id)
            path = {a: str(settings.paths.from_stored(u).resolve()) for a, u in uris.items()}
            return [(path[r.asset_id], path[r.original_asset_id], r.cosine) for r in rows]
    finally:
        engine.dispose()


def known_groups(manifest: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Image path -> its manifest group (an entry without one is its own), and -> its source."""
    groups, sources = {}, {}
    for line in manifest.read_text().splitlines():
        entry = json.loads(line)
        path = str((manifest.parent / entry["path"]).resolve())
        groups[path] = entry.get("group") or entry["path"]
        sources[path] = str(entry.get("source", ""))
    return groups, sources


def pairs_of(groups: Iterable[Sequence[str]]) -> set[frozenset[str]]:
    return {frozenset(p) for g in groups for p in itertools.combinations(sorted(g), 2)}


def components(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    found: dict[str, list[str]] = {}
    for node, top in connected(edges).items():
        found.setdefault(top, []).append(node)
    return list(found.values())


def score(
    recorded: list[tuple[str, str, float]], known: dict[str, str], threshold: float
) -> dict[str, Any]:
    """Pairwise precision and recall of the groups the relations at ``threshold`` form."""
    by_group: dict[str, list[str]] = {}
    for path, group in known.items():
        by_group.setdefault(group, []).append(path)
    positives = pairs_of(by_group.values())
    edges = [(a, b) for a, b, cosine in recorded if cosine >= threshold]
    detected = pairs_of(components(edges))
    hits = len(detected & positives)
    good_edges = sum(known.get(a) == known.get(b) for a, b in edges)
    precision = hits / len(detected) if detected else 1.0
    recall = hits / len(positives) if positives else 1.0
    return {
        "threshold": threshold, "relations": len(edges), "detected_pairs": len(detected),
        "positives": len(positives), "precision": precision, "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "edge_precision": good_edges / len(edges) if edges else 1.0,
    }


def by_source(
    recorded: list[tuple[str, str, float]], known: dict[str, str], sources: dict[str, str],
    threshold: float,
) -> dict[str, dict[str, Any]]:
    """:func:`score` within each source (relations and entries of that source only)."""
    found = {}
    for source in sorted(set(sources.values())):
        mine = {p: g for p, g in known.items() if sources[p] == source}
        inside = [r for r in recorded if r[0] in mine and r[1] in mine]
        found[source] = score(inside, mine, threshold)
    return found


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from modalign.config import IngestSettings

    thresholds = sorted(float(t) for t in args.thresholds.split(","))
    default = IngestSettings().near_duplicate_threshold
    sweep = sorted({*thresholds, default})
    manifest = first_entries(args.manifest, args.limit, work / "source")
    cache = args.cache or work / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    warm_cache(settings_for(work / "warm", cache, args.batch_size, "off", 1.0), args.model)
    runs: dict[str, list[dict[str, Any]]] = {"off": [], "link": []}
    for n in range(args.rounds):
        for mode in ("off", "link"):
            settings = settings_for(
                work / f"{mode}-{n}", cache, args.batch_size, mode, sweep[0]
            )
            runs[mode].append({**ingest(settings, manifest, args.model), "settings": settings})
            log.info("%s round %d: %.1f items/s", mode, n, runs[mode][-1]["items_per_s"])
    best = {m: max(rs, key=lambda r: r["items_per_s"]) for m, rs in runs.items()}
    on = best["link"]
    recorded = relations(on["settings"], on["version"])
    known, sources = known_groups(manifest)
    return {
        "items": on["items"], "model": on["version"], "default_threshold": default,
        "off_items_per_s": best["off"]["items_per_s"], "on_items_per_s": on["items_per_s"],
        "throughput_ratio": on["items_per_s"] / best["off"]["items_per_s"],
        "near_duplicate_seconds": on["stage_seconds"].get("near_duplicates", 0.0),
        "on_stage_seconds": on["stage_seconds"], "off_stage_seconds": best["off"]["stage_seconds"],
        "sweep": [score(recorded, known, t) for t in sweep],
        "at_default": score(recorded, known, default),
        "by_source": by_source(recorded, known, sources, default),
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['items']} items, model {result['model']}: "
          f"off {result['off_items_per_s']:.1f} items/s, on {result['on_items_per_s']:.1f} "
          f"items/s, ratio {result['throughput_ratio']:.3f} "
          f"(detection {result['near_duplicate_seconds']:.1f} s)")
    print(f"{'threshold':>20} {'relations':>9} {'pairs':>7} {'precision':>9} {'recall':>7} "
          f"{'f1':>6} {'edge prec':>9}")
    rows = [(f"{r['threshold']:.2f}", r) for r in result["sweep"]]
    rows += [(f"{name} @default", r) for name, r in result["by_source"].items()]
    for label, row in rows:
        mark = "  <- default" if row is result["sweep_default"] else ""
        print(f"{label:>20} {row['relations']:>9} {row['detected_pairs']:>7} "
              f"{row['precision']:>9.3f} {row['recall']:>7.3f} {row['f1']:>6.3f} "
              f"{row['edge_precision']:>9.3f}{mark}")


def main() -> None:
    args = parse()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)
    work = Path(tempfile.mkdtemp(prefix="bench-duplicates-"))
    started = time.perf_counter()
    try:
        result = run(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    result["sweep_default"] = next(
        r for r in result["sweep"] if r["threshold"] == result["default_threshold"]
    )
    print_table(result)
    for name in ("on_stage_seconds", "off_stage_seconds"):
        print(f"{name}: {result[name]}", file=sys.stderr)
    hidden = ("sweep", "sweep_default")
    print(json.dumps({k: v for k, v in result.items() if k not in hidden} | {
        "sweep": [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                  for r in result["sweep"]],
    }))


if __name__ == "__main__":
    main()
