"""Lifecycle benchmark: the operations of a living collection on the demo index, timed in one run.

On a fresh embedded data directory (SQLite catalog, qdrant-edge store; a model with random heads
of the default shape and a random pair memory of the demo model's size: the compute of a trained
one), one run measures:

- ingesting the demo manifest (in-process, the encoder in a child process, 1 torch thread);
- ``--sync`` of the same manifest with nothing changed (goal: <= 5 % of the ingest's time);
- ``check`` over the index (goal: <= 10 s), then again after the edits and deletes (clean);
- a caption update of ``--update`` assets (one caption added to each, encoded and upserted);
- a delete of ``--delete`` assets (one delete job);
- a backup of the data directory and its restore into an empty one (then ``check`` there).

Prints a table, then one JSON object as the last line. Run with ``nice``; the machine is shared.

    nice .venv/bin/python bench/lifecycle.py [--manifest data/demo/manifest.jsonl]
        [--limit N] [--update 1000] [--delete 1000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from modalign.config import Settings

ROOT = Path(__file__).resolve().parents[1]
MODEL = "bench-random"
T = TypeVar("T")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=ROOT / "data/demo/manifest.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="Only the first N entries (0: all).")
    parser.add_argument("--update", type=int, default=1000, help="Assets whose captions change.")
    parser.add_argument("--delete", type=int, default=1000, help="Assets to delete.")
    parser.add_argument("--keep", action="store_true", help="Keep the work directory.")
    return parser.parse_args()


def timed(run: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = run()
    return value, time.perf_counter() - started


def settings_for(data_dir: Path, demo_data: Path) -> Settings:
    """An empty data directory sharing the demo's tower cache (the ONNX export is reused)."""
    data_dir.mkdir(parents=True)
    cache = demo_data / "cache"
    if cache.is_dir():
        (data_dir / "cache").symlink_to(cache.resolve(), target_is_directory=True)
    return Settings(
        paths={"data_dir": data_dir},
        encoders={"torch_threads": 1, "image_backend": "onnx"},
        ingest={"batch_size": 64},
    )


def manifest_of(args: argparse.Namespace, work: Path) -> Path:
    """The demo manifest, or a copy of its first ``--limit`` entries and their images."""
    manifest = Path(args.manifest)
    if not args.limit:
        return manifest
    entries = [json.loads(line) for line in manifest.read_text().splitlines()[: args.limit]]
    target = work / "source"
    for entry in entries:
        destination = target / entry["path"]
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(manifest.parent / entry["path"], destination)
    out = target / "manifest.jsonl"
    out.write_text("".join(json.dumps(e) + "\n" for e in entries))
    return out


def run_job(settings: Settings, make: Callable[[Any], int]) -> dict[str, Any]:
    """Create a job with ``make(runner)`` and run it here; its final counters."""
    from modalign.ingest.runner import JobRunner

    runner = JobRunner(settings)
    try:
        job_id = make(runner)
        runner.run_here(job_id)
        return runner.progress(job_id).as_dict()
    finally:
        runner.close()


def ingest(settings: Settings, manifest: Path, sync: bool) -> dict[str, Any]:
    from modalign.ingest.sources import SourceSpec

    spec = SourceSpec(manifest, "manifest")
    return run_job(settings, lambda r: r.create(spec, dataset="demo", sync=sync))


def check_index(settings: Settings) -> dict[str, Any]:
    from modalign.ingest.check import check
    from modalign.ingest.resources import open_resources

    res = open_resources(settings, shared=False)
    try:
        with res.store.use() as store:
            report = check(res.sessions, store)
        return {"clean": report.clean, "points": sum(
            c.store for v in report.versions for c in (v.images, v.captions)
        )}
    finally:
        res.close()


def asset_ids(settings: Settings, count: int, skip: int) -> list[int]:
    from sqlalchemy import create_engine, text

    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT id FROM assets ORDER BY id LIMIT :n OFFSET :skip"),
                {"n": count, "skip": skip},
            )
            return [int(row[0]) for row in rows]
    finally:
        engine.dispose()


def update_captions(settings: Settings, ids: list[int]) -> int:
    """One caption added to each asset, in one edit of them all (as ``update_assets`` takes)."""
    from modalign.ingest.edits import AssetEdit, update_assets
    from modalign.ingest.resources import open_resources
    from modalign.search.editing import ListEdit

    res = open_resources(settings, shared=False)
    try:
        edits = {a: AssetEdit(ListEdit(add=(f"an edited caption of asset {a}",))) for a in ids}
        return len(update_assets(res, edits))
    finally:
        res.close()


def delete_assets(settings: Settings, ids: list[int]) -> dict[str, Any]:
    from modalign.ingest.deletes import create_delete_job, plan_delete
    from modalign.search.editing import DeleteTarget

    target = DeleteTarget(asset_ids=tuple(ids))

    def make(runner: Any) -> int:
        plan = plan_delete(runner.sessions, None, target)
        job_id = create_delete_job(runner.sessions, plan, target, runner.leases.lease)
        runner.leases.hold(job_id)
        return job_id

    return run_job(settings, make)


def backup_and_restore(settings: Settings, work: Path) -> tuple[float, float, dict[str, Any]]:
    from modalign.backup import create_backup, restore_backup

    _, backup_s = timed(lambda: create_backup(settings, work / "backup"))
    restored = settings.model_copy(
        update={"paths": settings.paths.model_copy(update={"data_dir": work / "restored"})}
    )
    _, restore_s = timed(lambda: restore_backup(restored, work / "backup"))
    return backup_s, restore_s, check_index(restored)


def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    from modalign.encoders.random_model import register_random_model

    manifest = manifest_of(args, work)
    settings = settings_for(work / "data", Path(args.manifest).resolve().parents[1])
    register_random_model(settings, MODEL)
    first, ingest_s = timed(lambda: ingest(settings, manifest, sync=False))
    again, sync_s = timed(lambda: ingest(settings, manifest, sync=True))
    before, check_s = timed(lambda: check_index(settings))
    edited = asset_ids(settings, args.update, 0)
    doomed = asset_ids(settings, args.delete, args.update)
    updated, update_s = timed(lambda: update_captions(settings, edited))
    deleted, delete_s = timed(lambda: delete_assets(settings, doomed))
    after, check_after_s = timed(lambda: check_index(settings))
    backup_s, restore_s, restored = backup_and_restore(settings, work)
    return {
        "items": first["total"], "ingest_s": ingest_s, "ingest_items_per_s": first["rate"],
        "sync_unchanged_s": sync_s, "sync_planned_items": again["total"],
        "sync_over_ingest": sync_s / ingest_s, "check_s": check_s, "check_clean": before["clean"],
        "points": before["points"], "update_assets": updated, "update_s": update_s,
        "update_ms_per_asset": 1000 * update_s / max(updated, 1),
        "delete_assets": deleted["done"], "delete_s": delete_s, "check_after_s": check_after_s,
        "check_after_clean": after["clean"], "backup_s": backup_s, "restore_s": restore_s,
        "restored_clean": restored["clean"], "load_average": os.getloadavg()[0],
        "manifest": str(manifest),
    }


def table(figures: dict[str, Any]) -> str:
    rows = [
        ("ingest", f"{figures['items']} items", f"{figures['ingest_s']:.1f} s",
         f"{figures['ingest_items_per_s']:.1f} items/s"),
        ("sync, nothing changed", f"{figures['sync_planned_items']} items planned",
         f"{figures['sync_unchanged_s']:.2f} s",
         f"{100 * figures['sync_over_ingest']:.2f} % of ingest (goal <= 5 %)"),
        ("check", f"{figures['points']} points", f"{figures['check_s']:.2f} s",
         f"clean {figures['check_clean']} (goal <= 10 s)"),
        ("caption update", f"{figures['update_assets']} assets", f"{figures['update_s']:.1f} s",
         f"{figures['update_ms_per_asset']:.0f} ms per asset"),
        ("delete", f"{figures['delete_assets']} assets", f"{figures['delete_s']:.1f} s", ""),
        ("check after", "", f"{figures['check_after_s']:.2f} s",
         f"clean {figures['check_after_clean']}"),
        ("backup", "", f"{figures['backup_s']:.1f} s", ""),
        ("restore", "", f"{figures['restore_s']:.1f} s",
         f"restored index clean {figures['restored_clean']}"),
    ]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b:>22}  {c:>9}  {d}" for a, b, c, d in rows)


def main() -> None:
    args = parse()
    work = Path(tempfile.mkdtemp(prefix="modalign-lifecycle-"))
    try:
        figures = measure(args, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(table(figures))
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
