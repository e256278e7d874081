"""Near-duplicate relations: recorded per model version with their group, replaced on a re-run,
filtered by cosine and dataset, gone with either asset; on both dialects."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import db, repo
from modalign.catalog.models import Asset, NearDuplicate
from modalign.search.duplicates import list_duplicates

from .helpers import make_asset


def _setup(factory: sessionmaker[Session]) -> tuple[int, dict[str, int]]:
    """Model version v1 and assets a, b, c, d, e (a-d in dataset one, e in two)."""
    with db.session_scope(factory) as session:
        version = repo.register_model_version(
            session=session, name="v1", dims=8, checkpoint_path="/m", activate=True
        )
        ids = {n: make_asset(session, n).id for n in "abcde"}
        repo.record_members(session=session, members=[
            repo.NewMember(ids[n], "two" if n == "e" else "one", f"{n}.png") for n in "abcde"
        ])
        return version.id, ids


def _record(factory: sessionmaker[Session], version: int, *pairs: tuple[int, int, float]) -> None:
    with db.session_scope(factory) as session:
        repo.record_near_duplicates(
            session=session, model_version_id=version,
            pairs=[repo.NewNearDuplicate(*p) for p in pairs],
        )


def test_relations_join_their_originals_group(session_factory: sessionmaker[Session]) -> None:
    version, ids = _setup(session_factory)
    a, b, c, d, e = (ids[n] for n in "abcde")
    _record(session_factory, version, (b, a, 0.97), (c, b, 0.95))  # c's original b is in a's
    _record(session_factory, version, (e, c, 0.99))  # a later batch: e joins a's group too
    with db.session_scope(session_factory) as session:
        groups = repo.groups_of(
            session=session, model_version_id=version, asset_ids=[a, b, c, d, e]
        )
    assert groups == {b: a, c: a, e: a}  # a is the group's first, d in none
    listing = list_duplicates(session_factory)
    assert [g.asset_ids for g in listing.groups] == [(a, b, c, e)] and listing.version == "v1"
    strict = list_duplicates(session_factory, threshold=0.96)  # c's pair drops: two groups
    assert [g.asset_ids for g in strict.groups] == [(a, b), (c, e)]
    inside = list_duplicates(session_factory, dataset="one")  # e is in dataset two
    assert [g.asset_ids for g in inside.groups] == [(a, b, c)]


def test_a_rerun_replaces_what_it_recorded(session_factory: sessionmaker[Session]) -> None:
    version, ids = _setup(session_factory)
    _record(session_factory, version, (ids["b"], ids["a"], 0.97))
    _record(session_factory, version, (ids["b"], ids["a"], 0.97))
    with db.session_scope(session_factory) as session:
        assert session.scalar(select(func.count()).select_from(NearDuplicate)) == 1


def test_deleting_either_asset_drops_the_relation(session_factory: sessionmaker[Session]) -> None:
    version, ids = _setup(session_factory)
    a, b, c, d = (ids[n] for n in "abcd")
    _record(session_factory, version, (b, a, 0.97), (d, c, 0.96))
    with db.session_scope(session_factory) as session:
        session.execute(delete(Asset).where(Asset.id.in_([a, d])))  # an original, a duplicate
    with db.session_scope(session_factory) as session:
        assert session.scalar(select(func.count()).select_from(NearDuplicate)) == 0
