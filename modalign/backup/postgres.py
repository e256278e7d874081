"""A PostgreSQL catalog in and out with the native tools, ``pg_dump`` and ``pg_restore``.

``modalign backup`` runs ``pg_dump`` itself (when it is on PATH) inside the write pause, on the
snapshot of the transaction that counted the rows, so the dump, the counts in the manifest and
the store copy describe one moment; a dump taken by hand before or after would not match the
store. The dump is in custom format (compressed, restorable table by table). The password never
goes on a command line (other users can read those): it is passed in ``PGPASSWORD``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url

from modalign.errors import CatalogError, ConfigError

log = logging.getLogger(__name__)

TOOL_TIMEOUT_S = 6 * 3600.0


def dump(url: str, dest: Path, *, snapshot: str | None = None) -> None:
    """``pg_dump`` the database of ``url`` into ``dest`` (custom format), at ``snapshot`` if given
    (an exported snapshot of an open transaction)."""
    args = [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
            f"--file={dest}"]
    if snapshot:
        args.append(f"--snapshot={snapshot}")
    _run(args, url)


def restore(url: str, src: Path) -> None:
    """``pg_restore`` the dump ``src`` into the (empty) database of ``url``, all or nothing."""
    args = [_tool("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction",
            "--exit-on-error", str(src)]
    _run(args, url)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(
            f"{name} is not on PATH: the catalog is in PostgreSQL, which modalign backs up and "
            f"restores with {name} (install the PostgreSQL client tools of the server's major "
            "version or newer, e.g. Debian's postgresql-client); see docs/operations.md, Backups"
        )
    return path


def _run(args: list[str], url: str) -> None:
    dsn, password = _libpq(url)
    env = dict(os.environ, PGPASSWORD=password) if password else None
    log.info("catalog: running %s", os.path.basename(args[0]))
    try:
        done = subprocess.run(
            [*args, f"--dbname={dsn}"], env=env, capture_output=True, text=True,
            timeout=TOOL_TIMEOUT_S, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CatalogError(f"{os.path.basename(args[0])} could not run: {exc}") from exc
    if done.returncode != 0:
        detail = " ".join(done.stderr.strip().splitlines()[-3:])
        raise CatalogError(f"{os.path.basename(args[0])} failed ({done.returncode}): {detail}")


def _libpq(url: str) -> tuple[str, str | None]:
    """The libpq URI of a SQLAlchemy URL (driver and password left out), and the password."""
    parsed = make_url(url)
    plain = parsed.set(drivername="postgresql", password=None)
    password = parsed.password
    return plain.render_as_string(hide_password=False), None if password is None else str(password)
