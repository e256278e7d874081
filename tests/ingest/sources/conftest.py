"""Fixtures of the source tests: a planted secret outside every root, a less privileged user."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SECRET = "TOP-SECRET-7f3a9c"
NOBODY = 65534


@pytest.fixture
def secret_dir(tmp_path: Path) -> Path:
    """``outside/`` beside the roots: a text, a JSON sidecar and an image's worth of secrets."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{SECRET}\n")
    (outside / "secret.json").write_text(f'{{"captions": ["{SECRET}"], "tags": ["{SECRET}"]}}')
    return outside


@pytest.fixture
def open_tree() -> Iterator[Path]:
    """A folder every user may enter (pytest's tmp dirs are private to root), removed after."""
    base = Path(tempfile.mkdtemp(prefix="modalign-perm-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def as_nobody() -> Iterator[None]:
    """Run the block with the effective uid of ``nobody``, so permission bits apply (root
    ignores them); the real uid stays root and takes the effective one back afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch the effective user")
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
