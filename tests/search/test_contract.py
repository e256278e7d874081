"""The store contract, run on both backends (qdrant-edge and qdrant-client local mode).

Every result is checked against a brute-force numpy/Python answer, and the two backends against each
other, on the same operations.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np
import pytest

from modalign.errors import InvalidInputError, NotFoundError
from modalign.search import Kind, PointIn, QueryParams, VectorStore
from modalign.search.filters import (
    INT64_MAX,
    INT64_MIN,
    MAX_ANY_VALUES,
    DatetimeRange,
    Filter,
    IsEmpty,
    Match,
    MatchAny,
    Range,
    parse_filter,
)
from modalign.search.store import PayloadUpdate

from .conftest import load
from .dataset import CAPTION_DIM, IMAGE_DIM, Dataset, exact_top, make_dataset, matches

EXACT = QueryParams(limit=10, exact=True)

FILTERS: dict[str, Filter] = {
    "match-keyword": Filter(must=[Match(field="source", value="emoji")]),
    "match-integer": Filter(must=[Match(field="asset_id", value=42)]),
    "match-in-list": Filter(must=[Match(field="tags", value="food")]),
    "any-keyword": Filter(must=[MatchAny(field="source", values=["coco", "flickr"])]),
    "any-integer": Filter(must=[MatchAny(field="asset_id", values=[3, 5, 8, 13, 21])]),
    "any-in-list": Filter(must=[MatchAny(field="tags", values=["flag", "tool"])]),
    "range-gte-lt": Filter(must=[Range(field="width", gte=200, lt=400)]),
    "range-gt-lte": Filter(must=[Range(field="height", gt=900, lte=1000)]),
    "datetime-gte": Filter(
        must=[DatetimeRange(field="created_at", gte=datetime(2026, 5, 1, tzinfo=UTC))]
    ),
    "datetime-between-naive": Filter(
        must=[
            DatetimeRange(
                field="created_at", gt=datetime(2025, 9, 1), lte=datetime(2025, 9, 20, 12, 30)
            )
        ]
    ),
    "is-empty-list": Filter(must=[IsEmpty(field="tags")]),
    "is-empty-missing": Filter(must=[IsEmpty(field="split")]),
    "must-not": Filter(must_not=[Match(field="source", value="emoji"), IsEmpty(field="dataset")]),
    "should": Filter(should=[Match(field="split", value="test"), Range(field="width", lt=100)]),
    "nested": Filter(
        must=[
            Match(field="dataset", value="set1"),
            Filter(should=[Match(field="tags", value="animal"), Range(field="height", gte=800)]),
        ],
        must_not=[Match(field="split", value="val")],
    ),
    "nothing-matches": Filter(must=[Match(field="source", value="no-such-source")]),
    "int64-bounds": Filter(
        should=[MatchAny(field="asset_id", values=[INT64_MIN, 42, INT64_MAX]),
                Match(field="width", value=INT64_MAX)]
    ),
    "huge-finite-range": Filter(must=[Range(field="width", gt=-1e308, lte=1e308)]),
    "at-the-limits": Filter(must=[Filter(should=[Filter(must_not=[Filter(must=[
        MatchAny(field="asset_id", values=list(range(0, 2 * MAX_ANY_VALUES, 2))),
    ])])])]),
}


def _queries(dim: int, n: int = 5, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=dim).astype(np.float32) for _ in range(n)]


def _ids(hits: list) -> list[str]:  # type: ignore[type-arg]
    return [h.id for h in hits]


def test_counts_match_what_was_written(loaded_store: VectorStore, dataset: Dataset) -> None:
    assert loaded_store.count(Kind.IMAGES) == len(dataset.images)
    assert loaded_store.count(Kind.CAPTIONS) == len(dataset.captions)
    info = loaded_store.info(Kind.IMAGES)
    assert (info.points, info.dim, info.version) == (len(dataset.images), IMAGE_DIM, "v1")
    assert loaded_store.versions() == ["v1"] and loaded_store.active_version() == "v1"


@pytest.mark.parametrize("kind", list(Kind))
def test_unfiltered_query_equals_brute_force(
    loaded_store: VectorStore, dataset: Dataset, kind: Kind
) -> None:
    points, vectors = _kind_data(dataset, kind)
    for q in _queries(vectors.shape[1]):
        hits = loaded_store.query(kind, q, params=EXACT)
        expected = exact_top(points, vectors, q, None, 10)
        assert _ids(hits) == [i for i, _ in expected]
        assert [h.score for h in hits] == pytest.approx([s for _, s in expected], abs=1e-4)


@pytest.mark.parametrize("name", list(FILTERS))
def test_filter_operator_equals_brute_force(
    loaded_store: VectorStore, dataset: Dataset, name: str
) -> None:
    flt = FILTERS[name]
    for kind in Kind:
        points, vectors = _kind_data(dataset, kind)
        wanted = {p.id for p in points if matches(flt, p.payload.to_store())}
        assert loaded_store.count(kind, filter=flt) == len(wanted)
        scrolled = loaded_store.scroll(kind, filter=flt, limit=len(points))
        assert {r.id for r in scrolled} == wanted
        assert all(matches(flt, r.payload) for r in scrolled)
        for q in _queries(vectors.shape[1], n=3):
            expected = exact_top(points, vectors, q, flt, 10)
            assert _ids(loaded_store.query(kind, q, filter=flt, params=EXACT)) == [
                i for i, _ in expected
            ]


def test_backends_agree(edge_loaded: VectorStore, client_loaded: VectorStore) -> None:
    for name, flt in [("none", None), *FILTERS.items()]:
        for kind, dim in ((Kind.IMAGES, IMAGE_DIM), (Kind.CAPTIONS, CAPTION_DIM)):
            for q in _queries(dim, n=2, seed=11):
                params = QueryParams(limit=7, offset=2, exact=True)
                a = edge_loaded.query(kind, q, filter=flt, params=params)
                b = client_loaded.query(kind, q, filter=flt, params=params)
                assert _ids(a) == _ids(b), name
                assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-4)
                assert [dict(h.payload) for h in a] == [dict(h.payload) for h in b]


def test_offset_and_score_threshold(loaded_store: VectorStore, dataset: Dataset) -> None:
    q = _queries(IMAGE_DIM, n=1, seed=5)[0]
    full = exact_top(dataset.images, dataset.image_vectors, q, None, 30)
    page = loaded_store.query(Kind.IMAGES, q, params=QueryParams(limit=10, offset=20, exact=True))
    assert _ids(page) == [i for i, _ in full[20:30]]
    threshold = full[12][1]
    above = loaded_store.query(
        Kind.IMAGES, q, params=QueryParams(limit=100, score_threshold=threshold, exact=True)
    )
    assert _ids(above) == [i for i, s in full if s >= threshold]


def test_retrieve_by_ids(loaded_store: VectorStore, dataset: Dataset) -> None:
    wanted = [dataset.images[9], dataset.images[2]]
    missing = "00000000-0000-5000-8000-000000000000"
    records = loaded_store.retrieve(
        Kind.IMAGES, [wanted[0].id, missing, wanted[1].id], with_vectors=True
    )
    assert [r.id for r in records] == [p.id for p in wanted]
    for record, point in zip(records, wanted, strict=True):
        assert record.payload == point.payload.to_store()
        assert record.vector is not None
        unit = np.asarray(point.vector) / np.linalg.norm(point.vector)
        assert float(np.dot(record.vector / np.linalg.norm(record.vector), unit)) > 0.9999


def test_upserting_same_ids_twice_keeps_count(fresh_store: VectorStore) -> None:
    data = make_dataset(n_images=300, seed=3)
    load(fresh_store, data)
    load(fresh_store, data)
    assert fresh_store.count(Kind.IMAGES) == 300
    assert fresh_store.count(Kind.CAPTIONS) == len(data.captions)
    moved = [PointIn(p.id, -np.asarray(p.vector), p.payload) for p in data.images[:10]]
    fresh_store.upsert(Kind.IMAGES, moved)
    assert fresh_store.count(Kind.IMAGES) == 300
    top = fresh_store.query(Kind.IMAGES, moved[0].vector, params=QueryParams(limit=1, exact=True))
    assert top[0].id == moved[0].id and top[0].score == pytest.approx(1.0, abs=1e-5)


def test_delete(fresh_store: VectorStore) -> None:
    data = make_dataset(n_images=100, seed=4)
    load(fresh_store, data)
    gone = [p.id for p in data.images[:10]]
    fresh_store.delete(Kind.IMAGES, gone)
    assert fresh_store.count(Kind.IMAGES) == 90
    assert fresh_store.retrieve(Kind.IMAGES, gone) == []
    hits = fresh_store.query(Kind.IMAGES, data.images[0].vector, params=QueryParams(limit=100))
    assert not set(gone) & set(_ids(hits))


def test_versions_lifecycle(fresh_store: VectorStore) -> None:
    with pytest.raises(NotFoundError):
        fresh_store.query(Kind.IMAGES, np.ones(IMAGE_DIM))
    fresh_store.create_version("a", image_dim=IMAGE_DIM, caption_dim=CAPTION_DIM)
    fresh_store.create_version("a", image_dim=IMAGE_DIM, caption_dim=CAPTION_DIM)
    fresh_store.create_version("b-2", image_dim=8, caption_dim=4)
    assert fresh_store.versions() == ["a", "b-2"]
    assert fresh_store.active_version() is None
    fresh_store.set_active_version("b-2")
    assert fresh_store.resolve(None) == "b-2"
    assert fresh_store.info(Kind.CAPTIONS).dim == 4
    with pytest.raises(InvalidInputError):
        fresh_store.drop_version("b-2")
    with pytest.raises(NotFoundError):
        fresh_store.set_active_version("nope")
    fresh_store.drop_version("a")
    assert fresh_store.versions() == ["b-2"]
    with pytest.raises(NotFoundError):
        fresh_store.count(Kind.IMAGES, version="a")


BAD_FILTERS = [
    Filter(must=[Match(field="colour", value="red")]),
    Filter(must=[Match(field="width", value="wide")]),
    Filter(must=[Match(field="source", value=3)]),
    Filter(must=[Match(field="width", value=True)]),
    Filter(must=[MatchAny(field="asset_id", values=["1", "2"])]),
    Filter(must=[Range(field="source", gte=1)]),
    Filter(must=[Range(field="width")]),
    Filter(must=[DatetimeRange(field="width", gte=datetime(2026, 1, 1))]),
    Filter(must=[Match(field="created_at", value="2026-01-01")]),
    Filter(should=[Filter(must_not=[IsEmpty(field="nope")])]),
]


@pytest.mark.parametrize("flt", BAD_FILTERS)
def test_bad_filters_are_invalid_input(loaded_store: VectorStore, flt: Filter) -> None:
    with pytest.raises(InvalidInputError):
        loaded_store.query(Kind.IMAGES, np.ones(IMAGE_DIM), filter=flt)
    with pytest.raises(InvalidInputError):
        loaded_store.count(Kind.IMAGES, filter=flt)


def test_caption_only_fields_are_rejected_on_images(loaded_store: VectorStore) -> None:
    flt = Filter(must=[Match(field="position", value=0)])
    assert loaded_store.count(Kind.CAPTIONS, filter=flt) > 0
    with pytest.raises(InvalidInputError, match="position"):
        loaded_store.count(Kind.IMAGES, filter=flt)


@pytest.mark.parametrize(
    "bad",
    [
        {"must": [{"field": "source", "op": "match"}]},
        {"must": [{"field": "tags", "op": "any", "values": []}]},
        {"must": [{"field": "tags", "op": "near", "value": 1}]},
        {"maybe": []},
        "source=emoji",
    ],
)
def test_parse_filter_rejects_malformed_data(bad: object) -> None:
    with pytest.raises(InvalidInputError):
        parse_filter(bad)


def test_parse_filter_accepts_json() -> None:
    data = {
        "must": [{"field": "source", "op": "match", "value": "emoji"}],
        "must_not": [{"must": [{"field": "width", "op": "range", "lt": 10}]}],
    }
    flt = parse_filter(data)
    assert flt.must == [Match(field="source", value="emoji")]
    assert flt.must_not == [Filter(must=[Range(field="width", lt=10)])]


def test_bad_inputs_are_invalid_input(loaded_store: VectorStore) -> None:
    for vector in (np.ones(IMAGE_DIM + 1), np.zeros(IMAGE_DIM), [float("nan")] * IMAGE_DIM):
        with pytest.raises(InvalidInputError):
            loaded_store.query(Kind.IMAGES, vector)
    for params in (QueryParams(limit=0), QueryParams(offset=-1), QueryParams(hnsw_ef=0)):
        with pytest.raises(InvalidInputError):
            loaded_store.query(Kind.IMAGES, np.ones(IMAGE_DIM), params=params)
    with pytest.raises(InvalidInputError):
        loaded_store.retrieve(Kind.IMAGES, ["not-a-uuid"])
    with pytest.raises(InvalidInputError):
        loaded_store.create_version("bad/name", image_dim=4, caption_dim=4)


def test_wrong_payload_kind_is_invalid_input(fresh_store: VectorStore) -> None:
    data = make_dataset(n_images=5, seed=9)
    fresh_store.create_version("v", image_dim=IMAGE_DIM, caption_dim=CAPTION_DIM)
    caption_as_image = PointIn(data.captions[0].id, np.ones(IMAGE_DIM), data.captions[0].payload)
    with pytest.raises(InvalidInputError):
        fresh_store.upsert(Kind.IMAGES, [caption_as_image], version="v")


def test_switch_is_atomic_for_concurrent_queries(fresh_store: VectorStore) -> None:
    """Readers query through the active alias while it flips between versions many times.

    Version ``a`` holds only source ``va`` points, ``b`` only ``vb`` (same ids): every result must
    come from one version, and the switcher waits for a completed query after each flip, so both
    versions are seen.
    """
    _load_tagged(fresh_store, "a", "va")
    _load_tagged(fresh_store, "b", "vb")
    fresh_store.set_active_version("a")
    seen: list[frozenset[str]] = []
    errors: list[BaseException] = []
    done = threading.Event()
    progress = threading.Condition()

    def reader(seed: int) -> None:
        rng = np.random.default_rng(seed)
        while not done.is_set():
            try:
                hits = fresh_store.query(Kind.IMAGES, rng.normal(size=IMAGE_DIM), params=EXACT)
                caps = fresh_store.query(Kind.CAPTIONS, rng.normal(size=CAPTION_DIM))
            except BaseException as exc:
                errors.append(exc)
                return
            with progress:
                seen.append(frozenset(h.payload["source"] for h in hits))
                seen.append(frozenset(h.payload["source"] for h in caps))
                progress.notify_all()

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for i in range(20):
        with progress:
            before = len(seen)
            fresh_store.set_active_version("b" if i % 2 == 0 else "a")
            progress.wait_for(lambda b=before: len(seen) >= b + 2 or bool(errors), timeout=30)  # type: ignore[misc]
    done.set()
    for t in threads:
        t.join()
    assert not errors
    assert all(len(s) == 1 for s in seen)
    assert {next(iter(s)) for s in seen} == {"va", "vb"}
    assert fresh_store.active_version() == "a"


def _load_tagged(store: VectorStore, version: str, source: str) -> None:
    data = make_dataset(n_images=200, seed=12)
    tagged = Dataset(
        images=[
            PointIn(p.id, p.vector, p.payload.model_copy(update={"source": source}))
            for p in data.images
        ],
        image_vectors=data.image_vectors,
        captions=[
            PointIn(p.id, p.vector, p.payload.model_copy(update={"source": source}))
            for p in data.captions
        ],
        caption_vectors=data.caption_vectors,
    )
    store.create_version(version, image_dim=IMAGE_DIM, caption_dim=CAPTION_DIM)
    for kind, points in ((Kind.IMAGES, tagged.images), (Kind.CAPTIONS, tagged.captions)):
        store.upsert(kind, points, version=version)


def _kind_data(data: Dataset, kind: Kind) -> tuple[list[PointIn], np.ndarray]:
    if kind is Kind.IMAGES:
        return data.images, data.image_vectors
    return data.captions, data.caption_vectors


# -- maintenance operations: paging, deleting and re-labelling by filter ---------------------


def test_scroll_all_pages_through_every_point(loaded_store: VectorStore, dataset: Dataset) -> None:
    for kind, points in ((Kind.IMAGES, dataset.images), (Kind.CAPTIONS, dataset.captions)):
        seen = [r.id for r in loaded_store.scroll_all(kind, page=128)]
        assert len(seen) == len(set(seen)) == len(points)
        assert set(seen) == {p.id for p in points}
    tagged = [
        r.payload["asset_id"]
        for r in loaded_store.scroll_all(Kind.IMAGES, filter=FILTERS["match-in-list"], page=50)
    ]
    expected = [p.payload.asset_id for p in dataset.images if "food" in p.payload.tags]
    assert sorted(tagged) == sorted(expected)


def test_delete_where_removes_the_points_a_filter_names(
    fresh_store: VectorStore, dataset: Dataset
) -> None:
    store = load(fresh_store, dataset)
    gone = [p.payload.content_hash for p in dataset.images[:40]]
    by_hash = Filter(must=[MatchAny(field="content_hash", values=gone)])
    for kind in Kind:
        store.delete_where(kind, by_hash)
        assert store.count(kind, filter=by_hash) == 0
    assert store.count(Kind.IMAGES) == len(dataset.images) - 40
    kept = sum(1 for c in dataset.captions if c.payload.content_hash not in set(gone))
    assert store.count(Kind.CAPTIONS) == kept
    store.delete_where(Kind.IMAGES, by_hash)  # nothing left to match: a no-op
    with pytest.raises(InvalidInputError, match="empty filter"):
        store.delete_where(Kind.IMAGES, Filter())


def test_set_payload_relabels_images_and_their_captions(
    fresh_store: VectorStore, dataset: Dataset
) -> None:
    store = load(fresh_store, dataset)
    image = dataset.images[3].payload
    relabelled = image.model_copy(update={"dataset": ["set1", "extra"], "tags": ["new"]})
    one = Filter(must=[Match(field="content_hash", value=image.content_hash)])
    other = dataset.images[4].payload
    two = Filter(must=[Match(field="content_hash", value=other.content_hash)])
    untagged = other.model_copy(update={"tags": []})
    updates = [PayloadUpdate(one, relabelled), PayloadUpdate(two, untagged)]
    for kind in Kind:
        store.set_payload(kind, updates)
    assert store.scroll(Kind.IMAGES, filter=two)[0].payload["tags"] == []
    [record] = store.scroll(Kind.IMAGES, filter=one)
    assert record.payload["dataset"] == ["set1", "extra"] and record.payload["tags"] == ["new"]
    captions = store.scroll(Kind.CAPTIONS, filter=one)
    assert captions and all(c.payload["tags"] == ["new"] for c in captions)
    originals = {c.id: c.payload for c in dataset.captions}
    assert all(c.payload["text"] == originals[c.id].text for c in captions)  # type: ignore[attr-defined]
    extra = Filter(must=[Match(field="dataset", value="extra")])
    assert store.count(Kind.IMAGES, filter=extra) == 1
    with pytest.raises(InvalidInputError, match="ImagePayload"):
        bad = PayloadUpdate(one, dataset.captions[0].payload)
        store.set_payload(Kind.CAPTIONS, [bad])
