"""Settings: defaults are the embedded mode; the environment overrides nested fields."""

from __future__ import annotations

from pathlib import Path

import pytest

from modalign.config import Settings, load_settings
from modalign.errors import ConfigError


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


@pytest.mark.parametrize(
    ("name", "closest"),
    [
        ("MODALIGN_STORE__BAKEND", "MODALIGN_STORE__BACKEND"),
        ("MODALIGN_SEDE", "MODALIGN_SEED"),
        ("MODALIGN_INGEST__BATCHSIZE", "MODALIGN_INGEST__BATCH_SIZE"),
    ],
)
def test_a_misspelt_variable_fails_naming_the_closest_setting(name: str, closest: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown setting {name}; did you mean {closest}"):
        load_settings({name: "client"})


def test_nothing_close_points_at_the_configuration_table() -> None:
    with pytest.raises(ConfigError, match="configuration table"):
        load_settings({"MODALIGN_ZZZZZZZZ": "1"})


def test_a_bad_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODALIGN_STORE__HNSW_M", "many")
    with pytest.raises(ConfigError, match="MODALIGN_STORE__HNSW_M: Input should be a valid int"):
        load_settings()


def test_sections_refuse_unknown_fields() -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        Settings(store={"bakend": "client"})


def test_the_cli_stops_at_start_up_on_a_misspelt_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from typer.testing import CliRunner

    from modalign.cli import app

    monkeypatch.setenv("MODALIGN_STORE__BAKEND", "client")
    result = CliRunner().invoke(app, ["models", "list"])
    assert result.exit_code == 2
    assert "did you mean MODALIGN_STORE__BACKEND" in result.output
