"""Asset memberships: one per (dataset, uri), moved when the file's content changes, tags merged."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import db, repo
from modalign.catalog.models import Asset

from .helpers import make_asset


def _ids(factory: sessionmaker[Session], *names: str) -> list[int]:
    with db.session_scope(factory) as session:
        return [make_asset(session, name, tags=[]).id for name in names]


def test_memberships_are_recorded_once_and_bring_their_tags(
    session_factory: sessionmaker[Session],
) -> None:
    cat, dog = _ids(session_factory, "cat", "dog")
    members = [
        repo.NewMember(cat, "pets", "pets/cat.png", ("a cat",), ("animal",)),
        repo.NewMember(cat, "zoo", "zoo/cat.png", (), ("zoo",)),
        repo.NewMember(dog, "pets", "pets/dog.png", (), ()),
    ]
    with db.session_scope(session_factory) as session:
        changes = repo.record_members(session=session, members=members)
    assert (changes.added, changes.moved, changes.changed) == (3, 0, {cat, dog})
    with db.session_scope(session_factory) as session:
        again = repo.record_members(session=session, members=members)
        datasets = repo.datasets_of(session=session, asset_ids=[cat, dog])
        tags = {row.id: row.tags for row in session.execute(select(Asset.id, Asset.tags))}
        pets = repo.members_of_dataset(session=session, dataset="pets")
    assert not again and again.added == 0
    assert datasets == {cat: ["pets", "zoo"], dog: ["pets"]}
    assert tags[cat] == ["animal", "zoo"] and tags[dog] == []
    assert pets["pets/cat.png"].captions == ("a cat",)


def test_a_file_whose_content_changed_moves_its_membership(
    session_factory: sessionmaker[Session],
) -> None:
    old, new = _ids(session_factory, "old", "new")
    with db.session_scope(session_factory) as session:
        repo.record_members(session=session, members=[repo.NewMember(old, "d", "d/x.png")])
        repo.record_members(session=session, members=[repo.NewMember(old, "e", "e/x.png")])
    with db.session_scope(session_factory) as session:
        moved = [repo.NewMember(new, "d", "d/x.png")]
        changes = repo.record_members(session=session, members=moved)
        datasets = repo.datasets_of(session=session, asset_ids=[old, new])
        left = session.get(Asset, old)
        assert left is not None and (left.dataset, left.uri) == ("e", "e/x.png")
    assert (changes.moved, changes.changed, changes.left) == (1, {old, new}, {old})
    assert datasets == {old: ["e"], new: ["d"]}


def test_removed_members_and_the_primary_dataset(session_factory: sessionmaker[Session]) -> None:
    [cat] = _ids(session_factory, "cat")
    with db.session_scope(session_factory) as session:
        repo.record_members(session=session, members=[
            repo.NewMember(cat, "a", "a/cat.png"), repo.NewMember(cat, "b", "b/cat.png"),
        ])
        first = repo.members_of_assets(session=session, asset_ids=[cat])[cat][0]
        assert repo.remove_members(session=session, member_ids=[first.id, first.id]) == 1
        repo.refresh_primary(session=session, asset_ids=[cat])
    with db.session_scope(session_factory) as session:
        asset = session.get(Asset, cat)
        assert asset is not None and (asset.dataset, asset.uri) == ("b", "b/cat.png")
        assert repo.uri_hash("b/cat.png") == repo.uri_hash("b/cat.png") != repo.uri_hash("a")
