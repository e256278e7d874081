"""The embedded store after a crash: a WAL cut short, a damaged segment file.

A writer process upserts 20 image points (flushed), then 10 more, and is killed (SIGKILL, at the
``store.flush`` fault point) before their flush: they are only in the write-ahead log. Copies of
that store are damaged, then opened by another process with a timeout: it must open (replaying
what the log still holds) or raise StoreError naming the repair; never hang, never let a Rust
panic (pyo3's PanicException, a BaseException) through.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modalign.faults import FAULT_ENV
from modalign.search import image_point_id

FLUSHED, UNFLUSHED, DIM = 20, 10, 8
OPEN_TIMEOUT_S = 120

WRITER = f"""
import sys
from datetime import UTC, datetime
from pathlib import Path
from modalign.config import StoreSettings
from modalign.search import ImagePayload, Kind, PointIn, image_point_id
from modalign.search.edge_store import EdgeStore

def point(i):
    digest = f"{{i:064x}}"
    payload = ImagePayload(asset_id=i + 1, content_hash=digest, source="test", dataset="d",
                           split=None, tags=[], created_at=datetime.now(UTC), width=8, height=8)
    return PointIn(image_point_id(digest), [float(i % 3 + 1)] * {DIM}, payload)

store = EdgeStore(Path(sys.argv[1]), StoreSettings())
store.create_version("v1", image_dim={DIM}, caption_dim={DIM})
store.upsert(Kind.IMAGES, [point(i) for i in range({FLUSHED})], version="v1")
store.upsert(Kind.IMAGES, [point(i) for i in range({FLUSHED}, {FLUSHED + UNFLUSHED})],
             version="v1")  # killed at its flush
"""

OPENER = f"""
import json, sys
from pathlib import Path
from modalign.config import StoreSettings
from modalign.search import Kind
from modalign.search.edge_store import EdgeStore

try:
    with EdgeStore(Path(sys.argv[1]), StoreSettings()) as store:
        ids = json.loads(sys.argv[2])
        result = {{
            "ok": True,
            "count": store.count(Kind.IMAGES, version="v1"),
            "flushed_found": len(store.retrieve(Kind.IMAGES, ids, version="v1")),
            "hits": len(store.query(Kind.IMAGES, [1.0] * {DIM}, version="v1")),
        }}
except BaseException as exc:
    result = {{"ok": False, "type": type(exc).__name__, "error": str(exc)}}
print(json.dumps(result))
"""


def _python(code: str, *args: str, fault: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != FAULT_ENV}
    if fault is not None:
        env[FAULT_ENV] = fault
    return subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True,
        timeout=OPEN_TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def crashed_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crashed") / "qdrant"
    writer = _python(WRITER, str(root), fault="store.flush:2")
    assert writer.returncode == -signal.SIGKILL, writer.stderr
    return root


def _damaged_copy(crashed: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the crashed store and its image collection's WAL directory."""
    root = tmp_path / "qdrant"
    shutil.copytree(crashed, root)
    (wal,) = root.glob("collections/*__images/wal")
    return root, wal


def _open(root: Path) -> dict[str, Any]:
    flushed = [image_point_id(f"{i:064x}") for i in range(FLUSHED)]
    opened = _python(OPENER, str(root), json.dumps(flushed))  # a hang fails with a timeout
    assert opened.returncode == 0, opened.stderr[-3000:]
    result: dict[str, Any] = json.loads(opened.stdout.strip().splitlines()[-1])
    return result


def _segments(wal: Path) -> list[Path]:
    """The WAL's segment files, oldest first."""
    return sorted(wal.glob("open-*"), key=lambda p: int(p.name.split("-")[1]))


def _data_end(segment: Path) -> int:
    return len(segment.read_bytes().rstrip(b"\0"))


def test_the_log_replays_what_was_not_flushed(crashed_store: Path, tmp_path: Path) -> None:
    root, _ = _damaged_copy(crashed_store, tmp_path)
    assert _open(root) == {
        "ok": True, "count": FLUSHED + UNFLUSHED, "flushed_found": FLUSHED, "hits": 10,
    }


@pytest.mark.parametrize("cut", [1, 7, 40])
def test_a_torn_last_record_is_dropped(crashed_store: Path, tmp_path: Path, cut: int) -> None:
    root, wal = _damaged_copy(crashed_store, tmp_path)
    written = [s for s in _segments(wal) if _data_end(s) > 16]
    os.truncate(written[-1], _data_end(written[-1]) - cut)  # inside the unflushed upsert
    assert _open(root) == {"ok": True, "count": FLUSHED, "flushed_found": FLUSHED, "hits": 10}


def test_a_torn_segment_header_names_the_repair(crashed_store: Path, tmp_path: Path) -> None:
    root, wal = _damaged_copy(crashed_store, tmp_path)
    os.truncate(_segments(wal)[-1], 5)
    result = _open(root)
    assert not result["ok"] and result["type"] == "StoreError", result
    assert f"mv {wal} {wal}.damaged" in result["error"], result
    wal.rename(wal.with_name("wal.damaged"))  # the repair the error names
    repaired = _open(root)
    assert repaired["ok"] and repaired["flushed_found"] == FLUSHED, repaired


def test_a_panic_on_a_damaged_segment_is_a_store_error(
    crashed_store: Path, tmp_path: Path
) -> None:
    root, _ = _damaged_copy(crashed_store, tmp_path)
    for status in root.glob("collections/*__images/segments/*/vector_storage/vectors/status.dat"):
        os.truncate(status, 0)  # qdrant-edge panics on this ("index out of bounds")
    result = _open(root)
    assert not result["ok"] and result["type"] == "StoreError", result
    assert "qdrant-edge panicked" in result["error"] and "__images" in result["error"], result
