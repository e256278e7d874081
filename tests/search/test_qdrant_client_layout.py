"""Cluster layout (shards, replicas, write consistency) of the client backend's collections."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from qdrant_client import QdrantClient

from modalign.config import Settings, StoreSettings
from modalign.search import Kind
from modalign.search.qdrant_client_store import ClientStore, cluster_layout


def test_unset_layout_leaves_the_server_defaults() -> None:
    assert cluster_layout(StoreSettings()) == {}


def test_layout_carries_only_the_fields_set() -> None:
    settings = StoreSettings(shard_number=6, replication_factor=2)
    assert cluster_layout(settings) == {"shard_number": 6, "replication_factor": 2}


def test_layout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODALIGN_STORE__SHARD_NUMBER", "4")
    monkeypatch.setenv("MODALIGN_STORE__WRITE_CONSISTENCY_FACTOR", "2")
    layout = cluster_layout(Settings().store)
    assert layout == {"shard_number": 4, "write_consistency_factor": 2}


def test_a_zero_shard_count_is_refused() -> None:
    with pytest.raises(ValidationError):
        StoreSettings(shard_number=0)


def test_local_mode_accepts_a_cluster_layout() -> None:
    settings = StoreSettings(shard_number=3, replication_factor=2, write_consistency_factor=2)
    store = ClientStore(QdrantClient(location=":memory:"), settings, local=True)
    store.create_version("v1", image_dim=8, caption_dim=8)
    assert store.count(Kind.IMAGES, version="v1") == 0
