"""Helpers of the service tests: settings, a tiny real model version, image folders, a live server.

The model version is a real checkpoint (the real towers, small random linear heads): the same code
path as a trained model, cheap to make. The live server is real uvicorn on an ephemeral port of
127.0.0.1, in a thread of the test process (which then owns the embedded store).
"""

from __future__ import annotations

import asyncio
import colorsys
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import torch
import uvicorn
from fastapi import FastAPI
from PIL import Image, ImageDraw

from modalign.catalog import migrate, repo
from modalign.catalog.db import make_engine, make_session_factory, session_scope
from modalign.config import Settings
from modalign.encoders.checkpoint import ModelCard, save_checkpoint
from modalign.encoders.heads import AlignmentHeads, HeadSpec

TINY_MODEL = "tiny-v1"
TINY_DIM = 32
SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = ("red", "green", "blue", "orange", "purple", "black")


def make_settings(data_dir: Path, cache: Path, **sections: dict[str, Any]) -> Settings:
    """Settings on a migrated SQLite catalog in ``data_dir``; the tower cache is shared."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "cache").exists():
        (data_dir / "cache").symlink_to(cache, target_is_directory=True)
    sections = {"ingest": {"batch_size": 8}, **sections}
    settings = Settings(
        paths={"data_dir": data_dir},
        encoders={"torch_threads": 1, "image_backend": "onnx"},
        **sections,
    )
    migrate.upgrade(settings.database_url)
    return settings


def register_tiny_model(settings: Settings, name: str = TINY_MODEL, *, seed: int = 0) -> None:
    """A checkpoint with small random linear heads, registered (active if it is the first)."""
    torch.manual_seed(seed)
    spec = HeadSpec(embed_dim=TINY_DIM, kind="linear")
    heads = AlignmentHeads(spec)
    card = ModelCard(name=name, towers={}, heads=spec.to_dict(), temperature=0.07, data_hash="t")
    directory = save_checkpoint(settings.paths.models_dir / name, heads, card)
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            first = repo.get_active_model_version(session=session) is None
            repo.register_model_version(
                session=session, name=name, dims=TINY_DIM,
                checkpoint_path=str(directory), activate=first,
            )
    finally:
        engine.dispose()


def make_images(folder: Path, count: int, *, offset: int = 0, side: int = 96) -> list[str]:
    """``count`` distinct PNG drawings with a caption sidecar each; returns the captions."""
    folder.mkdir(parents=True, exist_ok=True)
    captions = []
    for i in range(offset, offset + count):
        shape, colour = SHAPES[i % len(SHAPES)], COLOURS[(i // len(SHAPES)) % len(COLOURS)]
        caption = f"a {colour} {shape} number {i}"
        _draw(i, shape, colour, side).save(folder / f"img{i:04d}.png")
        (folder / f"img{i:04d}.txt").write_text(caption + "\n")
        captions.append(caption)
    return captions


def _draw(i: int, shape: str, colour: str, side: int) -> Image.Image:
    hue = (i * 0.137) % 1.0
    background = tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.15, 1.0))
    image = Image.new("RGB", (side, side), background)  # type: ignore[arg-type]
    draw = ImageDraw.Draw(image)
    pad = 8 + i % 12
    box = (pad, pad, side - pad, side - pad)
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    elif shape == "triangle":
        draw.polygon([(side // 2, pad), (pad, side - pad), (side - pad, side - pad)], fill=colour)
    else:
        draw.line((pad, pad, side - pad, side - pad), fill=colour, width=6 + i % 5)
        draw.line((pad, side - pad, side - pad, pad), fill=colour, width=6 + i % 5)
    draw.text((2, 2), str(i), fill="black")
    return image


class LiveServer:
    """uvicorn serving ``app`` on 127.0.0.1:<ephemeral> in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True
        )
        self.thread.start()
        wait_for(lambda: self.server.started or not self.thread.is_alive(), 300, "server start")
        if not self.server.started:
            raise RuntimeError("the live server did not start (see the log)")

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(60)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


def wait_for_job(client: httpx.Client, job_id: int, timeout: float = 300) -> dict[str, Any]:
    """Poll GET /v1/jobs/{id} until the job is finished; returns its last state."""
    state: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal state
        state = client.get(f"/v1/jobs/{job_id}").raise_for_status().json()
        return state["status"] not in ("pending", "running") and state["pending_items"] == 0

    wait_for(finished, timeout, f"job {job_id}")
    return state


def nested_filter(depth: int, leaf: str = '{"field": "width", "op": "range", "gte": 1}') -> str:
    """A filter's JSON text ``depth`` levels deep (the top level is 1), built as text so any depth
    can be sent."""
    return '{"must": [' * depth + leaf + "]}" * depth


def boundary_filters() -> dict[str, tuple[str, bool]]:
    """Filters at and past the documented limits, as JSON text, with whether each is accepted."""
    from modalign.search.filters import (
        INT64_MAX,
        INT64_MIN,
        MAX_ANY_VALUES,
        MAX_FILTER_CONDITIONS,
        MAX_FILTER_DEPTH,
    )

    def leaf(value: str) -> str:
        return f'{{"field": "asset_id", "op": "match", "value": {value}}}'

    def match(value: str) -> str:
        return f'{{"must": [{leaf(value)}]}}'

    def any_of(count: int) -> str:
        values = ", ".join(str(i) for i in range(count))
        return f'{{"must": [{{"field": "asset_id", "op": "any", "values": [{values}]}}]}}'

    def flat(count: int) -> str:
        return '{"should": [' + ", ".join([leaf("1")] * count) + "]}"

    def bound(value: str) -> str:
        return f'{{"must": [{{"field": "width", "op": "range", "lte": {value}}}]}}'

    return {
        "depth at the limit": (nested_filter(MAX_FILTER_DEPTH), True),
        "depth past the limit": (nested_filter(MAX_FILTER_DEPTH + 1), False),
        "depth 300": (nested_filter(300), False),
        "depth 5000": (nested_filter(5000), False),
        "conditions at the limit": (flat(MAX_FILTER_CONDITIONS), True),
        "conditions past the limit": (flat(MAX_FILTER_CONDITIONS + 1), False),
        "MatchAny values at the limit": (any_of(MAX_ANY_VALUES), True),
        "MatchAny values past the limit": (any_of(MAX_ANY_VALUES + 1), False),
        "int64 max": (match(str(INT64_MAX)), True),
        "int64 min": (match(str(INT64_MIN)), True),
        "2**63": (match(str(2**63)), False),
        "-(2**63) - 1": (match(str(-(2**63) - 1)), False),
        "2**64": (match(str(2**64)), False),
        "-(2**64)": (match(str(-(2**64))), False),
        "10**400": (match("1" + "0" * 400), False),
        "float 1e308 bound": (bound("1e308"), True),
        "float 1e309 bound": (bound("1e309"), False),
        "10**400 bound": (bound("1" + "0" * 400), False),
        "NaN bound": (bound("NaN"), False),
        "Infinity bound": (bound("-Infinity"), False),
        "string NaN bound": (bound('"NaN"'), False),
        "datetime out of range in UTC": (
            '{"must": [{"field": "created_at", "op": "datetime_range", '
            '"lt": "9999-12-31T23:59:59-23:59"}]}', False),
    }


@dataclass
class AsgiReply:
    """What the app answered to :func:`call_app`, and how much of the body it pulled."""

    status: int
    body: dict[str, Any]
    chunks_read: int
    bytes_read: int


def call_app(
    app: FastAPI,
    method: str,
    path: str,
    chunks: Iterator[bytes],
    headers: Sequence[tuple[str, str]] = (),
) -> AsgiReply:
    """One request straight to the ASGI app (lifespan included), its body pulled chunk by chunk
    from ``chunks`` only when the app asks for more: the count shows what the service read."""
    return asyncio.run(_call_app(app, method, path, chunks, headers))


async def _call_app(
    app: FastAPI, method: str, path: str, chunks: Iterator[bytes],
    headers: Sequence[tuple[str, str]],
) -> AsgiReply:
    reply = AsgiReply(0, {}, 0, 0)
    raw: list[bytes] = []

    async def receive() -> dict[str, Any]:
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        reply.chunks_read += 1
        reply.bytes_read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
        elif message["type"] == "http.response.body":
            raw.append(message.get("body", b""))

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "server": ("testserver", 80), "client": ("127.0.0.1", 1),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }
    async with app.router.lifespan_context(app):
        scope["state"] = {}
        await app(scope, receive, send)
    text = b"".join(raw)
    reply.body = json.loads(text) if text.startswith(b"{") else {}
    return reply


def endless(chunk: bytes = b"x" * 16_384) -> Iterator[bytes]:
    """A request body that never ends."""
    while True:
        yield chunk
