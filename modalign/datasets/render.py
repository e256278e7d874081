"""Render jobs: turn one source (an emoji sequence, a clip-art PNG) into a stored image file.

Jobs are small picklable values so a process pool can run them; each writes its own output file
(only when the bytes changed) and reports the file's SHA-256 and size, or why it was skipped.
A previous run's outcomes are kept in an index keyed by output path and a fingerprint of
everything the output depends on, so an unchanged item is reused without rendering again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

from modalign.datasets.emoji import GlyphStyle, png_bytes, render_glyph
from modalign.datasets.openclipart import ImageLimits, prepare_png
from modalign.errors import InvalidInputError
from modalign.progress import Advance, ProgressSink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmojiJob:
    sequence: str
    style: GlyphStyle

    def produce(self) -> tuple[bytes, int, int]:
        image = render_glyph(self.sequence, self.style)
        return png_bytes(image), image.width, image.height


@dataclass(frozen=True)
class ClipJob:
    png: Path
    limits: ImageLimits

    def produce(self) -> tuple[bytes, int, int]:
        try:
            data = self.png.read_bytes()
        except OSError as exc:
            raise InvalidInputError("unreadable PNG") from exc
        return prepare_png(data, self.limits)


Job = EmojiJob | ClipJob


@dataclass(frozen=True)
class Task:
    """A job, where its output goes (absolute path) and the fingerprint of its inputs."""

    job: Job
    out_path: Path
    fingerprint: str


@dataclass(frozen=True)
class Outcome:
    """What a task produced: the file's hash and size, or the reason it was skipped."""

    fingerprint: str
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    reason: str | None = None


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write bytes atomically unless the file already holds exactly them; True if written."""
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)
    return True


def run_task(task: Task) -> Outcome:
    """Produce one output file; a source that cannot be used becomes a reason, never an error."""
    try:
        data, width, height = task.job.produce()
    except InvalidInputError as exc:
        return Outcome(task.fingerprint, reason=str(exc))
    write_if_changed(task.out_path, data)
    digest = hashlib.sha256(data).hexdigest()
    return Outcome(task.fingerprint, sha256=digest, width=width, height=height)


def run_tasks(tasks: Sequence[Task], workers: int, advance: Advance | None = None) -> list[Outcome]:
    """Run tasks in order, in a process pool when workers > 1 and there is enough work;
    ``advance(1)`` after each."""
    if workers <= 1 or len(tasks) < 64:
        return _counted(map(run_task, tasks), advance)
    chunk = max(8, len(tasks) // (workers * 16))
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return _counted(pool.map(run_task, tasks, chunksize=chunk), advance)


def _counted(outcomes: Iterable[Outcome], advance: Advance | None) -> list[Outcome]:
    done = []
    for outcome in outcomes:
        done.append(outcome)
        if advance is not None:
            advance(1)
    return done


class RenderIndex:
    """Outcomes of earlier runs, keyed by output path relative to the output directory."""

    def __init__(self, root: Path, entries: dict[str, Outcome] | None = None) -> None:
        self.root = root
        self.entries: dict[str, Outcome] = dict(entries or {})

    @classmethod
    def load(cls, root: Path, path: Path) -> RenderIndex:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return cls(root, {key: Outcome(**value) for key, value in raw.items()})
        except (OSError, ValueError, TypeError):
            return cls(root)

    def save(self, path: Path) -> None:
        text = json.dumps({k: asdict(v) for k, v in sorted(self.entries.items())}, indent=0)
        write_if_changed(path, text.encode())

    def reusable(self, rel: str, fingerprint: str) -> Outcome | None:
        """The earlier outcome if inputs are unchanged and its file is still intact."""
        known = self.entries.get(rel)
        if known is None or known.fingerprint != fingerprint:
            return None
        if known.sha256 is None:
            return known
        path = self.root / rel
        return known if path.is_file() and sha256_file(path) == known.sha256 else None


def render_all(
    index: RenderIndex, tasks: dict[str, Task], workers: int, sink: ProgressSink | None = None
) -> tuple[dict[str, Outcome], int]:
    """Outcomes for every task (by output rel path), reusing what the index still vouches for;
    returns them with the number actually rendered (a ``sink`` task counts them)."""
    outcomes: dict[str, Outcome] = {}
    for rel, task in tasks.items():
        hit = index.reusable(rel, task.fingerprint)
        if hit is not None:
            outcomes[rel] = hit
    todo = [rel for rel in tasks if rel not in outcomes]
    log.debug("rendering %d images (%d reused) with %d workers", len(todo), len(outcomes), workers)
    advance = sink.task("rendering demo images", len(todo)) if sink and todo else None
    fresh = run_tasks([tasks[rel] for rel in todo], workers, advance)
    outcomes.update(zip(todo, fresh, strict=True))
    index.entries = dict(outcomes)
    return outcomes, len(todo)
