"""``/v1/admin``: backups of the whole index, taken while the service keeps answering searches.

The store is owned by this process (qdrant-edge allows one), so ``modalign backup`` asks the
service when it runs. The service pauses its writes (the job runner between batches, then the
store's writes) while the catalog and the store are copied; searches keep answering.

An API call that writes files must not choose where: a backup goes to
``<data>/backups/<name>`` only, ``name`` being one plain folder name (no separators, no leading
dot), never an existing one, and one backup runs at a time (409 otherwise). Like every write
endpoint it needs ``X-API-Key`` when the service has a key; set one whenever the service listens
beyond localhost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from modalign.backup.create import BackupReport
from modalign.backup.create import create_backup as backup_index
from modalign.service.deps import ApiKeyDep, StateDep
from modalign.service.problems import ProblemError, problem_responses
from modalign.service.state import ServiceState

router = APIRouter(prefix="/v1/admin", tags=["admin"])

BACKUP_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class BackupRequest(BaseModel):
    """A backup of the catalog, store and model files into ``<data>/backups/<name>``."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "nightly-2026-06-01"}]}
    )

    name: str = Field(pattern=BACKUP_NAME, description="A new folder name under <data>/backups/.")


BACKUP_EXAMPLE: Any = {
    "path": "/data/backups/nightly-2026-06-01", "files": 257,
    "bytes": 424143972, "seconds": 0.8, "paused_seconds": 0.4, "catalog": "sqlite",
    "store": "edge", "rows": {"assets": 20, "captions": 20, "model_versions": 1},
    "points": {"modalign_v1__images": 20, "modalign_v1__captions": 20}, "models": ["v1"],
    "missing_models": [], "left_out": ["cache/: tower feature caches and ONNX exports"],
}


class BackupView(BackupReport):
    """What the backup wrote (see :class:`modalign.backup.BackupReport`)."""

    model_config = ConfigDict(json_schema_extra={"examples": [BACKUP_EXAMPLE]})


@router.post(
    "/backups", response_model=BackupView, status_code=201, dependencies=[ApiKeyDep],
    responses=problem_responses(401, 409, 422, 503),
)
async def create_backup(body: BackupRequest, state: StateDep) -> BackupView:
    """Back up the catalog, the vector store and the model files into ``<data>/backups/<name>``;
    writes wait meanwhile, searches do not. Returns when the backup is complete."""
    return await run_in_threadpool(run_backup, state, body.name)


def run_backup(state: ServiceState, name: str) -> BackupView:
    """Take the backup ``name`` now, unless one is running or the name is taken (409)."""
    dest: Path = state.settings.paths.backups_dir / name
    if dest.exists():
        raise ProblemError(409, f"backup {name!r} exists; choose a new name")
    if not state.backing_up.acquire(blocking=False):
        raise ProblemError(409, "a backup is running; try again when it has finished")
    try:
        quiesce = state.jobs.pause if state.jobs is not None else None
        report = backup_index(state.settings, dest, store=state.store, quiesce=quiesce)
    finally:
        state.backing_up.release()
    return BackupView.model_validate(report.model_dump())
