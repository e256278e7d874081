"""Crash-test kit: `modalign` subprocesses armed with fault points (modalign.faults), real
signals, and the checks every kill is followed by.

A data directory holds a SQLite catalog with the tiny model version registered; the source is a
folder of distinct drawings with captions, two exact copies (one asset each with the original)
and one file that is not an image. After each kill: the encoder child is gone, and the catalog
and the store agree (nothing lost, nothing duplicated); after the last resume the job is
finished, every item counted once, every asset embedded, and a search on the active version
answers.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from modalign.catalog.db import make_engine, make_session_factory
from modalign.catalog.models import ItemStatus, JobStatus
from modalign.config import Settings
from modalign.faults import FAULT_ENV
from modalign.ingest.consistency import Consistency, check_consistency, check_job
from modalign.search.client import SearchClient
from modalign.search.factory import open_store

from .helpers import TINY_DIM, TINY_MODEL

CLI = str(Path(sys.executable).parent / "modalign")
BATCH = 4
DISTINCT = 24  # distinct images in the source
COPIES = 2  # exact copies of two of them, under other names
BAD = 1  # a text file named .png
ITEMS = DISTINCT + COPIES + BAD
RUN_TIMEOUT_S = 240
GONE_TIMEOUT_S = 15
ENCODER_PID = re.compile(r"started encoder process (\d+)")


def make_source(folder: Path) -> Path:
    """The crash tests' source folder (see the module docstring)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(DISTINCT):
        image = Image.new("RGB", (80, 64), (i * 10 % 256, 255 - i * 7 % 256, i * 37 % 256))
        ImageDraw.Draw(image).ellipse((4 + i % 9, 4, 60 + i % 15, 40 + i % 20), fill="black")
        image.save(folder / f"img{i:03d}.png")
        (folder / f"img{i:03d}.txt").write_text(f"drawing number {i}\n")
    for i in range(COPIES):
        shutil.copyfile(folder / f"img{i:03d}.png", folder / f"copy{i}.png")
    (folder / "broken.png").write_text("this is not a picture")
    return folder


def cli_env(data_dir: Path, fault: str | None = None, **settings: str) -> dict[str, str]:
    """The environment of a `modalign` child: this one's (PYTHONPATH included), the data dir,
    one torch thread, ONNX towers, small batches, and the fault to arm."""
    env = dict(os.environ)
    env.pop(FAULT_ENV, None)
    env.update(
        {
            "MODALIGN_PATHS__DATA_DIR": str(data_dir),
            "MODALIGN_ENCODERS__TORCH_THREADS": "1",
            "MODALIGN_ENCODERS__IMAGE_BACKEND": "onnx",
            "MODALIGN_ENCODERS__TEXT_BACKEND": "onnx",
            "MODALIGN_INGEST__BATCH_SIZE": str(BATCH),
            **settings,
        }
    )
    if fault is not None:
        env[FAULT_ENV] = fault
    return env


@dataclass(frozen=True)
class Run:
    """How one `modalign` process ended, and its log."""

    args: tuple[str, ...]
    returncode: int
    log: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    @property
    def encoder_pids(self) -> list[int]:
        return [int(pid) for pid in ENCODER_PID.findall(self.log)]

    def describe(self) -> str:
        return f"`modalign {' '.join(self.args)}` exited {self.returncode}:\n{self.log[-3000:]}"


def start_cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """A `modalign` process in its own session (its output piped)."""
    return subprocess.Popen(
        [CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )


def finish(process: subprocess.Popen[str], args: tuple[str, ...]) -> Run:
    """Wait for a process started by :func:`start_cli`; kill its group if it hangs."""
    try:
        out, _ = process.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, _ = process.communicate()
        raise AssertionError(f"`modalign {' '.join(args)}` hung:\n{out[-3000:]}") from None
    return Run(args, process.returncode, out)


def run_cli(env: dict[str, str], *args: str, kill_after: float | None = None) -> Run:
    """Run `modalign args`; with ``kill_after``, SIGKILL it (the process alone, not its
    group: its encoder child must go by itself) after that many seconds."""
    process = start_cli(env, *args)
    if kill_after is not None:
        try:
            process.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            process.kill()
    return finish(process, args)


def wait_stopped(process: subprocess.Popen[str]) -> None:
    """Wait until ``process`` has stopped itself (a ``stop`` fault) or exited."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while _state(process.pid) not in ("T", "Z", None):
        assert time.monotonic() < deadline, "the process did not reach its stop point"
        time.sleep(0.05)
    assert process.poll() is None, "the process exited before its stop point"


def assert_gone(pids: list[int]) -> None:
    """Every process in ``pids`` has exited (a zombie waiting for its reaper counts)."""
    deadline = time.monotonic() + GONE_TIMEOUT_S
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _running(pid)]
        time.sleep(0.1)
    assert not alive, f"orphaned encoder processes still running: {alive}"


def _running(pid: int) -> bool:
    return _state(pid) not in ("Z", None)


def _state(pid: int) -> str | None:
    """The process's state letter (R, S, T, Z, ...), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def settings_of(data_dir: Path) -> Settings:
    return Settings(paths={"data_dir": data_dir})


def consistency(settings: Settings) -> Consistency:
    """Catalog against store for the tiny model version, from this process."""
    engine = make_engine(settings.database_url)
    store = open_store(settings)
    try:
        return check_consistency(make_session_factory(engine), store, TINY_MODEL)
    finally:
        store.close()
        engine.dispose()


def assert_intact(settings: Settings) -> Consistency:
    """What a crash may leave: nothing lost, nothing extra (a batch's work may be pending)."""
    found = consistency(settings)
    assert (found.lost, found.extra) == (0, 0), found
    return found


def assert_finished(settings: Settings, job_id: int = 1) -> None:
    """The job finished, its items counted once, every distinct image embedded, search works."""
    engine = make_engine(settings.database_url)
    try:
        job = check_job(make_session_factory(engine), job_id)
    finally:
        engine.dispose()
    assert job.status == JobStatus.COMPLETED_WITH_ERRORS.value, job
    assert job.counters_agree and job.total == ITEMS, job
    assert job.items[ItemStatus.PENDING] == 0 and job.items[ItemStatus.FAILED] == BAD, job
    found = consistency(settings)
    assert found.complete, found
    assert (found.assets, found.image_points, found.caption_points) == (DISTINCT,) * 3, found
    assert job.new_points == found.image_points + found.caption_points, (job, found)
    assert search_hits(settings) == 5


def search_hits(settings: Settings) -> int:
    """Hits of a vector query on the store's active version (no version named)."""
    store = open_store(settings)
    try:
        client = SearchClient(store)
        return len(client.search_images(vector=np.ones(TINY_DIM), limit=5, hydrate=False))
    finally:
        store.close()
