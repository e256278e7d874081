"""Hybrid search benchmark: text -> image R@1 / R@10 of vector, keyword and hybrid modes, and the
latency of one hybrid query against one vector query, in one run.

The model's data directory (``--data-dir``, a trained model version, left untouched) is copied
into a work directory per protocol, and the demo manifest's val and test images are ingested
there (embedded store, in-process). For each split the gallery is that split's images (filter
``split=...``) and a caption's true image is the asset of its manifest line. Two protocols:

- ``indexed``: every caption and tag is ingested and every caption of the split is a query. Its
  own words are then in its image's keyword vector, so keyword search looks its text up.
- ``held-out``: each image's first caption is the query and is kept out of what is ingested,
  with every other caption containing it and every tag equal to it (the demo's longer captions
  and tags repeat the name): the keywords must come from the rest of the image's text.

Hybrid's keyword weight is chosen on val (held-out), then reported on test. Prints a table, then
one JSON object as the last line. Run with ``nice``; the machine is shared.

    nice .venv/bin/python bench/hybrid.py --data-dir data
        [--manifest data/demo/manifest.jsonl] [--weights 0.25,0.5,1,2,4] [--latency 300]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from modalign.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("val", "test")
MODES = ("vector", "keyword", "hybrid")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="Holds the trained model.")
    parser.add_argument("--manifest", type=Path, default=ROOT / "data/demo/manifest.jsonl")
    parser.add_argument("--weights", default="0.25,0.5,1,2,4", help="Keyword weights to try.")
    parser.add_argument("--latency", type=int, default=300, help="Queries timed per mode.")
    parser.add_argument("--keep", action="store_true", help="Keep the work directory.")
    return parser.parse_args()


def held_out(entry: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The entry without its first caption (nor captions containing it, nor tags equal to it)."""
    query = entry["captions"][0]
    low = query.lower()
    kept = [c for c in entry["captions"][1:] if low not in c.lower()]
    tags = [t for t in entry.get("tags", []) if t.lower() != low]
    return {**entry, "captions": kept or [entry.get("source", "image")], "tags": tags}, query


def source_of(args: argparse.Namespace, work: Path, protocol: str) -> tuple[Path, list[Any]]:
    """A manifest of the val and test entries (and their images) and the queries:
    (split, caption, content hash) triples."""
    entries = [json.loads(line) for line in args.manifest.read_text().splitlines()]
    target = work / protocol / "source"
    lines, queries = [], []
    for entry in (e for e in entries if e.get("split") in SPLITS):
        destination = target / entry["path"]
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.manifest.parent / entry["path"], destination)
        if protocol == "held-out":
            entry, query = held_out(entry)
            queries.append((entry["split"], query, entry["sha256"]))
        else:
            queries += [(entry["split"], c, entry["sha256"]) for c in entry["captions"]]
        lines.append(json.dumps(entry) + "\n")
    out = target / "manifest.jsonl"
    out.write_text("".join(lines))
    return out, queries


def model_copy(source: Path, data: Path) -> Settings:
    """A fresh data directory with the source's active model version (files copied, the
    version registered in a new catalog migrated here; the tower cache shared)."""
    import sqlite3

    from modalign.catalog import migrate, repo
    from modalign.catalog.db import make_engine, make_session_factory, session_scope

    data.mkdir(parents=True)
    shutil.copytree(source / "models", data / "models")
    (data / "cache").symlink_to((source / "cache").resolve(), target_is_directory=True)
    settings = Settings(paths={"data_dir": data}, encoders={"torch_threads": 1},
                        ingest={"batch_size": 64})
    with sqlite3.connect(f"file:{source / 'catalog.db'}?mode=ro", uri=True) as db:
        name, dims, path, card, metrics = db.execute(
            "SELECT name, dims, checkpoint_path, card, metrics FROM model_versions"
            " WHERE active ORDER BY id DESC LIMIT 1").fetchone()
    migrate.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with session_scope(make_session_factory(engine)) as session:
        repo.register_model_version(session=session, name=name, dims=dims, checkpoint_path=path,
                                    card=json.loads(card), metrics=json.loads(metrics),
                                    activate=True)
    engine.dispose()
    return settings


def ingest(settings: Settings, manifest: Path) -> dict[str, Any]:
    from modalign.ingest.runner import JobRunner
    from modalign.ingest.sources import SourceSpec

    runner = JobRunner(settings)
    try:
        job_id = runner.create(SourceSpec(manifest, "manifest"), dataset="demo")
        runner.run_here(job_id)
        return runner.progress(job_id).as_dict()
    finally:
        runner.close()


def recall(
    store: Any, queries: list[Any], dense: np.ndarray, sparse: list[Any], mode: str, weight: float
) -> dict[str, float]:
    """R@1 and R@10 of ``mode`` over ``queries`` (each searched in its own split's gallery)."""
    from modalign.search import Filter, Kind, Match, QueryParams

    ranks = []
    for (split, _text, digest), vec, keywords in zip(queries, dense, sparse, strict=True):
        if mode == "keyword" and not keywords:  # only stopwords: SearchClient refuses it
            ranks.append(None)
            continue
        chosen = mode if keywords else "vector"  # as SearchClient does for a hybrid query
        params = QueryParams(limit=10, mode=chosen, keyword_weight=weight)
        flt = Filter(must=[Match(field="split", value=split)])
        hits = store.query(Kind.IMAGES, vec, sparse=keywords, filter=flt, params=params)
        found = [h.payload.get("content_hash") for h in hits]
        ranks.append(found.index(digest) if digest in found else None)
    n = len(ranks)
    return {"R@1": 100 * sum(r == 0 for r in ranks) / n,
            "R@10": 100 * sum(r is not None for r in ranks) / n, "queries": n}


def latency(client: Any, store: Any, texts: list[str], dense: np.ndarray, sparse: list[Any],
            times: int) -> dict[str, float]:
    """Median ms of one query: through SearchClient (encoding included) and the store call
    alone, vector and hybrid interleaved so both see the same load."""
    from modalign.search import Kind, QueryParams

    out: dict[str, list[float]] = {}
    for i in range(times):
        j = i % len(texts)
        for mode in ("vector", "hybrid"):
            params = QueryParams(limit=10, mode=mode)
            started = time.perf_counter()
            client.search_images(text=texts[j], mode=mode, hydrate=False)
            middle = time.perf_counter()
            store.query(Kind.IMAGES, dense[j], sparse=sparse[j], params=params)
            ended = time.perf_counter()
            out.setdefault(f"client_{mode}", []).append(1000 * (middle - started))
            out.setdefault(f"store_{mode}", []).append(1000 * (ended - middle))
    return {k: statistics.median(v) for k, v in out.items()}


def measure_protocol(args: argparse.Namespace, work: Path, protocol: str,
                     weights: list[float]) -> dict[str, Any]:
    from modalign.encoders.load import load_dual_encoder
    from modalign.search import open_store
    from modalign.search.client import SearchClient
    from modalign.search.sparse import KeywordEncoder

    data = work / protocol / "data"
    settings = model_copy(args.data_dir, data)
    manifest, queries = source_of(args, work, protocol)
    started = time.perf_counter()
    job = ingest(settings, manifest)
    ingest_s = time.perf_counter() - started
    encoder = load_dual_encoder(settings)
    keywords = KeywordEncoder()
    texts = [q[1] for q in queries]
    dense = np.asarray(encoder.encode_texts(texts), dtype=np.float32)
    sparse = [keywords.query(t) for t in texts]
    store = open_store(settings)
    try:
        figures: dict[str, Any] = {"ingest_s": ingest_s, "items": job.get("total")}
        for split in SPLITS:
            rows = [i for i, q in enumerate(queries) if q[0] == split]
            sub = ([queries[i] for i in rows], dense[rows], [sparse[i] for i in rows])
            figures[split] = {
                "vector": recall(store, *sub, "vector", 1.0),
                "keyword": recall(store, *sub, "keyword", 1.0),
                **{f"hybrid@{w:g}": recall(store, *sub, "hybrid", w) for w in weights},
            }
        client = SearchClient(store, encoder=encoder)
        figures["latency_ms"] = latency(client, store, texts, dense, sparse, args.latency)
    finally:
        store.close()
    return figures


def choose(figures: dict[str, Any], weights: list[float]) -> float:
    """The keyword weight with the best val R@10 (then R@1) of the held-out protocol."""
    val = figures["held-out"]["val"]
    return max(weights, key=lambda w: (val[f"hybrid@{w:g}"]["R@10"], val[f"hybrid@{w:g}"]["R@1"]))


def table(figures: dict[str, Any], weights: list[float], chosen: float) -> str:
    lines = ["| protocol | split | mode | R@1 | R@10 | queries |",
             "| --- | --- | --- | --- | --- | --- |"]
    for protocol in ("indexed", "held-out"):
        for split in SPLITS:
            for name, row in figures[protocol][split].items():
                mark = " (chosen on val)" if name == f"hybrid@{chosen:g}" else ""
                lines.append(f"| {protocol} | {split} | {name}{mark} | {row['R@1']:.2f} | "
                             f"{row['R@10']:.2f} | {row['queries']} |")
    for protocol in ("indexed", "held-out"):
        lat = figures[protocol]["latency_ms"]
        lines.append(
            f"latency ({protocol}), median ms: store vector {lat['store_vector']:.3f}, hybrid "
            f"{lat['store_hybrid']:.3f} (x{lat['store_hybrid'] / lat['store_vector']:.2f}); "
            f"SearchClient vector {lat['client_vector']:.2f}, hybrid {lat['client_hybrid']:.2f} "
            f"(x{lat['client_hybrid'] / lat['client_vector']:.2f})"
        )
    return "\n".join(lines)


def main() -> None:
    args = parse()
    weights = [float(w) for w in args.weights.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-hybrid-"))
    try:
        figures = {p: measure_protocol(args, work, p, weights) for p in ("indexed", "held-out")}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    chosen = choose(figures, weights)
    figures["chosen_keyword_weight"] = chosen
    test = figures["held-out"]["test"]
    figures["test_gain_r10"] = test[f"hybrid@{chosen:g}"]["R@10"] - test["vector"]["R@10"]
    print(table(figures, weights, chosen))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
