"""Combined text + image queries and caption search grouped by asset, on both backends."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from modalign.errors import InvalidInputError
from modalign.search import CaptionPayload, ImagePayload, Kind, PointIn, VectorStore
from modalign.search.client import SearchClient
from modalign.search.naming import caption_point_id, image_point_id
from modalign.search.results import CaptionHit, ImageHit

from .conftest import open_backend
from .dataset import EPOCH

DIM = 4
TEXT_AXIS, IMAGE_AXIS = 0, 1


def unit(*values: float) -> np.ndarray:
    vec = np.asarray(values, dtype=np.float32)
    return vec / np.linalg.norm(vec)


class AxisEncoder:
    """Every text encodes to one axis and every image to another (the query's two parts)."""

    version = "v1"

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(unit(1, 0, 0, 0), (len(texts), 1))

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return np.tile(unit(0, 1, 0, 0), (len(images), 1))


def image_payload(asset_id: int) -> ImagePayload:
    digest = hashlib.sha256(f"asset{asset_id}".encode()).hexdigest()
    return ImagePayload(asset_id=asset_id, content_hash=digest, source="clip", created_at=EPOCH,
                        width=8, height=8)


IMAGES = {1: unit(1, 0, 0.05, 0), 2: unit(0, 1, 0, 0.05), 3: unit(1, 1, 0, 0),
          4: unit(3, 1, 0, 0)}
CAPTIONS = {  # asset -> its captions' vectors; asset 1's three captions are all near the text
    1: [unit(1, 0, 0.01, 0), unit(1, 0, 0.02, 0), unit(1, 0, 0.03, 0)],
    2: [unit(1, 0, 0.2, 0)],
    3: [unit(1, 0, 0.3, 0)],
}


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[VectorStore]:
    opened = open_backend(backend, tmp_path / "store")
    opened.create_version("v1", image_dim=DIM, caption_dim=DIM)
    opened.upsert(Kind.IMAGES, [
        PointIn(image_point_id(image_payload(a).content_hash), vec, image_payload(a))
        for a, vec in IMAGES.items()
    ], version="v1")
    opened.upsert(Kind.CAPTIONS, list(_caption_points()), version="v1")
    opened.set_active_version("v1")
    yield opened
    opened.close()


def _caption_points() -> Iterator[PointIn]:
    for asset_id, vectors in CAPTIONS.items():
        image = image_payload(asset_id)
        for position, vec in enumerate(vectors):
            text = f"caption {position} of {asset_id}"
            payload = CaptionPayload(**image.model_dump(), text=text, position=position,
                                     image_point_id=image_point_id(image.content_hash))
            digest = hashlib.sha256(text.encode()).hexdigest()
            yield PointIn(caption_point_id(image.content_hash, digest), vec, payload)


def _ids(hits: Sequence[ImageHit | CaptionHit]) -> list[int]:
    return [hit.asset_id for hit in hits]


def client(store: VectorStore) -> SearchClient:
    return SearchClient(store, encoder=AxisEncoder(), mode="vector")


def test_text_and_image_together_search_their_weighted_sum(store: VectorStore) -> None:
    picture = Image.new("RGB", (8, 8), (255, 0, 0))
    search = client(store).search_images
    assert _ids(search(text="red", limit=1)) == [1]
    assert _ids(search(image=picture, limit=1)) == [2]
    assert _ids(search(text="but red", image=picture, limit=1)) == [3]  # half each
    assert _ids(search(text="but red", image=picture, text_weight=0.75, limit=1)) == [4]
    assert _ids(search(text="but red", image=picture, text_weight=1.0, limit=1)) == [1]


def test_combined_queries_refuse_what_they_cannot_mean(store: VectorStore) -> None:
    picture = Image.new("RGB", (8, 8))
    search = client(store).search_images
    with pytest.raises(InvalidInputError, match="text_weight must be in"):
        search(text="red", image=picture, text_weight=1.5)
    with pytest.raises(InvalidInputError, match="alone"):
        search(image=picture, vector=unit(1, 0, 0, 0))
    with pytest.raises(InvalidInputError, match="text= only"):
        search(text="red", image=picture, mode="keyword")


def test_captions_grouped_by_asset_return_each_image_once(store: VectorStore) -> None:
    search = client(store).search_captions
    assert _ids(search(text="red", limit=3)) == [1, 1, 1]
    assert _ids(search(text="red", limit=3, group_by_asset=True)) == [1, 2, 3]
    assert _ids(search(text="red", limit=2, offset=1, group_by_asset=True)) == [2, 3]
    with pytest.raises(InvalidInputError, match="caption searches only"):
        client(store).search_images(text="red", group_by_asset=True)
