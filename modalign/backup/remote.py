"""``modalign backup`` through a running service: it owns the store, so it takes the backup.

The service writes into ``<data>/backups/<name>`` (``name``: the destination's folder name; see
:mod:`modalign.service.routers.admin` for why it picks no other place); the backup is then moved
to the destination the user gave, when that is elsewhere on this machine.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path
from typing import Any

import httpx

from modalign.backup.create import BackupReport
from modalign.backup.staging import check_empty_target, staged_folder
from modalign.config import Settings
from modalign.errors import InvalidInputError, ModalignError, TransientError
from modalign.filecopy import copy_tree

BACKUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
BACKUP_TIMEOUT_S = 6 * 3600.0
_LOCAL_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1"}


def service_url(settings: Settings) -> str:
    """The URL of the service the settings describe (a wildcard bind address as loopback)."""
    host = _LOCAL_HOSTS.get(settings.service.host, settings.service.host)
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.service.port}"


def backup_through_service(settings: Settings, dest: Path, url: str) -> BackupReport:
    """Ask the service at ``url`` for a backup, then move it to ``dest`` (a new or empty folder)."""
    check_empty_target(dest, "backup destination")
    if not BACKUP_NAME.match(dest.name):
        raise InvalidInputError(
            f"the service names its backups after the destination's folder: {dest.name!r} must "
            "be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    report = BackupReport.model_validate(_post(settings, url, dest.name))
    if report.path.resolve() != dest.resolve() and report.path.exists():
        move_folder(report.path, dest)
        return report.model_copy(update={"path": dest})
    return report


def _post(settings: Settings, url: str, name: str) -> dict[str, Any]:
    key = settings.service.api_key
    headers = {"X-API-Key": key} if key else {}
    try:
        response = httpx.post(f"{url.rstrip('/')}/v1/admin/backups", json={"name": name},
                              headers=headers, timeout=BACKUP_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise TransientError(
            f"the store is owned by another process and no modalign service answered at {url}"
            f" ({exc}); stop that process, or give --server URL"
        ) from exc
    if response.status_code != 201:
        raise ModalignError(f"the service refused the backup ({response.status_code}): "
                            f"{_detail(response)}")
    data = response.json()
    assert isinstance(data, dict)
    return data


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail") or response.reason_phrase)
    except ValueError:
        return response.text[:300] or response.reason_phrase


def move_folder(src: Path, dest: Path) -> None:
    """Move the folder ``src`` to ``dest`` (missing or empty): a rename, or a copy that keeps
    holes and then removes ``src`` when ``dest`` is on another file system."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(src, dest)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    with staged_folder(dest, "backup destination") as work:
        copy_tree(src, work)
    shutil.rmtree(src)
