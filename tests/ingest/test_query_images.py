"""A query image is prepared exactly as ingestion prepares the same file: it finds itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modalign.ingest.resources import IngestResources
from modalign.search.client import SearchClient

from .helpers import TINY_MODEL
from .lifecycle import ingest


def _deep(path: Path) -> Path:
    """A 16-bit greyscale PNG (values up to 40,000: 8-bit conversion would clip them)."""
    ramp = np.linspace(2_000, 40_000, 48 * 48).reshape(48, 48).astype(np.uint16)
    ramp[10:30, 12:36] = 500
    Image.fromarray(ramp).save(path)
    return path


def _float(path: Path) -> Path:
    values = np.linspace(0.0, 1.0, 40 * 40, dtype=np.float32).reshape(40, 40)
    Image.fromarray(values, mode="F").save(path)
    return path


@pytest.mark.parametrize("make", [_deep, _float], ids=["16-bit png", "float tiff"])
def test_a_deep_image_as_a_query_finds_itself(
    resources: IngestResources, tmp_path: Path, make: object
) -> None:
    folder = tmp_path / "deep"
    folder.mkdir()
    name = "q.png" if make is _deep else "q.tif"
    query = make(folder / name)  # type: ignore[operator]
    Image.new("RGB", (48, 48), (30, 200, 90)).save(folder / "other.png")
    ingest(resources, folder, "deep")
    encoder = resources.encoder(TINY_MODEL)
    with resources.store.use() as store:
        client = SearchClient(store, encoder=encoder, version=TINY_MODEL)
        [hit, *_] = client.search_images(image=query, exact=True)
        in_memory = client.search_images(image=Image.open(query), exact=True)[0]
    assert hit.score > 0.9999 and in_memory.score > 0.9999, (hit.score, in_memory.score)
    assert hit.payload["asset_id"] == in_memory.payload["asset_id"]
