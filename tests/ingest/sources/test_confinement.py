"""Nothing outside a source root is stored: every source kind, through a whole in-process job.

Each source plants symlinks, ``..`` and absolute paths to secrets beside its root (a text, a JSON
sidecar, the process environment, an image, a folder of images); the job must ingest the one good
entry, fail every planted one with its reason, and nothing of a secret may reach the catalog or
either collection of the store.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset, Caption, JobItem
from modalign.ingest.dispatch import InProcessDispatcher
from modalign.ingest.jobs import submit
from modalign.ingest.resources import IngestResources
from modalign.ingest.sources import SourceSpec, detect_source
from modalign.search.naming import Kind

from ..helpers import TINY_MODEL
from .conftest import SECRET

GOOD_CAPTION = "a fine red square"
# entry -> the reason it must fail with (manifest-like sources name them explicitly)
PLANTED = {
    "../outside/secret.png": "leaves the source root",
    "out.png": "outside the source root",
    "sub/secret.png": "outside the source root",
}


def _png(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 24), colour).save(path)


def _plant(root: Path, outside: Path) -> None:
    """The good image and the symlinks every kind shares."""
    _png(root / "ok.png", (200, 0, 0))
    _png(outside / "secret.png", (0, 0, 200))
    (root / "out.png").symlink_to(outside / "secret.png")
    (root / "sub").symlink_to(outside, target_is_directory=True)


def _folder(root: Path, outside: Path) -> tuple[Path, dict[str, str | None]]:
    _plant(root, outside)
    (root / "ok.txt").write_text(GOOD_CAPTION)
    for name, target in (
        ("leak_txt", outside / "secret.txt"),
        ("leak_json", outside / "secret.json"),
        ("leak_env", Path("/proc/self/environ")),
    ):
        _png(root / f"{name}.png", (0, 200, 0))
        (root / f"{name}{'.json' if 'json' in name else '.txt'}").symlink_to(target)
    expected: dict[str, str | None] = {"ok.png": None, "out.png": PLANTED["out.png"]}
    expected |= dict.fromkeys(("leak_txt.png", "leak_json.png", "leak_env.png"), "sidecar")
    return root, expected


def _entries(root: Path, outside: Path) -> list[str]:
    _plant(root, outside)
    return ["ok.png", *PLANTED, str(outside / "secret.png")]


def _expected_entries(outside: Path) -> dict[str, str | None]:
    return {"ok.png": None, **PLANTED, str(outside / "secret.png"): "absolute path"}


def _manifest(root: Path, outside: Path) -> tuple[Path, dict[str, str | None]]:
    lines = [
        {"path": name, "captions": [GOOD_CAPTION if name == "ok.png" else "planted"]}
        for name in _entries(root, outside)
    ]
    (root / "m.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return root / "m.jsonl", _expected_entries(outside)


def _coco(root: Path, outside: Path) -> tuple[Path, dict[str, str | None]]:
    names = _entries(root, outside)
    doc = {
        "images": [{"id": i, "file_name": name} for i, name in enumerate(names)],
        "annotations": [{"image_id": 0, "caption": GOOD_CAPTION}],
    }
    (root / "captions.json").write_text(json.dumps(doc))
    return root / "captions.json", _expected_entries(outside)


def _flickr(root: Path, outside: Path) -> tuple[Path, dict[str, str | None]]:
    names = _entries(root, outside)
    lines = [f"{name}#0\t{GOOD_CAPTION if name == 'ok.png' else 'planted'}" for name in names]
    (root / "results.token").write_text("\n".join(lines) + "\n")
    return root / "results.token", _expected_entries(outside)


BUILDERS: dict[str, Callable[[Path, Path], tuple[Path, dict[str, str | None]]]] = {
    "folder": _folder, "manifest": _manifest, "coco": _coco, "flickr": _flickr,
}


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_nothing_outside_the_root_is_stored(
    kind: str, resources: IngestResources, tmp_path: Path, secret_dir: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    source, expected = BUILDERS[kind](root, secret_dir)
    spec = SourceSpec(source, detect_source(source))
    assert spec.kind == kind
    job_id = submit(resources.settings, resources.sessions, InProcessDispatcher(resources), spec)
    items = _items(resources, job_id)
    assert set(items) == set(expected)
    for key, reason in expected.items():
        status, error = items[key]
        if reason is None:
            assert status == "done", (key, error)
        else:
            assert status == "failed" and reason in (error or ""), (key, error)
    texts = _catalog_texts(resources)
    assert texts and not any(SECRET in text for text in texts)
    assert GOOD_CAPTION in texts
    payloads = _store_payload_texts(resources)
    assert payloads and not any(SECRET in text or "secret.png" in text for text in payloads)
    assert not any("secret.png" in text for text in texts)


def _items(res: IngestResources, job_id: int) -> dict[str, tuple[str, str | None]]:
    with session_scope(res.sessions) as session:
        rows = session.scalars(select(JobItem).where(JobItem.job_id == job_id)).all()
        return {row.uri: (row.status, row.error) for row in rows}


def _catalog_texts(res: IngestResources) -> list[str]:
    """Every caption, tag and uri the catalog holds."""
    with session_scope(res.sessions) as session:
        captions = list(session.scalars(select(Caption.text)))
        assets = session.scalars(select(Asset)).all()
        return captions + [a.uri for a in assets] + [t for a in assets for t in a.tags]


def _store_payload_texts(res: IngestResources) -> list[str]:
    with res.store.use() as store:
        found = [
            json.dumps(dict(record.payload))
            for kind in Kind
            for record in store.scroll(kind, limit=1000, version=TINY_MODEL)
        ]
    return found


def test_a_file_swapped_for_a_symlink_after_planning_is_not_read(
    resources: IngestResources, tmp_path: Path, secret_dir: Path
) -> None:
    from modalign.ingest.jobs import resume
    from modalign.ingest.plan import create_ingest_job, plan_job

    root = tmp_path / "root"
    _png(root / "a.png", (10, 10, 10))
    _png(secret_dir / "secret.png", (0, 0, 200))
    job_id = create_ingest_job(resources.sessions, SourceSpec(root, "folder"))
    plan_job(resources.settings, resources.sessions, job_id)
    (root / "a.png").unlink()
    (root / "a.png").symlink_to(secret_dir / "secret.png")
    resume(resources.settings, resources.sessions, InProcessDispatcher(resources), job_id)
    status, error = _items(resources, job_id)["a.png"]
    assert status == "failed" and "outside the source root" in (error or "")
    with session_scope(resources.sessions) as session:
        assert session.scalars(select(Asset)).all() == []
