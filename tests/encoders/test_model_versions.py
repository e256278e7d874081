"""Model versions in the catalog: a data directory moved or copied still loads its own models."""

from __future__ import annotations

import shutil
from pathlib import Path

from modalign.catalog import repo
from modalign.catalog.db import make_engine, make_session_factory, session_scope
from modalign.catalog.migrate import upgrade
from modalign.config import Settings
from modalign.encoders.checkpoint import ModelCard, load_checkpoint, save_checkpoint
from modalign.encoders.heads import AlignmentHeads, HeadSpec
from modalign.encoders.model_versions import checkpoint_dir, list_versions, register_checkpoint


def _settings(data_dir: Path) -> Settings:
    return Settings(paths={"data_dir": data_dir})


def _save(settings: Settings, name: str) -> tuple[Path, ModelCard]:
    spec = HeadSpec(embed_dim=8, hidden_dim=16, kind="linear")
    card = ModelCard(name=name, towers={}, heads=spec.to_dict(), temperature=0.05, data_hash="d")
    return save_checkpoint(settings.paths.models_dir / name, AlignmentHeads(spec), card), card


def test_a_moved_data_directory_loads_its_own_models(tmp_path: Path) -> None:
    first = _settings(tmp_path / "first")
    directory, card = _save(first, "v1")
    register_checkpoint(first, directory, card)
    assert [info.checkpoint_path for info in list_versions(first)] == ["models/v1"]
    shutil.copytree(first.paths.data_dir, tmp_path / "second")
    shutil.rmtree(first.paths.data_dir)
    second = _settings(tmp_path / "second")
    name, found = checkpoint_dir(second)
    assert (name, found) == ("v1", (tmp_path / "second/models/v1").resolve())
    assert load_checkpoint(found)[1] == card


def test_a_version_registered_by_absolute_path_falls_back_to_the_models_folder(
    tmp_path: Path,
) -> None:
    first = _settings(tmp_path / "first")
    directory, _ = _save(first, "v2")
    upgrade(first.database_url)
    engine = make_engine(first.database_url)
    with session_scope(make_session_factory(engine)) as session:
        repo.register_model_version(
            session=session, name="v2", dims=8, checkpoint_path=str(directory.resolve()),
            activate=True,
        )
    engine.dispose()
    shutil.move(first.paths.data_dir, tmp_path / "moved")
    moved = _settings(tmp_path / "moved")
    assert checkpoint_dir(moved, "v2")[1] == moved.paths.models_dir / "v2"
