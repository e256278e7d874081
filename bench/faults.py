"""Crash-recovery benchmark: N random kill points against the embedded ingest of 2,000 items.

Each trial copies a data directory (SQLite catalog, a random-weight model version of the default
shape, no collections yet), starts ``modalign ingest`` on the source and kills it: either at a
fault point of ``modalign.faults`` chosen at random (a random pass of it in the job, half of the
time with a random delay of up to 20 ms so the kill lands inside the operation), or with SIGKILL
from here at a random time of a clean run's duration. Then ``modalign jobs resume 1`` runs
unarmed (its wall time is "seconds to recover") and the result is checked with
``modalign.ingest.consistency``: the job finished with every item counted once, the catalog and
the store agree, every image of the clean run is there once, and a search answers.

The source is the demo manifest (``modalign data build-demo``), its first ``--items`` entries,
when it is built; otherwise a synthetic folder of PNG drawings (shapes, colours, sizes) with a
caption each, rendered with Pillow. A first, clean run sets the expected counts and duration.
Prints a table (kill point, recovered, lost, duplicated, seconds to recover), then one JSON
object as the last line. Run with ``nice``; the machine is shared.

    nice .venv/bin/python bench/faults.py [--trials 50] [--items 2000] [--batch-size 64]
        [--seed 0] [--manifest data/demo/manifest.jsonl] [--keep]
"""

from __future__ import annotations

import argparse
import colorsys
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modalign.config import Settings
from modalign.faults import FAULT_ENV

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "modalign")
MODEL = "bench-random"
RUN_TIMEOUT_S = 3600
MAX_DELAY_MS = 20
PER_BATCH = {  # fault point -> its passes per batch
    "plan.chunk": 1, "encode": 1, "encoder.child": 1, "catalog.assets": 1,
    "catalog.assets.committed": 1, "store.upsert": 2, "store.flush": 2, "catalog.outcome": 1,
    "catalog.outcome.committed": 1,
}
PER_JOB = {"store.optimize": 1, "store.state": 2}  # fault point -> its passes per job
RANDOM_TIME = "random time"
ENCODER_PID = re.compile(r"started encoder process (\d+)")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50, help="Kill points to try.")
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--manifest", type=Path, default=ROOT / "data/demo/manifest.jsonl")
    parser.add_argument("--keep", action="store_true", help="Keep the work directory.")
    return parser.parse_args()


# -- the source --------------------------------------------------------------------------------


def demo_source(manifest: Path, target: Path, items: int) -> Path:
    """The manifest's first ``items`` entries, their images copied beside a new manifest."""
    lines = manifest.read_text().splitlines()[:items]
    for line in lines:
        relative = json.loads(line)["path"]
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(manifest.parent / relative, target / relative)
    out = target / "manifest.jsonl"
    out.write_text("".join(line + "\n" for line in lines))
    return out


def synthetic_source(target: Path, items: int, seed: int) -> Path:
    """``items`` distinct PNG drawings with a caption sidecar each."""
    rng = random.Random(seed)
    target.mkdir(parents=True)
    for i in range(items):
        shape, colour = rng.choice(SHAPES), rng.choice(COLOURS)
        drawing(shape, colour, rng).save(target / f"{i:05d}.png")
        (target / f"{i:05d}.txt").write_text(f"a {colour} {shape}, drawing {i}\n")
    return target


SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = ("red", "green", "blue", "orange", "purple", "black")


def drawing(shape: str, colour: str, rng: random.Random) -> Any:
    """One shape on a pale background, its size, place and background hue at random."""
    from PIL import Image, ImageDraw

    side = rng.choice((96, 128, 160))
    background = tuple(int(255 * c) for c in colorsys.hsv_to_rgb(rng.random(), 0.2, 1.0))
    image = Image.new("RGB", (side, side), background)  # type: ignore[arg-type]
    draw, low, high = ImageDraw.Draw(image), rng.randint(4, side // 4), side - rng.randint(4, 30)
    if shape == "circle":
        draw.ellipse((low, low, high, high), fill=colour)
    elif shape == "square":
        draw.rectangle((low, low, high, high), fill=colour)
    elif shape == "triangle":
        draw.polygon([((low + high) // 2, low), (low, high), (high, high)], fill=colour)
    else:
        draw.line((low, low, high, high), fill=colour, width=rng.randint(4, 12))
        draw.line((low, high, high, low), fill=colour, width=rng.randint(4, 12))
    return image


def source_for(args: argparse.Namespace, work: Path) -> tuple[Path, str]:
    if args.manifest.exists():
        return demo_source(args.manifest, work / "source", args.items), "demo"
    return synthetic_source(work / "source", args.items, args.seed), "synthetic"


# -- one data directory, one run ---------------------------------------------------------------


def template(work: Path, cache: Path) -> Path:
    """A data dir with a migrated catalog and the random model version registered."""
    from modalign.encoders.random_model import register_random_model

    data = work / "template"
    data.mkdir()
    (data / "cache").symlink_to(cache, target_is_directory=True)
    register_random_model(Settings(paths={"data_dir": data}), MODEL)
    return data


def env_for(data: Path, batch_size: int, fault: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    env.update(
        MODALIGN_PATHS__DATA_DIR=str(data), MODALIGN_ENCODERS__TORCH_THREADS="1",
        MODALIGN_ENCODERS__IMAGE_BACKEND="onnx", MODALIGN_INGEST__BATCH_SIZE=str(batch_size),
        TOKENIZERS_PARALLELISM="false",
    )
    if fault is not None:
        env[FAULT_ENV] = fault
    return env


@dataclass(frozen=True)
class Ended:
    returncode: int
    seconds: float
    log: str


def run(env: dict[str, str], *args: str, kill_after: float | None = None) -> Ended:
    """`modalign args` to its end; SIGKILL after ``kill_after`` s (the process, not its group)."""
    start = time.monotonic()
    process = subprocess.Popen(
        [CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    if kill_after is not None:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.kill()
    try:
        out, _ = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
    return Ended(process.returncode, time.monotonic() - start, out)


# -- checks ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    finished: bool
    assets: int
    image_points: int
    caption_points: int
    lost: int
    duplicated: int
    orphans: int


def check(data: Path, expected: tuple[int, int] | None, log: str) -> Outcome:
    """The data dir after a run, against the clean run's (images, captions)."""
    from modalign.catalog.db import make_engine, make_session_factory
    from modalign.catalog.models import JobStatus
    from modalign.ingest.consistency import check_consistency, check_job
    from modalign.search.factory import open_store
    from modalign.search.naming import Kind

    settings = Settings(paths={"data_dir": data})
    engine, store = make_engine(settings.database_url), open_store(settings)
    try:
        sessions = make_session_factory(engine)
        found, job = check_consistency(sessions, store, MODEL), check_job(sessions, 1)
        hits = store.query(Kind.IMAGES, np.ones(settings.encoders.embed_dim))
    finally:
        store.close()
        engine.dispose()
    images, captions = expected or (found.image_points, found.caption_points)
    short = max(0, images - found.image_points) + max(0, captions - found.caption_points)
    extra = max(0, found.image_points - images) + max(0, found.caption_points - captions)
    lost = found.lost + short
    duplicated = found.extra + extra + (0 if job.counters_agree else 1)
    done = job.status in (JobStatus.COMPLETED.value, JobStatus.COMPLETED_WITH_ERRORS.value)
    return Outcome(
        done and found.complete and len(hits) > 0, found.assets, found.image_points,
        found.caption_points, lost, duplicated, orphans(log),
    )


def orphans(log: str) -> int:
    """Encoder processes of a killed run still running a few seconds later."""
    pids = [int(p) for p in ENCODER_PID.findall(log)]
    deadline = time.monotonic() + 10
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        time.sleep(0.1)
    return len(pids)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


# -- trials ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    label: str
    fault: str | None = None
    after: float | None = None


def choose(rng: random.Random, batches: int, clean_seconds: float) -> Kill:
    """A random fault point and pass of it in the job, or a random time."""
    point = rng.choice([*PER_BATCH, *PER_JOB, RANDOM_TIME])
    if point == RANDOM_TIME:
        after = rng.uniform(1.0, clean_seconds)
        return Kill(f"{RANDOM_TIME} {after:.1f}s", after=after)
    hit = rng.randint(1, PER_BATCH[point] * batches if point in PER_BATCH else PER_JOB[point])
    fault = f"{point}:{hit}"
    if rng.random() < 0.5:
        fault += f":kill:{MAX_DELAY_MS}"
    return Kill(fault, fault=fault)


def trial(kill: Kill, base: Path, data: Path, source: Path, args: argparse.Namespace,
          expected: tuple[int, int]) -> dict[str, Any]:
    shutil.copytree(base, data, symlinks=True)
    killed = run(env_for(data, args.batch_size, kill.fault), "ingest", str(source),
                 kill_after=kill.after)
    resumed = run(env_for(data, args.batch_size), "jobs", "resume", "1")
    outcome = check(data, expected, killed.log)
    shutil.rmtree(data, ignore_errors=True)
    recovered = outcome.finished and resumed.returncode == 0 and outcome.lost == 0
    return {
        "kill": kill.label, "killed": killed.returncode == -signal.SIGKILL,
        "exit": killed.returncode, "recovered": recovered and outcome.duplicated == 0,
        "lost": outcome.lost, "duplicated": outcome.duplicated, "orphans": outcome.orphans,
        "recover_s": round(resumed.seconds, 2),
    }


def report(rows: list[dict[str, Any]], clean: dict[str, Any]) -> None:
    print(f"{'kill point':<36}{'exit':>6}{'recovered':>11}{'lost':>6}{'dup':>6}{'recover s':>11}")
    for row in rows:  # exit -9: killed; 1: stopped with an error (the encoder child was killed)
        print(
            f"{row['kill']:<36}{row['exit']:>6}{'yes' if row['recovered'] else 'no':>11}"
            f"{row['lost']:>6}{row['duplicated']:>6}{row['recover_s']:>11.1f}"
        )
    seconds = [r["recover_s"] for r in rows] or [0.0]
    summary = {
        "bench": "faults", **clean, "trials": len(rows),
        "recovered": sum(r["recovered"] for r in rows),
        "killed": sum(r["killed"] for r in rows),
        "lost": sum(r["lost"] for r in rows), "duplicated": sum(r["duplicated"] for r in rows),
        "orphaned_encoders": sum(r["orphans"] for r in rows),
        "recover_s_median": statistics.median(seconds), "recover_s_max": max(seconds),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(summary))


def main() -> None:
    args = parse()
    work = Path(tempfile.mkdtemp(prefix="modalign-bench-faults-"))
    cache = work / "tower-cache"
    cache.mkdir()
    try:
        source, kind = source_for(args, work)
        base = template(work, cache)
        shutil.copytree(base, work / "clean", symlinks=True)
        clean_run = run(env_for(work / "clean", args.batch_size), "ingest", str(source))
        clean = check(work / "clean", None, clean_run.log)
        if not clean.finished:
            sys.exit(f"the clean run did not finish:\n{clean_run.log[-3000:]}")
        expected = (clean.image_points, clean.caption_points)
        info = {"source": kind, "items": args.items, "batch_size": args.batch_size,
                "seed": args.seed, "clean_run_s": round(clean_run.seconds, 2),
                "images": expected[0], "captions": expected[1]}
        rng, batches = random.Random(args.seed), -(-args.items // args.batch_size)
        rows = []
        for n in range(args.trials):
            kill = choose(rng, batches, clean_run.seconds)
            rows.append(trial(kill, base, work / f"trial{n}", source, args, expected))
            print(f"# {n + 1}/{args.trials} {rows[-1]}", file=sys.stderr, flush=True)
        report(rows, info)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
