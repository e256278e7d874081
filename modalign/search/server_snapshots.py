"""A Qdrant server's collections in and out through its snapshot API.

Out: ``create_snapshot`` writes ``<collection>-<id>.snapshot`` on the server (under its
``snapshots_path``); it is downloaded over REST (``GET /collections/{name}/snapshots/{snapshot}``,
the ``api-key`` header when one is set) into ``<collection>.snapshot`` and deleted on the server,
so backups do not fill the server's disk. In: the file is uploaded
(``POST /collections/{name}/snapshots/upload?priority=snapshot``), which creates the collection.
A snapshot is consistent per collection; the images and captions collections agree when nothing
writes meanwhile (the caller pauses this process's writes; Celery workers are not paused).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import httpx
from qdrant_client import QdrantClient

from modalign.config import StoreSettings
from modalign.errors import ModalignError, StoreError, TransientError

log = logging.getLogger(__name__)

SNAPSHOT_SUFFIX = ".snapshot"
TRANSFER_TIMEOUT_S = 3600.0
CHUNK_BYTES = 1 << 20


def download_snapshots(
    client: QdrantClient, settings: StoreSettings, collections: Sequence[str], dest: Path
) -> None:
    """Snapshot each collection on the server and download it into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in collections:
        description = client.create_snapshot(name, wait=True)
        if description is None:
            raise StoreError(f"qdrant did not describe the snapshot of {name}")
        try:
            size = _download(settings, name, description.name, dest)
        finally:
            client.delete_snapshot(name, description.name, wait=True)
        log.info("snapshot of %s: %d bytes", name, size)


def upload_snapshot(settings: StoreSettings, collection: str, path: Path) -> None:
    """Create ``collection`` on the server from the snapshot file ``path``."""
    url = f"{_base(settings)}/collections/{collection}/snapshots/upload"
    with path.open("rb") as handle, _http(settings) as http:
        try:
            response = http.post(
                url, params={"priority": "snapshot", "wait": "true"},
                files={"snapshot": (path.name, handle, "application/octet-stream")},
            )
        except httpx.HTTPError as exc:
            raise TransientError(f"qdrant server unreachable: {exc}") from exc
    if response.status_code >= 400:
        raise _error(response.status_code, f"upload of {path.name}: {response.text[:300]}")
    log.info("restored %s from %s", collection, path.name)


def _download(settings: StoreSettings, collection: str, snapshot: str, dest: Path) -> int:
    """Stream the server's snapshot file into ``dest``; returns its size."""
    url = f"{_base(settings)}/collections/{collection}/snapshots/{snapshot}"
    size = 0
    with _http(settings) as http, (dest / f"{collection}{SNAPSHOT_SUFFIX}").open("xb") as out:
        try:
            with http.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise _error(response.status_code, f"download of snapshot {snapshot}")
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    size += out.write(chunk)
        except httpx.HTTPError as exc:
            raise TransientError(f"qdrant server unreachable: {exc}") from exc
    return size


def _base(settings: StoreSettings) -> str:
    if not settings.url:
        raise StoreError("server snapshots need store.url (a Qdrant server)")
    return settings.url.rstrip("/")


def _http(settings: StoreSettings) -> httpx.Client:
    headers = {"api-key": settings.api_key} if settings.api_key else {}
    return httpx.Client(headers=headers, timeout=TRANSFER_TIMEOUT_S)


def _error(status: int, what: str) -> ModalignError:
    if status in (429, 502, 503, 504):
        return TransientError(f"qdrant is busy ({status}): {what}")
    return StoreError(f"qdrant answered {status}: {what}")
