"""The manifest: written and read back, and each way a damaged one or its backup is refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from modalign.backup.manifest import (
    FORMAT,
    MANIFEST_FILE,
    CatalogPart,
    FileEntry,
    Manifest,
    StorePart,
    hash_tree,
    read_manifest,
    verify_files,
    write_manifest,
)
from modalign.errors import InvalidInputError


def _backup(folder: Path) -> Manifest:
    """A folder with a few files and their manifest."""
    (folder / "models" / "v1").mkdir(parents=True)
    (folder / "models" / "v1" / "card.json").write_text('{"name": "v1"}')
    (folder / "catalog.db").write_bytes(b"sqlite" * 100)
    (folder / "qdrant").mkdir()
    (folder / "qdrant" / "state.json").write_text("{}")
    manifest = Manifest(
        format=FORMAT, modalign_version="0", created_at=datetime.now(UTC),
        catalog=CatalogPart(dialect="sqlite", file="catalog.db", revision="r1", rows={"a": 1}),
        store=StorePart(backend="edge", mode="edge", collection_prefix="modalign",
                        versions=["v1"], active="v1", points={"modalign_v1__images": 3}),
        models=[], left_out=[], files=hash_tree(folder),
    )
    write_manifest(folder, manifest)
    return manifest


def test_a_manifest_reads_back_and_its_files_verify(tmp_path: Path) -> None:
    manifest = _backup(tmp_path)
    assert [e.path for e in manifest.files] == [
        "catalog.db", "models/v1/card.json", "qdrant/state.json"]
    assert read_manifest(tmp_path) == manifest
    verify_files(tmp_path, manifest)


def test_a_changed_file_is_named_with_both_checksums(tmp_path: Path) -> None:
    manifest = _backup(tmp_path)
    (tmp_path / "models" / "v1" / "card.json").write_text('{"name": "v2"}')
    with pytest.raises(InvalidInputError, match=r"models/v1/card\.json has SHA-256 [0-9a-f]{64}, "
                                                r"the manifest says [0-9a-f]{64}"):
        verify_files(tmp_path, manifest)


def test_missing_and_truncated_files_are_named(tmp_path: Path) -> None:
    manifest = _backup(tmp_path)
    (tmp_path / "qdrant" / "state.json").unlink()
    (tmp_path / "catalog.db").write_bytes(b"sqlite")
    with pytest.raises(InvalidInputError) as raised:
        verify_files(tmp_path, manifest)
    assert "catalog.db has 6 bytes, the manifest says 600" in str(raised.value)
    assert "qdrant/state.json is missing" in str(raised.value)


def test_a_truncated_manifest_is_refused(tmp_path: Path) -> None:
    _backup(tmp_path)
    path = tmp_path / MANIFEST_FILE
    path.write_text(path.read_text()[:200])
    with pytest.raises(InvalidInputError, match="not readable JSON"):
        read_manifest(tmp_path)


def test_a_folder_without_manifest_is_not_a_backup(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not a modalign backup"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("change, message", [
    ({"format": 99}, "format 99"),
    ({"store": None}, "store"),
    ({"files": [{"path": "../../etc/passwd", "size": 1, "sha256": "0" * 64}]}, "files.0.path"),
    ({"files": [{"path": "/etc/passwd", "size": 1, "sha256": "0" * 64}]}, "files.0.path"),
    ({"files": [{"path": "cache/x", "size": 1, "sha256": "0" * 64}]}, "files.0.path"),
    ({"files": [{"path": "catalog.db", "size": 1, "sha256": "xyz"}]}, "files.0.sha256"),
])
def test_a_damaged_manifest_is_refused(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    _backup(tmp_path)
    path = tmp_path / MANIFEST_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), **change}))
    with pytest.raises(InvalidInputError, match=message):
        read_manifest(tmp_path)


def test_entries_only_name_paths_inside_a_backup() -> None:
    FileEntry(path="qdrant/collections/c/wal/open-1", size=0, sha256="0" * 64)
    for bad in ("qdrant/../x", "qdrant//x", "./catalog.db", "models\\v1", ""):
        with pytest.raises(ValueError):
            FileEntry(path=bad, size=0, sha256="0" * 64)
