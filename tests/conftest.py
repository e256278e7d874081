"""Database fixtures shared by every test package, and small disks that can be filled.

- ``sqlite_url``: a SQLite file in the test's tmp dir, at head (copied from one migrated template).
- ``postgres_url``: one fresh PostgreSQL database per test session on 127.0.0.1:5432, built by the
  migrations and dropped at the end; it is shared, so use ``catalog_url`` to get it emptied first.
- ``catalog_url``: parametrized over ("sqlite", "postgres"), an empty catalog at head.
- ``catalog_engine`` / ``session_factory``: built from ``catalog_url``; use ``db.session_scope``.
- ``empty_postgres_url``: a PostgreSQL database of the test's own, empty (no migrations run).
- ``redis_server`` / ``postgres_server``: a private redis-server / PostgreSQL cluster of the
  test's own on a free port, which the test may stop, start and restart.
- ``small_disk``: a factory of small file systems of a given size (:class:`SmallDisk`: fill,
  free), unmounted afterwards; the test is skipped where mounting is not permitted. They are
  ext4 on a loop device: on tmpfs, qdrant-edge's sparse memory maps take pages even when only
  read, so opening a store there needs room a real disk would not.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import redis
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import db, migrate
from modalign.catalog.models import Base

PG_SERVER = "postgres@127.0.0.1:5432"
PG_ADMIN_DSN = f"postgresql://{PG_SERVER}/postgres"


def postgres_url_for(name: str) -> str:
    return f"postgresql+psycopg://{PG_SERVER}/{name}"


def _admin(sql: str) -> None:
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is needed on {PG_SERVER} (run .ci/run to start it): {error}")


@contextmanager
def fresh_postgres_database(prefix: str = "modalign_test") -> Iterator[str]:
    """Create an empty database with a unique name; drop it (forcibly) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url_for(name)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_postgres_url() -> Iterator[str]:
    with fresh_postgres_database("modalign_empty") as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("catalog-template") / "catalog.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, _sqlite_template: Path) -> str:
    path = tmp_path / "catalog.db"
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


def empty_catalog(url: str) -> None:
    """Delete every row (keeping the schema and alembic_version); restart the id sequences."""
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    engine = db.make_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def catalog_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    url = str(request.getfixturevalue("postgres_url"))
    empty_catalog(url)
    return url


@pytest.fixture
def catalog_engine(catalog_url: str) -> Iterator[Engine]:
    engine = db.make_engine(catalog_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session_factory(catalog_engine: Engine) -> sessionmaker[Session]:
    return db.make_session_factory(catalog_engine)


class SmallDisk:
    """A file system mounted at ``path``: fill it to the last byte, free it again."""

    FILLER = "filler.bin"

    def __init__(self, path: Path) -> None:
        self.path = path

    def fill(self) -> None:
        """Write a filler file until not one more byte fits."""
        fd = os.open(self.path / self.FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            chunk = 1 << 20
            while chunk:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    chunk //= 2
        finally:
            os.close(fd)

    def free(self) -> None:
        (self.path / self.FILLER).unlink(missing_ok=True)

    def free_bytes(self) -> int:
        stats = os.statvfs(self.path)
        return stats.f_bavail * stats.f_frsize


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[int], SmallDisk]]:
    mounted: list[Path] = []

    def mount(megabytes: int) -> SmallDisk:
        image, path = tmp_path / f"disk{len(mounted)}.img", tmp_path / f"disk{len(mounted)}"
        path.mkdir()
        with image.open("wb") as handle:
            handle.truncate(megabytes << 20)
        for command in (["mkfs.ext4", "-q", "-F", "-m", "0", str(image)],
                        ["mount", "-o", "loop", str(image), str(path)]):
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                pytest.skip(f"cannot make a small disk ({command[0]}): {done.stderr.strip()}")
        mounted.append(path)
        return SmallDisk(path)

    yield mount
    for path in mounted:
        if subprocess.run(["umount", str(path)], check=False).returncode != 0:
            subprocess.run(["umount", "--lazy", str(path)], check=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A private redis-server, started like .ci/run's (no persistence), restartable."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.workdir / "redis.log"),
        ]
        self.process = subprocess.Popen(command)
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


class PostgresServer:
    """A private PostgreSQL cluster (initdb into a temporary folder, run as the postgres user,
    which PostgreSQL requires), on a free port of 127.0.0.1, trust auth; restartable."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="modalign-pg-"))
        shutil.chown(self.root, "postgres")
        self.data = self.root / "data"
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
        if not binaries:
            pytest.skip("PostgreSQL server binaries are not installed")
        self.bin = binaries[-1]
        self._as_postgres("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                          "--no-sync", "-E", "UTF8")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres("pg_ctl", "-D", str(self.data), "-o", options,
                          "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self._as_postgres("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop (immediately, like a crash), stay down a while, start again."""
        self.stop("immediate")
        time.sleep(down_seconds)
        self.start()

    def create_database(self, name: str) -> str:
        dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
        return self.url(name)

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def _as_postgres(self, program: str, *args: str) -> None:
        command = ["runuser", "-u", "postgres", "--", str(self.bin / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stdout}{done.stderr}")


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()
