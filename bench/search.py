"""Benchmark of filtered HNSW search through SearchClient on the qdrant-edge store (not a test).

Data: ``--points`` (default 200,000; the issue's target is ``--points 1000000``) clustered,
unit-normalised ``--dim`` (256) vectors; a keyword payload ``source`` of 100 values. ``--queries``
(500) queries drawn like the data, top-10, unfiltered and filtered on one ``source`` value (1%).
Measured in this run:

- recall@10 of SearchClient (default ef from settings) against exact numpy search;
- SearchClient time / raw ``EdgeShard.query`` time on the same shard, same request, results read
  (goal <= 1.3; see :func:`time_edge`);
- speed against qdrant-client local mode. Local mode is brute force in Python: it is loaded with a
  subset (``--local-points``, 100,000) and timed on ``--local-queries`` queries, and its time is
  scaled linearly to the full size (its cost is linear in the points scanned) (goal >= 100x);
- faiss ``IndexHNSWFlat`` with the same m / ef_construct / ef as a reference;
- build times (upserts, optimize) and peak RSS after each phase.

``--quantization int8`` (or ``binary``) compares a plain store with a quantized one built from the
same data instead (recall@10 with rescoring, query time over the plain store's, memory of the
vectors; see ``bench/search_quantized.py``).

Prints a table, then, as its last line, one JSON object with every figure.
Run: ``nice .venv/bin/python bench/search.py [--points 1000000] [--quantization int8]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from modalign.config import StoreSettings
from modalign.search import (
    Filter,
    ImagePayload,
    Kind,
    Match,
    PointIn,
    SearchClient,
    image_point_id,
)
from modalign.search.edge_filters import to_edge
from modalign.search.edge_store import EdgeStore

K = 10
N_SOURCES = 100
CREATED = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Data:
    vectors: np.ndarray
    sources: np.ndarray
    queries: np.ndarray
    query_sources: np.ndarray


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(n: int, dim: int, n_queries: int, seed: int) -> Data:
    """Unit vectors around ``n // 200`` random centres; queries drawn the same way."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(n // 200, 10), dim)).astype(np.float32)

    def draw(count: int) -> np.ndarray:
        picks = rng.integers(len(centres), size=count)
        out = centres[picks] + rng.normal(scale=0.6, size=(count, dim)).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    vectors = np.concatenate([draw(min(50_000, n - s)) for s in range(0, n, 50_000)])
    return Data(
        vectors=vectors,
        sources=rng.integers(N_SOURCES, size=n),
        queries=draw(n_queries),
        query_sources=rng.integers(N_SOURCES, size=n_queries),
    )


def exact_top(data: Data, filtered: bool) -> list[np.ndarray]:
    """Indices of the exact top-K per query (restricted to its source when filtered)."""
    out = []
    for q, src in zip(data.queries, data.query_sources, strict=True):
        idx = np.flatnonzero(data.sources == src) if filtered else None
        mat = data.vectors if idx is None else data.vectors[idx]
        scores = mat @ q
        top = np.argpartition(-scores, K)[:K]
        top = top[np.argsort(-scores[top])]
        out.append(top if idx is None else idx[top])
    return out


def point(i: int, vector: np.ndarray, source: int) -> PointIn:
    digest = hashlib.sha256(i.to_bytes(8, "little")).hexdigest()
    payload = ImagePayload(
        asset_id=i,
        content_hash=digest,
        source=f"s{source:03d}",
        created_at=CREATED,
        width=64,
        height=64,
    )
    return PointIn(image_point_id(digest), vector, payload)


def build_edge(
    root: Path, data: Data, settings: StoreSettings
) -> tuple[EdgeStore, dict[str, float]]:
    store = EdgeStore(root, settings)
    dim = data.vectors.shape[1]
    store.create_version("bench", image_dim=dim, caption_dim=dim)
    store.set_active_version("bench")
    t0 = time.perf_counter()
    for s in range(0, len(data.vectors), 5000):
        batch = [
            point(i, data.vectors[i], int(data.sources[i]))
            for i in range(s, min(s + 5000, len(data.vectors)))
        ]
        store.upsert(Kind.IMAGES, batch)
    t1 = time.perf_counter()
    store.optimize()
    t2 = time.perf_counter()
    return store, {"upsert_s": t1 - t0, "optimize_s": t2 - t1}


def source_filter(src: int) -> Filter:
    return Filter(must=[Match(field="source", value=f"s{src:03d}")])


def recall(found: list[list[int]], truth: list[np.ndarray]) -> float:
    return float(
        np.mean([len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)])
    )


def time_edge(store: EdgeStore, data: Data, filtered: bool, ef: int) -> dict[str, Any]:
    """SearchClient against the raw shard, query by query, in rotating order (no call always
    runs on a warm cache). ``raw`` is what a direct caller does: build the request from the numpy
    query, ``EdgeShard.query``, read each hit's id, score and payload (the bindings convert those
    lazily, on access). ``raw_bare`` is ``EdgeShard.query`` alone on a prebuilt request."""
    import qdrant_edge as qe

    client = SearchClient(store)
    shard = store.raw_shard(Kind.IMAGES)

    def raw(q: np.ndarray, flt: Any) -> list[tuple[str, float, Any]]:
        request = qe.QueryRequest(
            limit=K,
            query=qe.Query.Nearest(q.tolist()),
            filter=flt,
            params=qe.SearchParams(hnsw_ef=ef),
            with_payload=True,
        )
        return [(str(p.id), p.score, p.payload) for p in shard.query(request)]

    totals = {"client": 0.0, "raw": 0.0, "raw_bare": 0.0}
    found: list[list[int]] = []
    for i, (q, src) in enumerate(zip(data.queries, data.query_sources, strict=True)):
        flt = source_filter(int(src)) if filtered else None
        edge_flt = to_edge(flt)
        bare = qe.QueryRequest(
            limit=K,
            query=qe.Query.Nearest(q.tolist()),
            filter=edge_flt,
            params=qe.SearchParams(hnsw_ef=ef),
            with_payload=True,
        )
        calls: dict[str, Callable[[], Any]] = {
            "client": partial(client.search_images, vector=q, filter=flt, limit=K, hydrate=False),
            "raw": partial(raw, q, edge_flt),
            "raw_bare": partial(shard.query, bare),
        }
        names = list(calls)
        for name in names[i % 3 :] + names[: i % 3]:
            t0 = time.perf_counter()
            out = calls[name]()
            totals[name] += time.perf_counter() - t0
            if name == "client":
                found.append([h.asset_id for h in out])
    n = len(data.queries)
    return {f"{k}_ms": v / n * 1e3 for k, v in totals.items()} | {"ids": found}


def time_local(data: Data, n_local: int, n_queries: int) -> dict[str, float]:
    """qdrant-client local mode on the first ``n_local`` points; ms per query at that size."""
    from qdrant_client import QdrantClient, models

    client = QdrantClient(location=":memory:")
    dim = data.vectors.shape[1]
    client.create_collection(
        "bench", vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
    )
    for s in range(0, n_local, 5000):
        rows = range(s, min(s + 5000, n_local))
        client.upsert(
            "bench",
            [
                models.PointStruct(
                    id=i,
                    vector=data.vectors[i].tolist(),
                    payload={"source": f"s{int(data.sources[i]):03d}"},
                )
                for i in rows
            ],
            wait=True,
        )
    out = {}
    for name, filtered in (("unfiltered", False), ("filtered", True)):
        t0 = time.perf_counter()
        for q, src in list(zip(data.queries, data.query_sources, strict=True))[:n_queries]:
            flt = None
            if filtered:
                cond = models.FieldCondition(
                    key="source", match=models.MatchValue(value=f"s{int(src):03d}")
                )
                flt = models.Filter(must=[cond])
            client.query_points("bench", query=q.tolist(), query_filter=flt, limit=K)
        out[name] = (time.perf_counter() - t0) / n_queries * 1e3
    client.close()
    return out


def time_faiss(data: Data, m: int, ef_construct: int, ef: int) -> dict[str, Any]:
    import faiss

    index = faiss.IndexHNSWFlat(data.vectors.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construct
    t0 = time.perf_counter()
    index.add(data.vectors)
    build = time.perf_counter() - t0
    index.hnsw.efSearch = ef
    out: dict[str, Any] = {"build_s": build}
    for name, filtered in (("unfiltered", False), ("filtered", True)):
        found, elapsed = [], 0.0
        for q, src in zip(data.queries, data.query_sources, strict=True):
            params = None
            if filtered:
                sel = faiss.IDSelectorBatch(np.flatnonzero(data.sources == src).astype(np.int64))
                params = faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
            t0 = time.perf_counter()
            _, ids = index.search(q[None, :], K, params=params)
            elapsed += time.perf_counter() - t0
            found.append([int(i) for i in ids[0] if i >= 0])
        out[name] = {"ms": elapsed / len(data.queries) * 1e3, "ids": found}
    return out


def timed(label: str, fn: Callable[[], Any], log: dict[str, float]) -> Any:
    t0 = time.perf_counter()
    result = fn()
    log[label] = time.perf_counter() - t0
    print(f"  {label}: {log[label]:.1f} s (peak RSS {peak_rss_mb():.0f} MB)", flush=True)
    return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--points", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--local-points", type=int, default=100_000)
    parser.add_argument("--local-queries", type=int, default=20)
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--skip-faiss", action="store_true")
    parser.add_argument("--store-dir", type=Path, default=None, help="default: a temporary dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quantization", choices=["none", "int8", "binary"], default="none",
        help="int8 / binary: build a plain and a quantized store from the same data and compare"
        " them (recall, query time, memory of the vectors; bench/search_quantized.py)",
    )
    parser.add_argument(
        "--oversampling", type=lambda v: [float(x) for x in v.split(",")], default=[1.0, 4.0],
        help="with --quantization: oversampling factors timed besides the default (comma list)",
    )
    return parser.parse_args()


FILTERS = ("unfiltered", "filtered")


def run_edge(
    args: argparse.Namespace, data: Data, settings: StoreSettings, phases: dict[str, float]
) -> dict[str, Any]:
    """Build the edge store, time both query kinds; build figures and RSS."""
    with tempfile.TemporaryDirectory(dir=args.store_dir) as tmp:
        store, build = timed(
            "edge_build", lambda: build_edge(Path(tmp) / "store", data, settings), phases
        )
        rss = peak_rss_mb()
        info = store.info(Kind.IMAGES)
        runs = {
            f: timed(
                f"edge_{f}",
                lambda f=f: time_edge(store, data, f == "filtered", settings.hnsw_ef),
                phases,
            )
            for f in FILTERS
        }
        store.close()
    return {
        "runs": runs,
        "figures": {
            "edge_segments": info.segments,
            "edge_indexed_points": info.indexed_points,
            "edge_upsert_s": round(build["upsert_s"], 1),
            "edge_optimize_s": round(build["optimize_s"], 1),
            "peak_rss_mb_after_edge_build": round(rss),
        },
    }


def row(
    e: dict[str, Any],
    truth: list[np.ndarray],
    local_ms: float | None,
    scale: float,
    fai: dict[str, Any] | None,
) -> dict[str, Any]:
    """The figures of one query kind."""
    r: dict[str, Any] = {
        "recall_at_10": round(recall(e["ids"], truth), 4),
        "client_ms": round(e["client_ms"], 4),
        "raw_ms": round(e["raw_ms"], 4),
        "raw_bare_ms": round(e["raw_bare_ms"], 4),
        "client_over_raw": round(e["client_ms"] / e["raw_ms"], 3),
        "client_over_raw_bare": round(e["client_ms"] / e["raw_bare_ms"], 3),
    }
    if local_ms is not None:
        r["local_mode_ms_scaled"] = round(local_ms * scale, 2)
        r["speedup_vs_local_mode"] = round(local_ms * scale / e["client_ms"], 1)
    if fai is not None:
        r["faiss_ms"] = round(fai["ms"], 4)
        r["faiss_recall_at_10"] = round(recall(fai["ids"], truth), 4)
        r["edge_over_faiss_time"] = round(e["client_ms"] / fai["ms"], 2)
    return r


def main() -> None:
    args = parse_args()
    settings = StoreSettings()
    phases: dict[str, float] = {}
    print(
        f"search bench: {args.points:,} x {args.dim}-d, {args.queries} queries, m={settings.hnsw_m}"
        f" ef_construct={settings.hnsw_ef_construct} ef={settings.hnsw_ef}",
        flush=True,
    )
    data = timed(
        "generate", lambda: make_data(args.points, args.dim, args.queries, args.seed), phases
    )
    truth = {
        f: timed(f"exact_{f}", lambda f=f: exact_top(data, f == "filtered"), phases)
        for f in FILTERS
    }
    if args.quantization != "none":
        quantized_main(args, data, truth, phases)
        return
    edge = run_edge(args, data, settings, phases)
    n_local = min(args.local_points, args.points)
    local = (
        {}
        if args.skip_local
        else timed("local_mode", lambda: time_local(data, n_local, args.local_queries), phases)
    )
    fai = (
        {}
        if args.skip_faiss
        else timed(
            "faiss",
            lambda: time_faiss(data, settings.hnsw_m, settings.hnsw_ef_construct, settings.hnsw_ef),
            phases,
        )
    )
    scale = args.points / n_local
    result: dict[str, Any] = {
        "points": args.points,
        "dim": args.dim,
        "queries": args.queries,
        "k": K,
        "hnsw_m": settings.hnsw_m,
        "ef_construct": settings.hnsw_ef_construct,
        "ef": settings.hnsw_ef,
        **edge["figures"],
        "peak_rss_mb_total": round(peak_rss_mb()),
        "local_mode_points": n_local if local else None,
        "local_mode_queries": args.local_queries if local else None,
        "local_mode_ms_at_subset": {f: round(local[f], 2) for f in local},
        "local_mode_scale": scale,
        "faiss_build_s": round(fai["build_s"], 1) if fai else None,
    }
    for f in FILTERS:
        result[f] = row(edge["runs"][f], truth[f], local.get(f), scale, fai.get(f))
    print_table([(f, result[f]) for f in FILTERS], result)
    print(json.dumps(result))


def quantized_main(
    args: argparse.Namespace,
    data: Data,
    truth: dict[str, list[np.ndarray]],
    phases: dict[str, float],
) -> None:
    """The plain store against a quantized one on the same data; a table, then one JSON line."""
    from search_quantized import print_report, report, run_quantized

    run = run_quantized(args, data, args.quantization, build_edge, source_filter, timed, phases, K)
    settings = StoreSettings()
    figures = {
        "points": args.points, "dim": args.dim, "queries": args.queries, "k": K,
        "hnsw_m": settings.hnsw_m, "ef_construct": settings.hnsw_ef_construct,
        "ef": settings.hnsw_ef, **report(run, truth, recall),
        "peak_rss_mb_total": round(peak_rss_mb()),
    }
    print_report(figures)
    print(json.dumps(figures))


def print_table(rows: list[tuple[str, dict[str, Any]]], result: dict[str, Any]) -> None:
    keys = list(rows[0][1])
    print()
    print(f"{'metric':<26}" + "".join(f"{name:>14}" for name, _ in rows))
    for key in keys:
        print(f"{key:<26}" + "".join(f"{r.get(key, ''):>14}" for _, r in rows))
    print(
        f"build: edge upserts {result['edge_upsert_s']} s + optimize {result['edge_optimize_s']} s"
        f"; faiss {result.get('faiss_build_s', '-')} s; peak RSS after edge build "
        f"{result['peak_rss_mb_after_edge_build']} MB, overall {result['peak_rss_mb_total']} MB"
    )
    if result["local_mode_points"]:
        print(
            f"local mode measured on {result['local_mode_points']:,} points x "
            f"{result['local_mode_queries']} queries, scaled x{result['local_mode_scale']:.1f}"
            " (linear)"
        )


if __name__ == "__main__":
    main()
