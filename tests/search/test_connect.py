"""`open_search_client`: one call opens the store and the catalog and closes them again."""

from __future__ import annotations

from pathlib import Path

from modalign.config import PathsSettings, Settings
from modalign.search import open_search_client

from .test_client import populate_data_dir


def test_similar_images_through_an_opened_client(tmp_path: Path) -> None:
    settings = Settings(paths=PathsSettings(data_dir=tmp_path))
    ids = populate_data_dir(settings)
    with open_search_client(settings, encoder=False) as client:
        hits = client.similar_images(ids[0], limit=3)
    assert len(hits) == 3 and all(hit.asset is not None for hit in hits)
    assert ids[0] not in [hit.asset_id for hit in hits]
    with open_search_client(settings, encoder=False) as client:  # the store was released
        assert client.similar_images(ids[1], limit=1)
