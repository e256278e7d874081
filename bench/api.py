"""Benchmark of the HTTP search API under load (not a test).

``--clients`` (8) concurrent clients send text searches (``POST /v1/search/images``, top-10,
hydrated) for ``--seconds`` (30) to ``modalign serve`` running in its own process over the demo
index (``--data-dir``, default ``data``; build it with ``make demo``). Measured in this run:

- API latency p50 / p99 and QPS as the clients see them (HTTP, JSON, hydration, queueing);
- the work itself: the same queries, the same number of concurrent callers, calling the query
  encoder and the engine (``VectorStore.query``) directly in this process, before the server starts
  and again after it stopped (qdrant-edge is owned by one process at a time), p50 of (encode +
  engine query), the two runs averaged;
- ratio API p50 / direct p50 (goal <= 1.5: the API adds at most half the cost of the work).

Without a demo index, ``--sample N`` builds a temporary one: N entries of the demo manifest
ingested with random heads of the default shape and a random pair memory of the demo model's size
(the same code paths and sizes as a trained model).
Prints a table, then, as its last line, one JSON object with every figure.
Run: ``nice .venv/bin/python bench/api.py [--data-dir data] [--sample 500]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from modalign.config import Settings
from modalign.encoders.random_model import register_random_model

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_MODEL = "bench-random"
QUERIES = [
    "a red apple", "a smiling cat", "a dog", "a car", "a house with a red roof", "a tree",
    "the sun", "a fish", "a bird flying", "a flower", "a heart", "a rocket", "a musical note",
    "a pizza slice", "a mountain", "a boat on the sea", "a clock", "a key", "a book", "a phone",
    "a cup of coffee", "an umbrella", "a star", "a moon at night", "a snowman", "a guitar",
    "a bicycle", "a train", "an airplane", "a camera", "a pencil", "a robot", "a crown",
    "a ghost", "a skull", "a butterfly", "a spider", "a horse", "a lion", "a monkey",
]


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="Index to serve.")
    parser.add_argument("--sample", type=int, default=0,
                        help="Build a temporary index of N demo-manifest entries instead.")
    parser.add_argument("--manifest", type=Path, default=ROOT / "data/demo/manifest.jsonl")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--direct-seconds", type=float, default=15.0)
    parser.add_argument("--limit", type=int, default=10)
    return parser.parse_args()


def settings_for(data_dir: Path | None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"paths": settings.paths.model_copy(
            update={"data_dir": data_dir})})
    return settings


# -- a sample index when no demo index exists -------------------------------------------------


def build_sample(work: Path, manifest: Path, count: int) -> Settings:
    """N demo entries (every k-th) ingested in-process with random heads, in ``work``."""
    data_dir = work / "data"
    copy_sample(manifest, data_dir / "sample", count)
    settings = settings_for(data_dir)
    shared_cache = ROOT / "data" / "cache"
    if shared_cache.is_dir():
        (data_dir / "cache").symlink_to(shared_cache.resolve(), target_is_directory=True)
    register_random_model(settings, SAMPLE_MODEL)
    from modalign.ingest.runner import JobRunner
    from modalign.ingest.sources import SourceSpec

    runner = JobRunner(settings)
    try:
        job = runner.create(SourceSpec(data_dir / "sample" / "manifest.jsonl", "manifest"))
        runner.run_here(job)
    finally:
        runner.close()
    return settings


def copy_sample(manifest: Path, target: Path, count: int) -> None:
    lines = manifest.read_text().splitlines()
    step = max(1, len(lines) // count)
    chosen = [json.loads(line) for line in lines[::step][:count]]
    for entry in chosen:
        destination = target / entry["path"]
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(manifest.parent / entry["path"], destination)
    (target / "manifest.jsonl").write_text("".join(json.dumps(e) + "\n" for e in chosen))


# -- load -------------------------------------------------------------------------------------


def run_clients(clients: int, seconds: float, call: Callable[[int, int], None]) -> list[float]:
    """``clients`` threads calling ``call(client, i)`` for ``seconds``; latencies in seconds."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    deadline = time.perf_counter() + seconds
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        i = n
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                call(n, i)
                latencies[n].append(time.perf_counter() - started)
                i += clients
        except BaseException as exc:  # reported after the run
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [x for per_client in latencies for x in per_client]


def direct(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """The work alone: encode + engine query, same queries and concurrency, in this process."""
    from modalign.encoders.load import load_dual_encoder
    from modalign.search.factory import open_store
    from modalign.search.naming import Kind
    from modalign.search.store import QueryParams

    encoder = load_dual_encoder(settings)
    store = open_store(settings)
    try:
        points = store.count(Kind.IMAGES, version=encoder.version)
        if points == 0:
            sys.exit(f"no image points for model {encoder.version}: build the demo index first")
        params = QueryParams(limit=args.limit)
        encode_s: list[float] = []
        engine_s: list[float] = []

        def call(_: int, i: int) -> None:
            started = time.perf_counter()
            vector = encoder.encode_texts([QUERIES[i % len(QUERIES)]])[0]
            encoded = time.perf_counter()
            store.query(Kind.IMAGES, vector, params=params, version=encoder.version)
            encode_s.append(encoded - started)
            engine_s.append(time.perf_counter() - encoded)

        run_clients(1, 2.0, call)  # warm up
        encode_s.clear()
        engine_s.clear()
        latencies = run_clients(args.clients, args.direct_seconds, call)
    finally:
        store.close()
    return {"model": encoder.version, "points": points, **summary(latencies, args.direct_seconds),
            "encode_p50_ms": ms(statistics.median(encode_s)),
            "engine_p50_ms": ms(statistics.median(engine_s))}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MODALIGN_PATHS__DATA_DIR": str(settings.paths.data_dir.resolve())}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "modalign"), "serve", "--port", str(port),
         "--log-level", "warning"],
        env=env, cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit("the server exited during start-up")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    server.terminate()
    sys.exit("the server did not become ready")


def through_api(port: int, args: argparse.Namespace) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}"
    sessions = [httpx.Client(base_url=url, timeout=30) for _ in range(args.clients)]

    def call(n: int, i: int) -> None:
        body = {"text": QUERIES[i % len(QUERIES)], "limit": args.limit}
        response = sessions[n].post("/v1/search/images", json=body)
        response.raise_for_status()
        assert len(response.json()["hits"]) > 0

    try:
        run_clients(args.clients, 3.0, call)  # warm up
        latencies = run_clients(args.clients, args.seconds, call)
    finally:
        for session in sessions:
            session.close()
    return summary(latencies, args.seconds)


def summary(latencies: list[float], seconds: float) -> dict[str, Any]:
    ordered = np.sort(np.asarray(latencies))
    return {
        "requests": len(ordered), "qps": round(len(ordered) / seconds, 1),
        "p50_ms": ms(float(np.percentile(ordered, 50))),
        "p99_ms": ms(float(np.percentile(ordered, 99))),
    }


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def report(api: dict[str, Any], work: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"model {work['model']}, {work['points']} image points, {args.clients} clients")
    print(f"{'path':<34}{'requests':>9}{'QPS':>8}{'p50 ms':>9}{'p99 ms':>9}")
    print(f"{'direct: encode + engine (mean)':<34}{work['requests']:>9}{work['qps']:>8}"
          f"{work['p50_ms']:>9}{work['p99_ms']:>9}")
    print(f"{'API: POST /v1/search/images':<34}{api['requests']:>9}{api['qps']:>8}"
          f"{api['p50_ms']:>9}{api['p99_ms']:>9}")
    ratio = round(api["p50_ms"] / work["p50_ms"], 3)
    print(f"ratio API p50 / direct p50 = {ratio} (goal <= 1.5); direct medians: encode "
          f"{work['encode_p50_ms']} ms, engine {work['engine_p50_ms']} ms")
    result = {"clients": args.clients, "seconds": args.seconds, "api": api, "direct": work,
              "ratio_p50": ratio, "goal_ratio_p50": 1.5}
    print(json.dumps(result))


def main() -> None:
    args = parse()
    with tempfile.TemporaryDirectory(prefix="modalign-bench-api-") as tmp:
        if args.sample:
            settings = build_sample(Path(tmp), args.manifest, args.sample)
        else:
            settings = settings_for(args.data_dir)
        before = direct(settings, args)
        port = free_port()
        server = start_server(settings, port)
        try:
            api = through_api(port, args)
        finally:
            server.terminate()
            server.wait(60)
        after = direct(settings, args)
    report(api, combine(before, after), args)


def combine(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The direct figures measured before and after the API run, averaged (the machine's load
    may drift during the run; bracketing the API run cancels a linear drift)."""
    mixed = dict(before)
    for key in ("qps", "p50_ms", "p99_ms", "encode_p50_ms", "engine_p50_ms"):
        mixed[key] = round((before[key] + after[key]) / 2, 2)
    mixed["requests"] = before["requests"] + after["requests"]
    mixed["p50_ms_before_after"] = [before["p50_ms"], after["p50_ms"]]
    return mixed


if __name__ == "__main__":
    main()
