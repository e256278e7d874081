"""Ingest benchmark: end-to-end items/s against encoding-only items/s of the same items.

One run measures, on a sample of the demo manifest (every k-th line, so both sources appear):

- encoding only: the image tower (ONNX) and the text tower plus the heads on the same batches of
  already decoded images and their captions, 1 torch thread (best of two passes);
- embedded: ``modalign ingest`` in-process (SQLite catalog, qdrant-edge store), 1 torch thread:
  this process reads, decodes and writes while a child process encodes (started with the job, so
  its model load is inside the timed run); ``--sequential`` adds the one-process path
  (``ingest.encoder_process`` off), whose towers are already loaded here by the encoding-only run;
- ``--cli``: both embedded paths from nothing, as ``modalign ingest`` subprocesses (``cli`` with
  the encoder process, ``cli_sequential`` without), so each pays its imports and model load;
- Celery with 1 and with 2 worker processes of 1 torch thread each (private redis-server, SQLite
  catalog shared by the processes, qdrant-edge store written under the writer lock); their stage
  seconds come from the workers' batch log lines;
- ``--scaling``: encoding only in 1 and in 2 simultaneous processes: what two processes of the
  same compute get from this machine, the ceiling of Celery's 2-vs-1 gain.

End-to-end time runs from job creation to the job's finish as recorded in the catalog (planning,
decoding, hashing, encoding, upserts and catalog writes). The model is a checkpoint with random
heads of the default shape and a random pair memory of the demo model's size: the same compute as a
trained one; its collections are created during
set-up, as they would exist before any real ingest into a version. Prints a table, then one JSON
object as the last line, with ``embedded_cpu_ratio`` (encoding-only CPU seconds / end-to-end CPU
seconds of the embedded run, its encoder process included: the cost ratio, which other
processes' load does not distort) and the load average. Run with ``nice``; the machine is shared.

    nice .venv/bin/python bench/ingest.py [--limit 512] [--batch-size 64] [--no-celery]
        [--sequential] [--cli] [--scaling] [--workers 1,2] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from modalign.config import Settings

ROOT = Path(__file__).resolve().parents[1]
MODEL = "bench-random"


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, default=ROOT / "data/demo/manifest.jsonl")
    parser.add_argument("--limit", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--no-celery", action="store_true")
    parser.add_argument(
        "--sequential", action="store_true", help="Also run the one-process embedded path."
    )
    parser.add_argument(
        "--scaling", action="store_true", help="Also run encoding-only in 1 and 2 processes."
    )
    parser.add_argument(
        "--cli", action="store_true", help="Also run both embedded paths as `modalign ingest`."
    )
    parser.add_argument("--workers", default="1,2", help="Celery worker process counts to run.")
    parser.add_argument("--keep", action="store_true", help="Keep the work directory.")
    return parser.parse_args()


def sample_manifest(manifest: Path, target: Path, limit: int) -> Path:
    """Copy every k-th entry's image (k so that ``limit`` entries come out) under ``target``."""
    lines = manifest.read_text().splitlines()
    step = max(1, len(lines) // limit)
    chosen = [json.loads(line) for line in lines[::step][:limit]]
    for entry in chosen:
        destination = target / entry["path"]
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(manifest.parent / entry["path"], destination)
    out = target / "manifest.jsonl"
    out.write_text("".join(json.dumps(e) + "\n" for e in chosen))
    return out


def settings_for(
    data_dir: Path, cache: Path, batch_size: int, *, encoder_process: bool = True, **broker: str
) -> Settings:
    data_dir.mkdir(parents=True)
    (data_dir / "cache").symlink_to(cache, target_is_directory=True)
    return Settings(
        paths={"data_dir": data_dir},
        encoders={"torch_threads": 1, "image_backend": "onnx"},
        ingest={"batch_size": batch_size, "encoder_process": encoder_process},
        broker={"mode": "celery" if broker else "inprocess", **broker},
    )


def cpu_seconds() -> float:
    """CPU seconds of this process and of its children that have exited."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def register_random_model(settings: Settings) -> None:
    """Random heads of the default shape and a random pair memory of the demo model's size, saved
    as a checkpoint and registered as active, with the version's collections created."""
    from modalign.encoders.random_model import register_random_model as register

    register(settings, MODEL)
    create_collections(settings, settings.encoders.embed_dim)


def create_collections(settings: Settings, dim: int) -> None:
    """Set-up, not ingestion: the version's collections exist before the timed job (creating a
    qdrant-edge shard with its payload indexes takes seconds, once per version)."""
    from modalign.search.factory import open_store

    store = open_store(settings)
    try:
        store.create_version(MODEL, image_dim=dim, caption_dim=dim)
    finally:
        store.close()


def encoding_only(settings: Settings, manifest: Path, batch_size: int) -> dict[str, Any]:
    """Items/s of the towers + heads alone on the decoded images and captions, in batches."""
    register_random_model(settings)
    encoder, images, captions = loaded_inputs(settings, manifest)
    runs = []
    for _ in range(2):  # best of two: the machine is shared
        start, cpu = time.perf_counter(), time.process_time()
        encode_batches(encoder, images, captions, batch_size)
        runs.append((time.perf_counter() - start, time.process_time() - cpu))
    seconds, cpu_seconds = min(runs)
    return {
        "items": len(images),
        "seconds": seconds,
        "items_per_s": len(images) / seconds,
        "cpu_seconds": cpu_seconds,
    }


def loaded_inputs(settings: Settings, manifest: Path) -> tuple[Any, list[Any], list[list[str]]]:
    """The bench model's encoder with both towers loaded, the decoded images, their captions."""
    from modalign.encoders.load import load_dual_encoder
    from modalign.images import decode_bytes
    from modalign.ingest.sources import SourceLimits, SourceSpec, iter_source

    encoder = load_dual_encoder(settings, MODEL)
    items = list(iter_source(SourceSpec(manifest, "manifest"), SourceLimits()))
    images = [decode_bytes(i.path.read_bytes(), settings.ingest).image for i in items if i.path]
    captions = [list(i.captions) for i in items]
    encoder.encode_images(images[:2]), encoder.encode_texts(["warm up"])  # load the towers
    return encoder, images, captions


def encode_batches(
    encoder: Any, images: list[Any], captions: list[list[str]], batch_size: int
) -> None:
    for at in range(0, len(images), batch_size):
        encoder.encode_images(images[at : at + batch_size])
        encoder.encode_texts([c for cs in captions[at : at + batch_size] for c in cs])


def scaling_process(
    settings: Settings, manifest: Path, batch_size: int, barrier: Any, out: Any
) -> None:
    """One process of the scaling run: encode every item once all processes are ready."""
    encoder, images, captions = loaded_inputs(settings, manifest)
    barrier.wait()
    start = time.perf_counter()
    encode_batches(encoder, images, captions, batch_size)
    out.put(len(images) / (time.perf_counter() - start))


def encoding_scaling(settings: Settings, manifest: Path, batch_size: int) -> dict[str, float]:
    """Encoding-only items/s of 1 and of 2 simultaneous processes (1 thread each): the most
    that Celery's 2 workers can gain over 1 on this machine, whatever the pipeline does."""
    import multiprocessing as mp

    context = mp.get_context("spawn")
    rates = {}
    for processes in (1, 2):
        barrier, out = context.Barrier(processes), context.Queue()
        args = (settings, manifest, batch_size, barrier, out)
        children = [context.Process(target=scaling_process, args=args) for _ in range(processes)]
        for child in children:
            child.start()
        rates[str(processes)] = sum(out.get() for _ in children)
        for child in children:
            child.join()
    return {**rates, "ratio": rates["2"] / rates["1"]}


def job_seconds(settings: Settings, job_id: int) -> tuple[float, dict[str, Any]]:
    from modalign.ingest.runner import JobRunner

    runner = JobRunner(settings)
    progress = runner.progress(job_id)
    assert progress.finished_at is not None, progress
    seconds = (progress.finished_at - progress.created_at).total_seconds()
    for uri, reason in runner.failures(job_id, 3):
        print(f"failed item {uri}: {reason}", file=sys.stderr)
    return seconds, {
        "status": progress.status,
        "done": progress.done,
        "failed": progress.failed,
        "new_points": progress.new_points,
    }


def embedded(settings: Settings, manifest: Path) -> dict[str, Any]:
    """The in-process dispatcher (the embedded default)."""
    from modalign.ingest.pipeline import BatchResult
    from modalign.ingest.runner import JobRunner
    from modalign.ingest.sources import SourceSpec

    register_random_model(settings)
    stages: dict[str, float] = {}
    first_wait: list[float] = []

    def collect(result: BatchResult) -> None:
        for name, secs in result.seconds.items():
            stages[name] = stages.get(name, 0.0) + secs
        if not first_wait:  # how long the first batch waited for the (starting) encoder
            first_wait.append(result.seconds.get("encode_wait", 0.0))

    runner = JobRunner(settings)
    cpu = cpu_seconds()
    job_id = runner.create(SourceSpec(manifest, "manifest"))
    runner.run_here(job_id, on_batch=collect)  # its encoder process has exited on return
    cpu_used = cpu_seconds() - cpu
    seconds, state = job_seconds(settings, job_id)
    items = state["done"] + state["failed"]
    stage_s = {k: round(v, 2) for k, v in stages.items()}
    return {
        "items": items,
        "seconds": seconds,
        "items_per_s": items / seconds,
        **state,
        "cpu_seconds": cpu_used,
        "first_batch_encode_wait": first_wait[0] if first_wait else 0.0,
        "stage_seconds": stage_s,
    }


def embedded_cli(settings: Settings, manifest: Path) -> dict[str, Any]:
    """``modalign ingest`` in a fresh process (its imports and model load inside the job)."""
    register_random_model(settings)
    env = {
        **os.environ,
        "MODALIGN_PATHS__DATA_DIR": str(settings.paths.data_dir),
        "MODALIGN_ENCODERS__TORCH_THREADS": "1",
        "MODALIGN_ENCODERS__IMAGE_BACKEND": "onnx",
        "MODALIGN_INGEST__BATCH_SIZE": str(settings.ingest.batch_size),
        "MODALIGN_INGEST__ENCODER_PROCESS": str(settings.ingest.encoder_process).lower(),
    }
    command = [str(Path(sys.executable).parent / "modalign"), "ingest", str(manifest)]
    cpu = cpu_seconds()
    subprocess.run(command, env=env, check=True, capture_output=True)
    cpu_used = cpu_seconds() - cpu
    seconds, state = job_seconds(settings, 1)
    items = state["done"] + state["failed"]
    return {
        "items": items,
        "seconds": seconds,
        "items_per_s": items / seconds,
        **state,
        "cpu_seconds": cpu_used,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    import redis

    port = free_port()
    process = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--logfile",
            str(workdir / "redis.log"),
        ]
    )
    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            return process, f"redis://127.0.0.1:{port}"
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "MODALIGN_PATHS__DATA_DIR": str(settings.paths.data_dir),
            "MODALIGN_BROKER__MODE": "celery",
            "MODALIGN_BROKER__URL": settings.broker.url,
            "MODALIGN_BROKER__RESULT_BACKEND": settings.broker.result_backend,
            "MODALIGN_ENCODERS__TORCH_THREADS": "1",
        }
    )
    return env


def warm_up(settings: Settings, workdir: Path, processes: int) -> None:
    """A job of one-image batches, so every worker process loads its encoder before timing."""
    from PIL import Image

    from modalign.ingest.runner import JobRunner
    from modalign.ingest.sources import SourceSpec

    folder = workdir / "warmup"
    folder.mkdir()
    for i in range(4 * processes):
        Image.new("RGB", (64, 64), (i * 20, 90, 200)).save(folder / f"{i}.png")
        (folder / f"{i}.txt").write_text(f"warm up picture {i}\n")
    one = settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"batch_size": 1})}
    )
    runner = JobRunner(one)
    job_id = runner.create(SourceSpec(folder, "folder"))
    runner.send(job_id)
    runner.wait(job_id)


def celery(settings: Settings, manifest: Path, processes: int) -> dict[str, Any]:
    """``processes`` Celery worker processes (one `modalign worker`), 1 torch thread each."""
    from modalign.ingest.runner import JobRunner
    from modalign.ingest.sources import SourceSpec

    register_random_model(settings)
    log = (settings.paths.data_dir / "worker.log").open("wb")
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "modalign"), "worker", "--concurrency", str(processes)],
        env=worker_env(settings),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        warm_up(settings, settings.paths.data_dir, processes)
        runner = JobRunner(settings)
        job_id = runner.create(SourceSpec(manifest, "manifest"))
        runner.send(job_id)
        runner.wait(job_id)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        log.close()
    seconds, state = job_seconds(settings, job_id)
    items = state["done"] + state["failed"]
    stages = worker_stages(settings.paths.data_dir / "worker.log", job_id)
    return {
        "items": items,
        "seconds": seconds,
        "items_per_s": items / seconds,
        **state,
        "stage_seconds": stages,
    }


def worker_stages(log_path: Path, job_id: int) -> dict[str, float]:
    """Stage seconds summed over the job's batches, from the workers' batch log lines
    (``upsert`` includes the wait for the store's writer lock)."""
    line = re.compile(rf"job {job_id} batch \d+: .*; (.*)$")
    stages: dict[str, float] = {}
    for text in log_path.read_text(errors="replace").splitlines():
        if match := line.search(text):
            for name, ms in re.findall(r"(\w+)=(\d+)ms", match.group(1)):
                stages[name] = stages.get(name, 0.0) + int(ms) / 1000
    return {k: round(v, 2) for k, v in stages.items()}


def report(results: dict[str, Any], encode: dict[str, Any], args: argparse.Namespace) -> None:
    base = encode["items_per_s"]
    print(f"{'mode':<22}{'items':>7}{'seconds':>10}{'items/s':>10}{'/ encode-only':>15}")
    head = f"{'encoding only':<22}{encode['items']:>7}{encode['seconds']:>10.2f}"
    print(f"{head}{base:>10.2f}{1:>15.2f}")
    for mode, row in results.items():
        row["ratio"] = row["items_per_s"] / base
        print(
            f"{mode:<22}{row['items']:>7}{row['seconds']:>10.2f}{row['items_per_s']:>10.2f}"
            f"{row['ratio']:>15.2f}"
        )
    summary: dict[str, Any] = {
        "bench": "ingest",
        "items": args.limit,
        "batch_size": args.batch_size,
        "encode_only": encode,
        **results,
    }
    summary["embedded_ratio"] = results["embedded"]["ratio"]
    if "embedded_sequential" in results:  # towers loaded before the job, as for encoding-only
        summary["embedded_sequential_ratio"] = results["embedded_sequential"]["ratio"]
    summary["embedded_cpu_ratio"] = encode["cpu_seconds"] / results["embedded"]["cpu_seconds"]
    summary["load_average"] = os.getloadavg()
    if "celery_2" in results and "celery_1" in results:
        summary["celery_2_vs_1"] = (
            results["celery_2"]["items_per_s"] / results["celery_1"]["items_per_s"]
        )
    print(json.dumps(summary, default=lambda v: round(v, 4) if isinstance(v, float) else str(v)))


def main() -> None:
    args = parse()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    work = Path(tempfile.mkdtemp(prefix="modalign-bench-ingest-"))
    cache = work / "tower-cache"
    cache.mkdir()
    try:
        manifest = sample_manifest(args.manifest, work / "source", args.limit)
        encode_settings = settings_for(work / "encode", cache, args.batch_size)
        encode = encoding_only(encode_settings, manifest, args.batch_size)
        if args.scaling:
            encode["scaling"] = encoding_scaling(encode_settings, manifest, args.batch_size)
        results = {
            "embedded": embedded(settings_for(work / "embedded", cache, args.batch_size), manifest)
        }
        if args.sequential:
            one = settings_for(work / "sequential", cache, args.batch_size, encoder_process=False)
            results["embedded_sequential"] = embedded(one, manifest)
        if args.cli:
            for name, overlapped in (("cli", True), ("cli_sequential", False)):
                data = settings_for(work / name, cache, args.batch_size, encoder_process=overlapped)
                results[name] = embedded_cli(data, manifest)
        if not args.no_celery:
            redis_process, url = start_redis(work)
            try:
                for k in (int(n) for n in args.workers.split(",")):
                    broker = {"url": f"{url}/0", "result_backend": f"{url}/1"}
                    data = settings_for(work / f"celery{k}", cache, args.batch_size, **broker)
                    results[f"celery_{k}"] = celery(data, manifest, k)
            finally:
                redis_process.kill()
        report(results, encode, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
