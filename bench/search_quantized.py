"""The quantized half of ``bench/search.py --quantization int8|binary`` (not a test).

Two qdrant-edge stores are built from the same data, one without quantization (float32 vectors
memory-mapped and pre-warmed: ``Memory.Cached``) and one with it (the quantized vectors pinned in
RAM, the originals on disk: ``Memory.Cold``, read for rescoring). Both are closed after the build,
the quantized store's original vectors are dropped from the page cache, and both are opened again,
so what follows starts as a restarted service would. Then, in this one process:

- a *cold* pass: the queries on the quantized store at the default oversampling, its originals
  read from disk as rescoring touches them;
- *warm* passes, unfiltered and filtered: every query on the plain store and on the quantized one
  at each ``--oversampling`` (and once without rescoring), in rotating order, so both see the same
  machine load; recall@10 against exact numpy search;
- memory of the vectors: the sizes of the files; for each store, a fresh child process that only
  opens it and runs the queries (``python bench/search_quantized.py --measure ...``) reports the
  growth of its anonymous memory (the heap: where the quantized copy is pinned) and, from
  ``/proc/self/smaps``, the resident pages of the store's memory-mapped vector files. The child
  starts clean: this process's heap, grown by the builds, would hide what opening a store adds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from modalign.config import StoreSettings
from modalign.search import Kind, QueryParams, SearchClient
from modalign.search.client import _image_hit
from modalign.search.edge_store import EdgeStore

MB = 1024 * 1024
VECTOR_DIR = "vector_storage"
QUANTIZED_PREFIX = "quantized"


def rss_anon_mb() -> float:
    """This process's anonymous resident memory (heap, not file pages)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def vector_files(root: Path) -> Iterator[Path]:
    yield from (p for p in root.rglob("*") if p.is_file() and VECTOR_DIR in p.parts)


def is_quantized(path: Path) -> bool:
    return path.name.startswith(QUANTIZED_PREFIX)


def mapped_rss_mb(root: Path) -> dict[str, float]:
    """Resident MB of the memory-mapped vector files under ``root``: originals and quantized."""
    out = {"originals": 0.0, "quantized": 0.0}
    current: Path | None = None
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            parts = line.split()
            path = Path(parts[5]) if len(parts) > 5 else None
            inside = path is not None and path.is_relative_to(root) and VECTOR_DIR in path.parts
            current = path if inside else None
        elif current is not None and line.startswith("Rss:"):
            key = "quantized" if is_quantized(current) else "originals"
            out[key] += int(line.split()[1]) / 1024
    return out


def file_mb(root: Path) -> dict[str, float]:
    out = {"originals": 0.0, "quantized": 0.0}
    for path in vector_files(root):
        out["quantized" if is_quantized(path) else "originals"] += path.stat().st_size / MB
    return out


def drop_from_page_cache(root: Path) -> None:
    """Evict the original vector files from the OS page cache (they are clean after a flush)."""
    for path in vector_files(root):
        if not is_quantized(path):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def open_store(root: Path, settings: StoreSettings) -> EdgeStore:
    """The store opened again, its shards loaded."""
    store = EdgeStore(root, settings)
    for kind in Kind:
        store.info(kind)  # loads the shard
    return store


def measure_in_child(root: Path, kind: str, tmp: Path) -> dict[str, float]:
    """What a process that only serves ``root`` holds (its originals evicted from the page cache
    first, as after a restart under memory pressure): see :func:`child_measure`."""
    drop_from_page_cache(root)
    command = [sys.executable, __file__, "--measure", str(root), "--quantization", kind,
               "--queries", str(tmp / "queries.npy")]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    figures: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return figures


def child_measure(root: Path, kind: str, queries: np.ndarray) -> dict[str, float]:
    """Open the store, run every query through SearchClient (default oversampling), then report
    the anonymous memory the open and the queries added and the resident mapped vector pages."""
    before = rss_anon_mb()
    store = open_store(root, StoreSettings(quantization=kind))
    opened = rss_anon_mb()
    client = SearchClient(store)
    for q in queries:
        client.search_images(vector=q, limit=10, hydrate=False)
    mapped = mapped_rss_mb(root)
    figures = {
        "anon_mb_open": opened - before, "anon_mb_after_queries": rss_anon_mb() - before,
        "mapped_originals_mb": mapped["originals"], "mapped_quantized_mb": mapped["quantized"],
    }
    store.close()
    return figures


def time_pass(
    calls: dict[str, Callable[[np.ndarray, Any], list[Any]]],
    data: Any,
    filtered: bool,
    source_filter: Callable[[int], Any],
) -> dict[str, dict[str, Any]]:
    """Every query through every call, the calls in rotating order; ms per query and ids."""
    names = list(calls)
    totals = dict.fromkeys(names, 0.0)
    found: dict[str, list[list[int]]] = {n: [] for n in names}
    for i, (q, src) in enumerate(zip(data.queries, data.query_sources, strict=True)):
        flt = source_filter(int(src)) if filtered else None
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            t0 = time.perf_counter()
            hits = calls[name](q, flt)
            totals[name] += time.perf_counter() - t0
            found[name].append([h.asset_id for h in hits])
    n = len(data.queries)
    return {name: {"ms": totals[name] / n * 1e3, "ids": found[name]} for name in names}


def search_call(client: SearchClient, k: int, **knobs: Any) -> Callable[[np.ndarray, Any], Any]:
    def call(q: np.ndarray, flt: Any) -> Any:
        return client.search_images(vector=q, filter=flt, limit=k, hydrate=False, **knobs)

    return call


def rescore_off(store: EdgeStore, k: int, oversampling: float) -> Callable[[np.ndarray, Any], Any]:
    """The store's own query without rescoring (SearchClient always rescores)."""
    params = QueryParams(limit=k, oversampling=oversampling, rescore=False)
    return lambda q, flt: [
        _image_hit(h) for h in store.query(Kind.IMAGES, q, filter=flt, params=params)
    ]


def run_quantized(
    args: Any,
    data: Any,
    kind: str,
    build: Callable[[Path, Any, StoreSettings], tuple[EdgeStore, dict[str, float]]],
    source_filter: Callable[[int], Any],
    timed: Callable[[str, Callable[[], Any], dict[str, float]], Any],
    phases: dict[str, float],
    k: int,
) -> dict[str, Any]:
    """Build both stores, reopen them, time the passes, measure the vectors' memory."""
    plain_settings = StoreSettings()
    quant_settings = StoreSettings(quantization=kind)
    default_os = quant_settings.oversampling
    oversamplings = sorted(set(args.oversampling) | {default_os})
    with tempfile.TemporaryDirectory(dir=args.store_dir) as tmp:
        roots = {"none": Path(tmp) / "none", kind: Path(tmp) / kind}
        builds = {}
        for name, settings in (("none", plain_settings), (kind, quant_settings)):
            store, builds[name] = timed(
                f"build_{name}", partial(build, roots[name], data, settings), phases
            )
            store.close()
        drop_from_page_cache(roots[kind])
        plain = open_store(roots["none"], plain_settings)
        quant = open_store(roots[kind], quant_settings)
        plain_client, quant_client = SearchClient(plain), SearchClient(quant)
        cold = timed(
            "cold_pass",
            lambda: time_pass(
                {"cold": search_call(quant_client, k, oversampling=default_os)},
                data, False, source_filter,
            ),
            phases,
        )["cold"]
        calls: dict[str, Callable[[np.ndarray, Any], Any]] = {"none": search_call(plain_client, k)}
        for o in oversamplings:
            calls[f"os{o:g}"] = search_call(quant_client, k, oversampling=o)
        calls["norescore"] = rescore_off(quant, k, default_os)
        warm = {
            f: timed(f"warm_{f}", partial(time_pass, calls, data, f == "filtered", source_filter),
                     phases)
            for f in ("unfiltered", "filtered")
        }
        plain.close()
        quant.close()
        np.save(Path(tmp) / "queries.npy", data.queries)
        memory = {
            "files": {n: file_mb(r) for n, r in roots.items()},
            "child": {n: timed(f"measure_{n}", partial(measure_in_child, r, n, Path(tmp)), phases)
                      for n, r in roots.items()},
        }
    return {
        "kind": kind, "builds": builds, "cold": cold, "warm": warm, "memory": memory,
        "default_oversampling": default_os, "oversamplings": oversamplings,
    }


def pass_figures(
    warm: dict[str, dict[str, Any]], truth: list[np.ndarray], recall: Callable[..., float]
) -> dict[str, dict[str, float]]:
    """Recall@10, ms per query and the time ratio to the plain store, per configuration."""
    base = warm["none"]["ms"]
    return {
        name: {
            "recall_at_10": round(recall(run["ids"], truth), 4),
            "ms": round(run["ms"], 4),
            "time_over_none": round(run["ms"] / base, 3),
        }
        for name, run in warm.items()
    }


def memory_figures(memory: dict[str, Any], kind: str) -> dict[str, float]:
    """The vectors' resident memory, plain vs quantized, and how each figure was taken."""
    plain, quant = memory["child"]["none"], memory["child"][kind]
    plain_rss = plain["mapped_originals_mb"]  # Memory.Cached: pre-warmed and mapped whole
    pinned = memory["files"][kind]["quantized"]  # on the heap: resident whole
    anon_extra = quant["anon_mb_after_queries"] - plain["anon_mb_after_queries"]
    touched = quant["mapped_originals_mb"]
    return {
        "none_vectors_file_mb": round(memory["files"]["none"]["originals"], 1),
        "none_vectors_resident_mb": round(plain_rss, 1),
        "quantized_file_mb": round(pinned, 1),
        "originals_file_mb": round(memory["files"][kind]["originals"], 1),
        "anon_mb_none": round(plain["anon_mb_after_queries"], 1),
        "anon_mb_quantized": round(quant["anon_mb_after_queries"], 1),
        "anon_mb_quantized_minus_none": round(anon_extra, 1),
        "quantized_mapped_mb": round(quant["mapped_quantized_mb"], 1),
        "originals_resident_mb_after_queries": round(touched, 1),
        "memory_ratio_pinned": round(pinned / plain_rss, 3),
        "memory_ratio_anon_difference": round(anon_extra / plain_rss, 3),
        "memory_ratio_with_touched_originals": round((pinned + touched) / plain_rss, 3),
    }


def report(
    run: dict[str, Any], truth: dict[str, list[np.ndarray]], recall: Callable[..., float]
) -> dict[str, Any]:
    """Every figure of a quantized run (the JSON's body) and the acceptance figures."""
    kind, default = run["kind"], f"os{run['default_oversampling']:g}"
    passes = {f: pass_figures(run["warm"][f], truth[f], recall) for f in run["warm"]}
    memory = memory_figures(run["memory"], kind)
    cold = run["cold"]
    return {
        "quantization": kind,
        "default_oversampling": run["default_oversampling"],
        "builds": {n: {k: round(v, 1) for k, v in b.items()} for n, b in run["builds"].items()},
        "cold_pass": {
            "ms": round(cold["ms"], 4),
            "recall_at_10": round(recall(cold["ids"], truth["unfiltered"]), 4),
        },
        **passes,
        "memory": memory,
        "acceptance": {
            "recall_at_10": passes["unfiltered"][default]["recall_at_10"],
            "recall_at_10_filtered": passes["filtered"][default]["recall_at_10"],
            "time_over_none": passes["unfiltered"][default]["time_over_none"],
            "time_over_none_filtered": passes["filtered"][default]["time_over_none"],
            "memory_ratio": memory["memory_ratio_pinned"],
        },
    }


def print_report(figures: dict[str, Any]) -> None:
    names = list(figures["unfiltered"])
    print()
    print(f"{'configuration':<14}" + "".join(
        f"{h:>14}" for h in ("recall", "ms", "x none", "recall (f)", "ms (f)", "x none (f)")
    ))
    for name in names:
        u, f = figures["unfiltered"][name], figures["filtered"][name]
        cells = (u["recall_at_10"], u["ms"], u["time_over_none"],
                 f["recall_at_10"], f["ms"], f["time_over_none"])
        print(f"{name:<14}" + "".join(f"{c:>14}" for c in cells))
    cold = figures["cold_pass"]
    print(f"cold pass (originals evicted first, oversampling {figures['default_oversampling']:g}):"
          f" {cold['ms']} ms/query, recall {cold['recall_at_10']}")
    for key, value in figures["memory"].items():
        print(f"  {key}: {value}")
    default = figures["default_oversampling"]
    print(f"acceptance at oversampling {default:g}: {figures['acceptance']}")


def main() -> None:
    parser = argparse.ArgumentParser(description="measure one store in a fresh process")
    parser.add_argument("--measure", type=Path, required=True, help="the store's folder")
    parser.add_argument("--quantization", required=True)
    parser.add_argument("--queries", type=Path, required=True, help="a .npy of query vectors")
    args = parser.parse_args()
    print(json.dumps(child_measure(args.measure, args.quantization, np.load(args.queries))))


if __name__ == "__main__":
    main()
