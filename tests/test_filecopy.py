"""Sparse-aware copies and hashes (modalign.filecopy) on real files with holes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from modalign.filecopy import copy_file, copy_tree, hash_file, make_durable, tree_files

MB = 1 << 20


def _sparse(path: Path, size: int, chunks: dict[int, bytes]) -> bytes:
    """A file of ``size`` bytes, holes but for ``chunks`` (offset -> bytes); its content."""
    with path.open("wb") as handle:
        handle.truncate(size)
        for offset, data in chunks.items():
            handle.seek(offset)
            handle.write(data)
    return path.read_bytes()


def test_a_copy_keeps_content_and_holes(tmp_path: Path) -> None:
    src = tmp_path / "wal"
    content = _sparse(src, 16 * MB, {MB: b"head" * 1000, 9 * MB: os.urandom(70_000)})
    copy_file(src, tmp_path / "copy")
    copy = tmp_path / "copy"
    assert copy.read_bytes() == content
    assert copy.stat().st_blocks * 512 < 2 * MB  # 16 MB long, only the written extents on disk


def test_a_hash_is_the_sha256_of_the_content_holes_included(tmp_path: Path) -> None:
    src = tmp_path / "pages"
    content = _sparse(src, 5 * MB + 123, {3 * MB + 7: b"x" * 5000, 5 * MB: b"tail"})
    hashed = hash_file(src, "collections/pages")
    assert hashed.path == "collections/pages" and hashed.size == len(content)
    assert hashed.sha256 == hashlib.sha256(content).hexdigest()


def test_an_all_hole_and_an_empty_file_hash_like_their_zeros(tmp_path: Path) -> None:
    _sparse(tmp_path / "holes", 3 * MB, {})
    (tmp_path / "empty").touch()
    assert hash_file(tmp_path / "holes").sha256 == hashlib.sha256(bytes(3 * MB)).hexdigest()
    assert hash_file(tmp_path / "empty").sha256 == hashlib.sha256(b"").hexdigest()


def test_a_copy_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"new")
    (tmp_path / "b").write_bytes(b"old")
    with pytest.raises(FileExistsError):
        copy_file(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"old"


def test_a_tree_copy_takes_the_entries_asked_for(tmp_path: Path) -> None:
    src = tmp_path / "store"
    (src / "collections" / "c1" / "wal").mkdir(parents=True)
    (src / "collections" / "c1" / "wal" / "open-1").write_bytes(b"w")
    (src / "collections" / "c1" / "config.json").write_text("{}")
    (src / "state.json").write_text("{}")
    (src / ".lock").write_text("")
    names = copy_tree(src, tmp_path / "copy", ["state.json", "collections", "missing"])
    assert names == ["collections/c1/config.json", "collections/c1/wal/open-1", "state.json"]
    assert tree_files(tmp_path / "copy") == names
    make_durable(tmp_path / "copy")
    assert (tmp_path / "copy" / "collections" / "c1" / "wal" / "open-1").read_bytes() == b"w"
