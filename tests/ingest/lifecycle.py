"""Builders shared by the delete, check, edit and sync tests: folders, ingestion, store reads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw
from sqlalchemy import func, select

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset, AssetMember, Caption
from modalign.ingest.dispatch import InProcessDispatcher
from modalign.ingest.jobs import resume, submit
from modalign.ingest.progress import JobProgress, job_progress
from modalign.ingest.resources import IngestResources
from modalign.ingest.sources import SourceSpec
from modalign.search.filters import Filter, Match
from modalign.search.naming import Kind

from .helpers import TINY_MODEL


def picture(path: Path, seed: int) -> Path:
    """A small drawing that differs with ``seed`` (so its content hash does)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", (32, 32), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rectangle((seed % 7, seed % 5, 20 + seed % 11, 24), fill=(seed * 37 % 256, 90, 160))
    image.save(path)
    return path


def folder_of(root: Path, names: dict[str, int], captions: dict[str, str] | None = None) -> Path:
    """A folder of pictures named ``names`` (name -> seed), each with a caption sidecar."""
    for name, seed in names.items():
        picture(root / f"{name}.png", seed)
        text = (captions or {}).get(name, f"the picture {name}")
        (root / f"{name}.txt").write_text(text + "\n")
    return root


def ingest(
    res: IngestResources, folder: Path, dataset: str, tags: Sequence[str] = ()
) -> JobProgress:
    spec = SourceSpec(folder, "folder")
    job_id = submit(
        res.settings, res.sessions, InProcessDispatcher(res), spec, dataset=dataset, tags=tags
    )
    return job_progress(res.sessions, job_id)


def run_job(res: IngestResources, job_id: int) -> JobProgress:
    resume(res.settings, res.sessions, InProcessDispatcher(res), job_id)
    return job_progress(res.sessions, job_id)


def asset_ids(res: IngestResources) -> dict[str, int]:
    """Asset id by the file name of its first uri."""
    with session_scope(res.sessions) as session:
        return {Path(uri).stem: asset_id for asset_id, uri in session.execute(
            select(Asset.id, Asset.uri)
        )}


def hash_of(res: IngestResources, asset_id: int) -> str:
    with session_scope(res.sessions) as session:
        return repo.get_asset(session=session, asset_id=asset_id).content_hash


def points_of(res: IngestResources, content_hash: str) -> tuple[int, int]:
    """(image points, caption points) of one image in the tiny model's version."""
    flt = Filter(must=[Match(field="content_hash", value=content_hash)])
    with res.store.use() as store:
        return tuple(  # type: ignore[return-value]
            store.count(kind, filter=flt, version=TINY_MODEL) for kind in Kind
        )


def rows(res: IngestResources) -> tuple[int, int, int]:
    """(assets, captions, memberships) in the catalog."""
    with session_scope(res.sessions) as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Asset, Caption, AssetMember)
        )
