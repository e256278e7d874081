"""Settings: defaults are the embedded mode; the environment overrides nested fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from modalign.config import Settings


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODALIGN_DATABASE__URL", "MODALIGN_STORE__BACKEND", "MODALIGN_BROKER__MODE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.store.backend == "edge"
    assert settings.broker.mode == "inprocess"
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("/catalog.db")


def test_environment_overrides_nested_sections(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MODALIGN_PATHS__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MODALIGN_DATABASE__URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("MODALIGN_STORE__HNSW_M", "32")
    settings = Settings()
    assert settings.paths.models_dir == tmp_path / "models"
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.store.hnsw_m == 32


def test_bad_value_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODALIGN_STORE__BACKEND", "faiss")
    with pytest.raises(ValueError, match="backend"):
        Settings()


def test_a_heartbeat_not_shorter_than_the_lease_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODALIGN_INGEST__LEASE_SECONDS", "5")
    monkeypatch.setenv("MODALIGN_INGEST__HEARTBEAT_SECONDS", "5")
    with pytest.raises(ValueError, match=r"heartbeat_seconds .* must be shorter"):
        Settings()
    monkeypatch.setenv("MODALIGN_INGEST__HEARTBEAT_SECONDS", "1.5")
    assert Settings().ingest.heartbeat_seconds == 1.5
