"""Benchmark of the most expensive search requests the API accepts, against a plain text query
(not a test).

Builds a temporary index: ``--points`` catalogued assets (default 25,000, more than the deepest
accepted page, offset 10,000 + limit 100, reaches), one caption each, their image and caption
points in qdrant-edge (clustered unit 256-d vectors, payloads like ingestion writes), and a
random-weight model version of the default shape as the active query encoder (the encoding cost of
a trained model; see ``modalign.encoders.random_model``). Then the real app
(``create_app``, in this process through starlette's TestClient, so HTTP parsing, validation,
encoding, the engine and hydration are all in the time) answers each request ``--repeats`` times
after a warm-up, the plain text query timed again before each of them. Requests:

- the reference: a plain text query (``{"text": ..., "limit": 10}``, hydrated);
- each knob at its accepted maximum: limit, offset + limit, ef, exact; filters at the depth, the
  condition and the MatchAny limits; everything at once; the same on captions and similar images;
- uploads: a small query image, and the costliest images the upload caps accept (a PNG and a
  JPEG just under ``service.max_upload_bytes`` with the most pixels the pixel cap allows).

Prints a table of median times and their ratio to the plain text query (goal: every ratio <= 50),
then, as its last line, one JSON object with every figure.
Run: ``nice .venv/bin/python bench/query_cost.py [--points 100000] [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from modalign.catalog import repo
from modalign.catalog.db import make_engine, make_session_factory, session_scope
from modalign.config import Settings
from modalign.encoders.random_model import register_random_model
from modalign.search import (
    CaptionPayload,
    ImagePayload,
    Kind,
    PointIn,
    caption_point_id,
    image_point_id,
    open_store,
)
from modalign.search.filters import MAX_ANY_VALUES, MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH
from modalign.service.app import create_app
from modalign.service.schemas import MAX_LIMIT, MAX_OFFSET

ROOT = Path(__file__).resolve().parents[1]
MODEL = "cost-bench"
GOAL_RATIO = 50.0
TEXT = "a red apple on a wooden table"
SOURCES = [f"source{i:02d}" for i in range(20)]
TAGS = ["animal", "food", "flag", "tool", "plant", "vehicle", "person", "building"]
CREATED = datetime(2026, 1, 1, tzinfo=UTC)
BATCH = 2_000


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=25_000, help="Assets in the index.")
    parser.add_argument("--repeats", type=int, default=7, help="Timed runs per request.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "cache",
                        help="Tower cache to reuse (the ONNX export), if it exists.")
    return parser.parse_args()


# -- the index ----------------------------------------------------------------------------------


def make_settings(work: Path, cache: Path) -> Settings:
    data_dir = work / "data"
    data_dir.mkdir(parents=True)
    if cache.is_dir():
        (data_dir / "cache").symlink_to(cache.resolve(), target_is_directory=True)
    return Settings(paths={"data_dir": data_dir}, encoders={"torch_threads": 2})


def add_assets(settings: Settings, count: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    """``count`` catalog assets with one caption each; their payload fields, in id order."""
    engine = make_engine(settings.database_url)
    rows: list[dict[str, Any]] = []
    try:
        sessions = make_session_factory(engine)
        for start in range(0, count, BATCH):
            batch = [_asset(i, rng) for i in range(start, min(start + BATCH, count))]
            with session_scope(sessions) as session:
                made = repo.upsert_assets(session=session, assets=batch)
                ids = {digest: row.asset.id for digest, row in made.items()}
                repo.add_captions_to_assets(session=session, texts_by_asset={
                    ids[a.content_hash]: [f"a drawing of {a.tags[0]} number {a.width}"]
                    for a in batch
                })
            rows += [{"asset": a, "asset_id": ids[a.content_hash]} for a in batch]
    finally:
        engine.dispose()
    return rows


def _asset(i: int, rng: np.random.Generator) -> repo.NewAsset:
    digest = hashlib.sha256(i.to_bytes(8, "little")).hexdigest()
    side = int(rng.integers(32, 2048))
    return repo.NewAsset(
        content_hash=digest, uri=f"/srv/images/{digest[:2]}/{digest}.png", width=side,
        height=side, mime="image/png", size_bytes=side * 40, source=SOURCES[i % len(SOURCES)],
        dataset="bench", split="train", tags=list(rng.choice(TAGS, size=2, replace=False)),
    )


def unit_vectors(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors around ``count // 200`` random centres (clustered like real embeddings)."""
    centres = rng.normal(size=(max(count // 200, 10), dim)).astype(np.float32)
    out = centres[rng.integers(len(centres), size=count)]
    out = out + rng.normal(scale=0.6, size=out.shape).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def fill_store(settings: Settings, rows: list[dict[str, Any]], rng: np.random.Generator) -> float:
    """Image and caption points of every asset in the model's collections; seconds it took."""
    started = time.perf_counter()
    dim = settings.encoders.embed_dim
    store = open_store(settings)
    try:
        store.create_version(MODEL, image_dim=dim, caption_dim=dim)
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            images = unit_vectors(len(chunk), dim, rng)
            captions = unit_vectors(len(chunk), dim, rng)
            pairs = list(zip(chunk, images, captions, strict=True))
            store.upsert(Kind.IMAGES, [_image_point(r, i) for r, i, _ in pairs], version=MODEL)
            store.upsert(Kind.CAPTIONS, [_caption_point(r, c) for r, _, c in pairs], version=MODEL)
        store.set_active_version(MODEL)
        store.optimize()
    finally:
        store.close()
    return time.perf_counter() - started


def _payload_fields(row: dict[str, Any]) -> dict[str, Any]:
    asset: repo.NewAsset = row["asset"]
    return {"asset_id": row["asset_id"], "content_hash": asset.content_hash,
            "source": asset.source, "dataset": asset.dataset, "split": asset.split,
            "tags": list(asset.tags), "created_at": CREATED, "width": asset.width,
            "height": asset.height}


def _image_point(row: dict[str, Any], vector: np.ndarray) -> PointIn:
    digest = row["asset"].content_hash
    return PointIn(image_point_id(digest), vector, ImagePayload(**_payload_fields(row)))


def _caption_point(row: dict[str, Any], vector: np.ndarray) -> PointIn:
    digest = row["asset"].content_hash
    text = f"a drawing of {row['asset'].tags[0]} number {row['asset'].width}"
    payload = CaptionPayload(**_payload_fields(row), text=text, position=0,
                             image_point_id=image_point_id(digest))
    return PointIn(caption_point_id(digest, repo.caption_hash(text)), vector, payload)


# -- the requests -------------------------------------------------------------------------------


def deepest_filter() -> dict[str, Any]:
    flt: dict[str, Any] = {"must": [{"field": "width", "op": "range", "gte": 64}]}
    for _ in range(MAX_FILTER_DEPTH - 1):
        flt = {"should": [flt, {"field": "tags", "op": "match", "value": "food"}]}
    return flt


def most_conditions(count: int = MAX_FILTER_CONDITIONS) -> dict[str, Any]:
    """``count`` conditions over every index type, most of them matching."""
    leaves: list[dict[str, Any]] = []
    while len(leaves) < count - 1:
        n = len(leaves)
        leaves += [
            {"field": "width", "op": "range", "gte": n, "lte": 4096 + n},
            {"field": "source", "op": "any", "values": SOURCES},
            {"field": "created_at", "op": "datetime_range", "gte": "2025-01-01T00:00:00Z"},
            {"field": "split", "op": "match", "value": "train"},
        ]
    return {"must": [{"should": leaves[: count - 1]}]}  # the nested filter is one condition


def most_values(ids: list[int]) -> dict[str, Any]:
    return {"must": [{"field": "asset_id", "op": "any", "values": ids[:MAX_ANY_VALUES]}]}


def everything(conditions: int = MAX_FILTER_CONDITIONS) -> dict[str, Any]:
    """Every knob at its maximum and the largest filter."""
    return {"limit": MAX_LIMIT, "offset": MAX_OFFSET, "ef": 4096, "exact": True,
            "filter": most_conditions(conditions)}


def requests(ids: list[int]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Name -> (path, JSON body) of the timed JSON requests."""
    text = {"text": TEXT}
    spread_ids = ids[:: max(1, len(ids) // MAX_ANY_VALUES)]
    return {
        "plain text query": ("/v1/search/images", {**text, "limit": 10}),
        f"limit {MAX_LIMIT}": ("/v1/search/images", {**text, "limit": MAX_LIMIT}),
        f"offset {MAX_OFFSET}": ("/v1/search/images", {**text, "offset": MAX_OFFSET}),
        f"offset {MAX_OFFSET} + limit {MAX_LIMIT}": (
            "/v1/search/images", {**text, "offset": MAX_OFFSET, "limit": MAX_LIMIT}),
        "ef 4096": ("/v1/search/images", {**text, "ef": 4096}),
        "exact": ("/v1/search/images", {**text, "exact": True}),
        f"filter depth {MAX_FILTER_DEPTH}": (
            "/v1/search/images", {**text, "filter": deepest_filter()}),
        f"filter {MAX_FILTER_CONDITIONS} conditions": (
            "/v1/search/images", {**text, "filter": most_conditions()}),
        f"MatchAny {MAX_ANY_VALUES} values": (
            "/v1/search/images", {**text, "filter": most_values(spread_ids)}),
        "everything at once": ("/v1/search/images", {**text, **everything()}),
        "captions, everything at once": ("/v1/search/captions", {**text, **everything()}),
        # leaving the asset out takes one of the similar-images filter's conditions
        "similar, everything at once": (
            "/v1/search/similar",
            {"asset_id": ids[0], **everything(MAX_FILTER_CONDITIONS - 1)}),
    }


def small_png() -> bytes:
    return _png(Image.new("RGB", (256, 256), (200, 30, 30)))


def largest_accepted(settings: Settings, kind: str) -> bytes:
    """An image under the upload byte cap with the most pixels the pixel cap allows (flat colour
    with a few shapes, so it compresses under the byte cap): the costliest decode accepted."""
    side = math.isqrt(settings.ingest.max_image_pixels)
    image = Image.new("RGB", (side, side), (250, 245, 230))
    for i in range(0, side, max(1, side // 16)):
        image.paste((20 + i % 200, 90, 160), (i, i, min(side, i + side // 32), side))
    data = _png(image) if kind == "PNG" else _jpeg(image)
    if len(data) > settings.service.max_upload_bytes:
        raise SystemExit(f"the {kind} test image is {len(data)} bytes, above the upload cap")
    return data


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


# -- timing ---------------------------------------------------------------------------------------


def medians_ms(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median time of each call after one warm-up call each. The calls are taken in turn
    ``repeats`` times, and the reference (the first call) is timed again before every other one,
    so a load change on a shared machine falls on a request and its reference alike."""
    (reference, first), *others = calls.items()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        call()  # warm-up (caches, first-use exports)
    for _ in range(repeats):
        for name, call in others:
            times[reference].append(_seconds(first))
            times[name].append(_seconds(call))
    return {name: 1000 * statistics.median(spent) for name, spent in times.items()}


def _seconds(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def posting(client: TestClient, path: str, **kwargs: Any) -> Callable[[], Any]:
    def call() -> Any:
        response = client.post(path, **kwargs)
        if response.status_code != 200:
            raise SystemExit(f"{path} answered {response.status_code}: {response.text[:300]}")
        return response

    return call


def measure(settings: Settings, ids: list[int], repeats: int) -> dict[str, float]:
    megapixels = settings.ingest.max_image_pixels / 1e6
    uploads = {"upload 256x256 PNG": small_png()}
    for kind in ("PNG", "JPEG"):
        data = largest_accepted(settings, kind)
        uploads[f"upload {megapixels:.0f} Mpx {kind} ({len(data) / 1e6:.1f} MB)"] = data
    with TestClient(create_app(settings)) as client:
        calls = {name: posting(client, path, json=body)
                 for name, (path, body) in requests(ids).items()}
        calls.update({
            name: posting(client, "/v1/search/images", files={"file": ("q.png", data)})
            for name, data in uploads.items()
        })
        return medians_ms(calls, repeats)


def report(timings: dict[str, float], figures: dict[str, Any]) -> None:
    plain = timings["plain text query"]
    ratios = {name: ms / plain for name, ms in timings.items()}
    width = max(len(name) for name in timings)
    print(f"{'request':<{width}}  {'median ms':>10}  {'x plain':>8}")
    for name, ms in timings.items():
        print(f"{name:<{width}}  {ms:>10.1f}  {ratios[name]:>8.1f}")
    worst = max(ratios, key=lambda name: ratios[name])
    print(f"worst: {worst} at {ratios[worst]:.1f}x the plain text query "
          f"(goal <= {GOAL_RATIO:.0f}x: {'met' if ratios[worst] <= GOAL_RATIO else 'NOT met'})")
    print(json.dumps({**figures, "median_ms": timings, "ratio_to_plain": ratios,
                      "worst": worst, "worst_ratio": ratios[worst], "goal_ratio": GOAL_RATIO}))


def main() -> None:
    args = parse()
    rng = np.random.default_rng(args.seed)
    work = Path(tempfile.mkdtemp(prefix="modalign-query-cost-"))
    try:
        settings = make_settings(work, args.cache)
        started = time.perf_counter()
        register_random_model(settings, MODEL)
        rows = add_assets(settings, args.points, rng)
        catalog_s = time.perf_counter() - started
        store_s = fill_store(settings, rows, rng)
        timings = measure(settings, [r["asset_id"] for r in rows], args.repeats)
        report(timings, {"points": args.points, "repeats": args.repeats,
                         "catalog_s": round(catalog_s, 1), "store_s": round(store_s, 1)})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
