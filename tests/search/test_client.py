"""SearchClient over a real store and a real catalog (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import db, migrate, repo
from modalign.catalog.db import session_scope
from modalign.config import Settings
from modalign.errors import InvalidInputError, NotFoundError
from modalign.search import (
    CaptionPayload,
    Filter,
    ImagePayload,
    Kind,
    Match,
    PointIn,
    VectorStore,
    caption_point_id,
    image_point_id,
    open_store,
)
from modalign.search.client import SearchClient
from modalign.search.filters import MAX_FILTER_CONDITIONS, MAX_FILTER_DEPTH
from modalign.search.hydrate import CatalogLookup

from .conftest import open_backend

DIM = 16


class ColourEncoder:
    """A tiny real encoder: texts and images map to fixed directions by their colour word/pixel."""

    version = "v1"
    COLOURS = ("red", "green", "blue")

    def _direction(self, index: int) -> np.ndarray:
        vec = np.zeros(DIM, dtype=np.float32)
        vec[index] = 1.0
        return vec

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._direction(self._word(t)) for t in texts])

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return np.stack([self._direction(int(np.argmax(img.getpixel((0, 0))))) for img in images])

    def _word(self, text: str) -> int:
        return next(i for i, c in enumerate(self.COLOURS) if c in text)


@pytest.fixture
def catalog_store(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> Iterator[tuple[VectorStore, list[int]]]:
    """30 assets (10 per colour) with two captions each, in the catalog and the edge store."""
    store = open_backend("edge", tmp_path / "store")
    ids = populate(store, session_factory)
    yield store, ids
    store.close()


def populate(store: VectorStore, session_factory: sessionmaker[Session]) -> list[int]:
    """Write the 30 assets to the catalog and to version ``v1`` (made active); their ids."""
    store.create_version("v1", image_dim=DIM, caption_dim=DIM)
    rng = np.random.default_rng(0)
    ids, images, captions = [], [], []
    with session_scope(session_factory) as session:
        for i in range(30):
            asset_id, image, caps = _add(session, i, i % 3, rng)
            ids.append(asset_id)
            images.append(image)
            captions.extend(caps)
    store.upsert(Kind.IMAGES, images, version="v1")
    store.upsert(Kind.CAPTIONS, captions, version="v1")
    store.set_active_version("v1")
    return ids


def populate_data_dir(settings: Settings) -> list[int]:
    """:func:`populate` into the catalog and store of a data directory (migrated first)."""
    migrate.upgrade(settings.database_url)
    engine = db.make_engine(settings.database_url)
    store = open_store(settings)
    try:
        return populate(store, db.make_session_factory(engine))
    finally:
        store.close()
        engine.dispose()


def _add(
    session: Session, i: int, colour: int, rng: np.random.Generator
) -> tuple[int, PointIn, list[PointIn]]:
    name = ColourEncoder.COLOURS[colour]
    digest = repo.content_hash(f"img{i}".encode())
    asset = repo.upsert_asset(
        session=session,
        content_hash=digest,
        uri=f"file:///img/{i}.png",
        width=10 + i,
        height=20,
        mime="image/png",
        size_bytes=100,
        source="emoji" if i < 15 else "clipart",
        dataset="demo",
        tags=[name],
    ).asset
    captions = repo.add_captions(
        session=session, asset_id=asset.id, texts=[f"a {name} thing {i}", f"item {i}"]
    )
    vec = np.zeros(DIM, dtype=np.float32)
    vec[colour] = 1.0
    vec[3:] = rng.normal(scale=0.05, size=DIM - 3)
    image = ImagePayload(
        asset_id=asset.id,
        content_hash=digest,
        source=asset.source,
        dataset="demo",
        tags=[name],
        created_at=asset.created_at,
        width=asset.width,
        height=asset.height,
    )
    image_id = image_point_id(digest)
    caption_points = [
        PointIn(
            caption_point_id(digest, c.text_hash),
            vec if c.position == 0 else -vec,
            CaptionPayload(
                **image.model_dump(), text=c.text, position=c.position, image_point_id=image_id
            ),
        )
        for c in captions
    ]
    return asset.id, PointIn(image_id, vec, image), caption_points


def _client(store: VectorStore, factory: sessionmaker[Session] | None = None) -> SearchClient:
    lookup = CatalogLookup(factory) if factory else None
    return SearchClient(store, encoder=ColourEncoder(), assets=lookup)


def test_text_to_image_finds_the_colour_and_hydrates(
    catalog_store: tuple[VectorStore, list[int]], session_factory: sessionmaker[Session]
) -> None:
    store, _ = catalog_store
    hits = _client(store, session_factory).search_images(text="something green", limit=5)
    assert len(hits) == 5
    for hit in hits:
        assert hit.payload["tags"] == ["green"]
        assert hit.asset is not None and hit.asset.asset_id == hit.asset_id
        assert hit.asset.tags == ("green",) and hit.asset.uri.endswith(".png")
        assert [c.position for c in hit.asset.captions] == [0, 1]
    assert hits == sorted(hits, key=lambda h: -h.score)


def test_image_queries_and_filters(
    catalog_store: tuple[VectorStore, list[int]], tmp_path: Path
) -> None:
    store, _ = catalog_store
    path = tmp_path / "blue.png"
    Image.new("RGB", (8, 8), (0, 0, 255)).save(path)
    client = _client(store)
    only_clipart = Filter(must=[Match(field="source", value="clipart")])
    hits = client.search_images(image=path, filter=only_clipart, limit=20)
    assert {h.payload["source"] for h in hits} == {"clipart"}
    assert all(h.asset is None for h in hits)  # no catalog given: not hydrated
    assert [h.payload["tags"] for h in hits[:5]] == [["blue"]] * 5
    captions = client.search_captions(image=Image.open(path), limit=3)
    assert all("blue" in c.text and c.position == 0 for c in captions)
    assert all(c.image_point_id for c in captions)


def test_similar_images_leaves_the_asset_out(
    catalog_store: tuple[VectorStore, list[int]],
) -> None:
    store, ids = catalog_store
    hits = _client(store).similar_images(ids[4], limit=9, hydrate=False)
    assert ids[4] not in {h.asset_id for h in hits}
    assert {tuple(h.payload["tags"]) for h in hits} == {("green",)}
    with pytest.raises(NotFoundError):
        _client(store).similar_images(999_999)


def test_similar_images_take_filters_up_to_the_limits(
    catalog_store: tuple[VectorStore, list[int]],
) -> None:
    """Leaving the asset out adds no level of nesting; it does take one of the conditions."""
    store, ids = catalog_store
    deepest: Filter = Filter(must=[Match(field="source", value="clipart")])
    for _ in range(MAX_FILTER_DEPTH - 1):
        deepest = Filter(must=[deepest])
    hits = _client(store).similar_images(ids[4], filter=deepest, limit=3, hydrate=False)
    assert len(hits) == 3 and ids[4] not in {h.asset_id for h in hits}
    full = Filter(should=[Match(field="asset_id", value=i) for i in range(MAX_FILTER_CONDITIONS)])
    with pytest.raises(InvalidInputError, match="at most 64 conditions"):
        _client(store).similar_images(ids[4], filter=full)


def test_hydration_is_one_catalog_round_whatever_the_hit_count(
    catalog_store: tuple[VectorStore, list[int]],
    session_factory: sessionmaker[Session],
    catalog_engine: Engine,
) -> None:
    store, _ = catalog_store
    client = _client(store, session_factory)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
        statements.append(sql)

    event.listen(catalog_engine, "before_cursor_execute", count)
    try:
        client.search_images(text="red", limit=2)
        few = len(statements)
        statements.clear()
        hits = client.search_images(text="red", limit=25)
        many = len(statements)
    finally:
        event.remove(catalog_engine, "before_cursor_execute", count)
    assert len(hits) == 25 and all(h.asset is not None for h in hits)
    assert many == few <= 4  # BEGIN, assets, their captions, their memberships


def test_vector_queries_need_no_encoder(catalog_store: tuple[VectorStore, list[int]]) -> None:
    store, _ = catalog_store
    client = SearchClient(store)
    vec = np.zeros(DIM)
    vec[0] = 1
    assert client.search_images(vector=vec, limit=3)[0].payload["tags"] == ["red"]
    with pytest.raises(InvalidInputError, match="encoder"):
        client.search_images(text="red")
    with pytest.raises(InvalidInputError, match=r"vector= \(alone\)"):
        client.search_images(text="red", vector=vec)
    with pytest.raises(InvalidInputError):
        _client(store).search_images(text="   ")


def test_oversampling_is_a_query_knob(catalog_store: tuple[VectorStore, list[int]]) -> None:
    store, ids = catalog_store
    client = SearchClient(store)
    vec = np.zeros(DIM)
    vec[0] = 1
    plain = client.search_images(vector=vec, limit=3)
    assert client.search_images(vector=vec, limit=3, oversampling=4.0) == plain  # not quantized
    for call in (
        lambda: client.search_images(vector=vec, oversampling=0.5),
        lambda: client.search_captions(vector=vec, oversampling=17.0),
        lambda: client.similar_images(ids[0], oversampling=float("inf")),
    ):
        with pytest.raises(InvalidInputError, match="oversampling must be between 1 and 16"):
            call()


class RecordingEncoder(ColourEncoder):
    """The colour encoder, keeping every image it was asked to encode."""

    def __init__(self) -> None:
        self.images: list[Image.Image] = []

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.images.extend(images)
        return super().encode_images(images)


def test_query_images_are_decoded_as_ingestion_decodes_items(
    catalog_store: tuple[VectorStore, list[int]], tmp_path: Path
) -> None:
    store, _ = catalog_store
    encoder = RecordingEncoder()
    client = SearchClient(store, encoder=encoder)
    sticker = Image.new("RGBA", (12, 8), (0, 0, 255, 0))  # transparent pixels that store blue
    sticker.putpixel((11, 7), (0, 255, 0, 255))
    sticker.save(tmp_path / "sticker.png")
    upright = Image.new("RGB", (16, 8), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: rotate 90 degrees to display
    upright.save(tmp_path / "rotated.jpg", exif=exif)
    client.search_images(image=tmp_path / "sticker.png", limit=1)
    client.search_images(image=sticker, limit=1)
    client.search_images(image=tmp_path / "rotated.jpg", limit=1)
    from_file, from_memory, rotated = encoder.images
    for image in (from_file, from_memory):
        assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)  # over white
        assert image.getpixel((11, 7)) == (0, 255, 0)
    assert rotated.size == (8, 16)
