"""Fixtures of the ingest tests: the bad-file corpus, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from .corpus import build_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str | None]]:
    """(corpus root, manifest key -> expected reason or None)."""
    base = tmp_path_factory.mktemp("corpus")
    expected = build_corpus(base)
    return base / "root", expected
