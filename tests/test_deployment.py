"""The docker-compose deployment: services, healthchecks and settings that modalign understands.

No Docker engine runs on these machines; `docker compose config` is checked when the client and
its compose plugin are present, and the file's structure is checked everywhere.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from modalign.config import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_services_are_the_designed_ones(compose: dict[str, Any]) -> None:
    expected = {"qdrant", "redis", "postgres", "migrate", "api", "worker"}
    assert set(compose["services"]) == expected


def test_long_running_services_have_healthchecks(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name != "migrate":
            assert "healthcheck" in service, name


def test_api_and_worker_share_one_image(compose: dict[str, Any]) -> None:
    services = compose["services"]
    images = {services[name]["image"] for name in ("migrate", "api", "worker")}
    assert images == {"modalign:latest"}


def test_environment_is_valid_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    environment = compose["services"]["api"]["environment"]
    for key, value in environment.items():
        assert key.startswith("MODALIGN_")
        monkeypatch.setenv(key, str(value).replace("${WORKER_TORCH_THREADS:-1}", "1"))
    monkeypatch.setenv("MODALIGN_SERVICE__API_KEY", "secret")
    settings = Settings()
    assert settings.store.backend == "client"
    assert settings.broker.mode == "celery"
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.service.source_roots == [Path("/sources")]


def _compose_command() -> list[str] | None:
    """`docker compose` (the plugin) when present, else Debian's `docker-compose`."""
    if shutil.which("docker") is not None:
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose") is not None:
        return ["docker-compose"]
    return None


@pytest.mark.skipif(_compose_command() is None, reason="no docker compose client installed")
def test_docker_compose_config_accepts_the_file() -> None:
    command = _compose_command()
    assert command is not None
    result = subprocess.run(
        [*command, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
