"""Near-duplicates at ingestion: found in the batch and in the store, each policy, idempotent under
re-runs and retries, dropped with a deleted asset, and collapsed in search; on both stores."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner, Result

from modalign.catalog import repo
from modalign.catalog.db import make_engine, make_session_factory, session_scope
from modalign.catalog.migrate import upgrade
from modalign.catalog.models import AssetEmbedding, JobItem, NearDuplicate
from modalign.cli import app
from modalign.config import Settings, load_settings
from modalign.errors import ConfigError, InvalidInputError
from modalign.ingest.check import check
from modalign.ingest.deletes import create_delete_job, plan_delete
from modalign.ingest.dispatch import InProcessDispatcher
from modalign.ingest.jobs import resume
from modalign.ingest.plan import plan_job
from modalign.ingest.reindex import reindex_job
from modalign.ingest.resources import IngestResources, open_resources
from modalign.search.client import SearchClient
from modalign.search.duplicates import list_duplicates
from modalign.search.editing import DeleteTarget
from modalign.search.hydrate import CatalogLookup
from modalign.search.naming import Kind

from .helpers import TINY_MODEL, fresh_postgres, make_settings, register_tiny_model
from .lifecycle import asset_ids, ingest, run_job
from .near import THRESHOLD, write_scenes

Make = Callable[..., IngestResources]

STORES = [
    pytest.param(("edge", "sqlite"), id="edge-sqlite"),
    pytest.param(("client", "sqlite"), id="client-sqlite"),
    pytest.param(("edge", "postgres"), id="edge-postgres", marks=pytest.mark.postgres),
]


def _settings(base: Path, url: str, cache: Path, backend: str, mode: str) -> Settings:
    settings = make_settings(base / "data", url, cache)
    return settings.model_copy(update={
        "store": settings.store.model_copy(update={"backend": backend}),
        "ingest": settings.ingest.model_copy(update={
            "near_duplicates": mode, "near_duplicate_threshold": THRESHOLD,
        }),
    })


@pytest.fixture(params=STORES)
def make(
    request: pytest.FixtureRequest, tmp_path: Path, shared_cache: Path
) -> Iterator[Make]:
    """Resources on one store backend and catalog, with a near-duplicate policy (link unless
    told) at the tests' threshold, the tiny model active."""
    backend, catalog = request.param
    with ExitStack() as stack:

        def resources(mode: str = "link") -> IngestResources:
            if catalog == "sqlite":
                url = f"sqlite:///{tmp_path / 'catalog.db'}"
                upgrade(url)
            else:
                url = stack.enter_context(fresh_postgres())
            settings = _settings(tmp_path, url, shared_cache, backend, mode)
            register_tiny_model(settings, TINY_MODEL)
            res = open_resources(settings, shared=False)
            stack.callback(res.close)
            return res

        yield resources


def _groups(res: IngestResources, threshold: float | None = None) -> list[set[str]]:
    names = {v: k for k, v in asset_ids(res).items()}
    listing = list_duplicates(res.sessions, threshold=threshold)
    return [{names[a] for a in g.asset_ids} for g in listing.groups]


def _relations(res: IngestResources) -> set[tuple[int, int, int]]:
    with session_scope(res.sessions) as session:
        rows = session.execute(select(
            NearDuplicate.asset_id, NearDuplicate.original_asset_id, NearDuplicate.group_asset_id
        ))
        return {(a, o, g) for a, o, g in rows}


def _image_count(res: IngestResources) -> int:
    with res.store.use() as store:
        return store.count(Kind.IMAGES, version=TINY_MODEL)


def _clean(res: IngestResources) -> bool:
    with res.store.use() as store:
        return check(res.sessions, store).clean


FIRST = {"a": (0, 0), "b": (1, 0), "a_copy": (0, 1), "c": (2, 0)}  # one batch (size 8)
LATER = {"b_copy": (1, 2), "a_again": (0, 3)}


def test_linked_within_a_batch_and_against_the_store(make: Make, tmp_path: Path) -> None:
    res = make()
    first = ingest(res, write_scenes(tmp_path / "one", FIRST), "one")
    assert first.done == 4 and _groups(res) == [{"a", "a_copy"}]
    later = ingest(res, write_scenes(tmp_path / "two", LATER), "two")
    assert later.done == 2 and _image_count(res) == 6  # linked images are indexed
    assert _groups(res) == [{"a", "a_copy", "a_again"}, {"b", "b_copy"}]
    ids = asset_ids(res)
    groups = {a: g for a, _, g in _relations(res)}
    assert groups == {ids["a_copy"]: ids["a"], ids["a_again"]: ids["a"], ids["b_copy"]: ids["b"]}
    assert list_duplicates(res.sessions, dataset="two").groups == ()  # no pair inside "two"
    assert _clean(res)


def test_skip_leaves_a_new_near_duplicate_out(make: Make, tmp_path: Path) -> None:
    res = make("skip")
    first = ingest(res, write_scenes(tmp_path / "one", FIRST), "one")
    later = ingest(res, write_scenes(tmp_path / "two", LATER), "two")
    ids = asset_ids(res)
    assert set(ids) == {"a", "b", "c"} and _image_count(res) == 3
    assert (first.done, first.skipped, later.done, later.skipped) == (3, 1, 0, 2)
    with session_scope(res.sessions) as session:
        notes = {Path(i.uri).stem: i.error for i in session.scalars(
            select(JobItem).where(JobItem.status == "skipped")
        )}
    assert notes["a_copy"].startswith(f"near-duplicate of asset {ids['a']} (cosine ")
    assert notes["a_again"].startswith(f"near-duplicate of asset {ids['a']} ")
    assert notes["b_copy"].startswith(f"near-duplicate of asset {ids['b']} ")
    assert _relations(res) == set() and _clean(res)


def test_off_looks_for_nothing(make: Make, tmp_path: Path) -> None:
    res = make("off")
    ingest(res, write_scenes(tmp_path / "one", FIRST), "one")
    assert _relations(res) == set() and _image_count(res) == 4


def test_a_rerun_and_a_retry_record_the_same_relations(make: Make, tmp_path: Path) -> None:
    res = make()
    folder = write_scenes(tmp_path / "one", {**FIRST, **LATER})
    first = ingest(res, folder, "one")
    recorded = _relations(res)
    assert len(recorded) == 3
    again = ingest(res, folder, "one")
    assert again.new_points == 0 and _relations(res) == recorded
    # a crash after the points were written, before the outcome: assets, relations and points
    # are there, the embedded marks and the item outcomes are not; the retry writes them
    with session_scope(res.sessions) as session:
        session.execute(delete(AssetEmbedding))
        session.execute(update(JobItem).where(JobItem.job_id == first.id).values(
            status="pending", asset_id=None, error=None))
        repo.set_job_status(session=session, job_id=first.id, status=repo.JobStatus.RUNNING)
    resume(res.settings, res.sessions, InProcessDispatcher(res), first.id)
    assert _relations(res) == recorded and _image_count(res) == 6 and _clean(res)


def test_deleting_an_asset_drops_its_relations_both_ways(make: Make, tmp_path: Path) -> None:
    res = make()
    ingest(res, write_scenes(tmp_path / "one", {**FIRST, **LATER}), "one")
    ids = asset_ids(res)
    _delete(res, ids["a_copy"])  # a near-duplicate: its own relation goes
    assert _groups(res) == [{"a", "a_again"}, {"b", "b_copy"}]
    _delete(res, ids["b"])  # an original: the relation naming it goes
    assert _groups(res) == [{"a", "a_again"}] and _clean(res)


def _delete(res: IngestResources, asset_id: int) -> None:
    target = DeleteTarget(asset_ids=(asset_id,))
    with res.store.use() as store:
        plan = plan_delete(res.sessions, store, target)
    assert run_job(res, create_delete_job(res.sessions, plan, target)).status == "completed"


def test_search_collapses_a_group_to_its_best_hit(make: Make, tmp_path: Path) -> None:
    res = make()
    scenes = {**FIRST, **LATER, "d": (3, 0), "e": (5, 0)}
    ingest(res, write_scenes(tmp_path / "one", scenes), "one")
    ids = asset_ids(res)
    with res.store.use() as store:
        client = SearchClient(store, assets=CatalogLookup(res.sessions))
        plain = client.similar_images(ids["c"], limit=10, exact=True)
        collapsed = client.similar_images(
            ids["c"], limit=3, exact=True, collapse_duplicates=True
        )
        query = store.retrieve(Kind.IMAGES, [plain[0].point_id], with_vectors=True)[0].vector
        assert query is not None
        paged = client.search_images(
            vector=query, limit=2, offset=1, exact=True, collapse_duplicates=True
        )
        everything = client.search_images(vector=query, limit=10, exact=True,
                                          collapse_duplicates=True)
    group = _group_names(ids)
    assert len(plain) == 7 and len(collapsed) == 3  # c left out; groups a, b, d, e
    best: dict[str, int] = {}
    for hit in plain:  # best first: the first hit of each group is its best
        best.setdefault(group[hit.asset_id], hit.asset_id)
    assert [h.asset_id for h in collapsed] == list(best.values())[:3]
    assert sorted(group[h.asset_id] for h in everything) == ["a", "b", "c", "d", "e"]
    assert [h.asset_id for h in paged] == [h.asset_id for h in everything[1:3]]


def _group_names(ids: dict[str, int]) -> dict[int, str]:
    """Asset id -> its scene's group name (a_copy and a_again are in a's)."""
    return {asset_id: name.split("_")[0] for name, asset_id in ids.items()}


@pytest.mark.parametrize("value", ["0", "-0.5", "1.01", "2"])
def test_a_threshold_out_of_range_is_refused(
    value: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODALIGN_INGEST__NEAR_DUPLICATE_THRESHOLD", value)
    with pytest.raises(ConfigError, match="MODALIGN_INGEST__NEAR_DUPLICATE_THRESHOLD: Input"):
        load_settings()
    sessions = make_session_factory(make_engine(sqlite_url))
    with pytest.raises(InvalidInputError, match=r"out of range: give a cosine in \(0, 1\]"):
        list_duplicates(sessions, threshold=float(value))


def test_cli_lists_groups_and_collapses_search(
    tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    settings = make_settings(data, f"sqlite:///{(data / 'catalog.db').resolve()}", shared_cache)
    upgrade(settings.database_url)
    register_tiny_model(settings, TINY_MODEL)
    monkeypatch.setenv("MODALIGN_INGEST__NEAR_DUPLICATE_THRESHOLD", str(THRESHOLD))
    folder = write_scenes(tmp_path / "one", {**FIRST, **LATER})
    _cli(data, "ingest", str(folder), "--dataset", "one")
    listing = json.loads(_cli(data, "duplicates", "--json").stdout)
    assert [len(g["asset_ids"]) for g in listing["groups"]] == [3, 2]
    assert listing["version"] == TINY_MODEL and listing["threshold"] is None
    assert "2 near-duplicate groups, 5 images" in _cli(data, "duplicates").stdout
    assert json.loads(_cli(data, "duplicates", "--json", "--threshold", "1").stdout)["groups"] == []
    bad = _cli(data, "duplicates", "--threshold", "1.5", code=1)
    assert "near-duplicate threshold 1.5 is out of range: give a cosine in (0, 1]" in bad.stderr
    a = listing["groups"][0]["asset_ids"][0]
    hits = json.loads(_cli(data, "search", "--like", str(a), "--collapse-duplicates",
                           "--json").stdout)
    assert len(hits) == 3  # a's copies as one hit, b's group as one, c
    bad = _cli(data, "search", "x", "--captions", "--collapse-duplicates", code=1)
    assert "does not apply to --captions" in bad.stderr


def _cli(data: Path, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(app, ["--data-dir", str(data), *args])
    assert result.exit_code == code, result.output
    return result


def test_skip_links_what_the_catalog_holds_when_reindexing(make: Make, tmp_path: Path) -> None:
    first = make("off")
    ingest(first, write_scenes(tmp_path / "one", {"a": (0, 0), "a_copy": (0, 1)}), "one")
    register_tiny_model(first.settings, "tiny-v2", activate=False)
    first.close()  # the same catalog and store, now under skip
    ingest_settings = first.settings.ingest.model_copy(update={"near_duplicates": "skip"})
    res = open_resources(first.settings.model_copy(update={"ingest": ingest_settings}),
                         shared=False)
    try:
        job_id = reindex_job(res.sessions, "tiny-v2")
        plan_job(res.settings, res.sessions, job_id)
        assert run_job(res, job_id).done == 2
        with res.store.use() as store:  # no catalogued image loses its points: linked instead
            assert store.count(Kind.IMAGES, version="tiny-v2") == 2
        ids = asset_ids(res)
        assert _relations(res) == {(ids["a_copy"], ids["a"], ids["a"])}
    finally:
        res.close()
