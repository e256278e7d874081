"""Assets, captions and embedded-markers in the repository."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import db, repo
from modalign.catalog.models import Asset, Caption
from modalign.errors import NotFoundError

from .helpers import make_asset


@contextmanager
def counting_statements(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_normalise_caption() -> None:
    assert repo.normalise_caption("  Grinning\tFACE\n with ﬁre  ") == "grinning face with fire"
    assert repo.normalise_caption("Straße") == repo.normalise_caption("STRASSE")
    assert repo.caption_hash("A  Cat") == repo.caption_hash("a cat ")
    assert repo.caption_hash("a cat") != repo.caption_hash("a dog")
    assert len(repo.caption_hash("x")) == 64


def test_upsert_twice_leaves_one_row(session_factory: sessionmaker[Session]) -> None:
    digest = repo.content_hash(b"pixels")
    fields: dict[str, Any] = {
        "content_hash": digest, "uri": "file:///a.png", "width": 10, "height": 20,
        "mime": "image/png", "size_bytes": 6, "source": "folder", "dataset": "d",
        "tags": ["x", "y", "x"],
    }
    with db.session_scope(session_factory) as session:
        first = repo.upsert_asset(session=session, **fields)
    with db.session_scope(session_factory) as session:
        second = repo.upsert_asset(session=session, **{**fields, "uri": "file:///b.png"})
        count = session.scalar(select(func.count()).select_from(Asset))
    assert first.created and not second.created
    assert first.asset.id == second.asset.id
    assert second.asset.uri == "file:///a.png"
    assert first.asset.tags == ["x", "y"]
    assert count == 1


def test_add_captions_dedupes_and_orders(session_factory: sessionmaker[Session]) -> None:
    with db.session_scope(session_factory) as session:
        asset = make_asset(session, "cat")
        first = repo.add_captions(
            session=session, asset_id=asset.id, texts=["A cat", "  ", "a  CAT", "sleeping cat"]
        )
    with db.session_scope(session_factory) as session:
        again = repo.add_captions(
            session=session, asset_id=asset.id, texts=["Sleeping cat", "cat on a mat"]
        )
        stored = session.scalars(
            select(Caption).where(Caption.asset_id == asset.id).order_by(Caption.position)
        ).all()
    assert [c.text for c in first] == ["A cat", "sleeping cat"]
    assert [c.text for c in again] == ["sleeping cat", "cat on a mat"]
    assert [(c.text, c.position) for c in stored] == [
        ("A cat", 0), ("sleeping cat", 1), ("cat on a mat", 2)
    ]
    assert stored[0].text_hash == repo.caption_hash("a cat")


def test_get_assets_is_one_round_of_statements(
    session_factory: sessionmaker[Session], catalog_engine: Engine
) -> None:
    with db.session_scope(session_factory) as session:
        ids = []
        for i in range(30):
            asset = make_asset(session, f"img{i}")
            repo.add_captions(session=session, asset_id=asset.id, texts=[f"name {i}", f"kw {i}"])
            ids.append(asset.id)
    for wanted in (ids[:1], ids, [*ids, 10_000]):
        with db.session_scope(session_factory) as session, counting_statements(
            catalog_engine
        ) as statements:
            found = repo.get_assets(session=session, ids=wanted)
            texts = {i: [c.text for c in a.captions] for i, a in found.items()}
        # One statement each for the assets, their captions, their memberships: never one per
        # asset.
        assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 3
        assert set(found) == set(wanted) - {10_000}
    assert texts[ids[3]] == ["name 3", "kw 3"]


def _new_asset(name: str) -> repo.NewAsset:
    return repo.NewAsset(
        content_hash=repo.content_hash(name.encode()), uri=f"file:///{name}.png", width=8,
        height=8, mime="image/png", size_bytes=1, source="folder", dataset="d", tags=["t"],
    )


def test_batch_upsert_is_a_few_statements_whatever_the_count(
    session_factory: sessionmaker[Session], catalog_engine: Engine
) -> None:
    with db.session_scope(session_factory) as session:
        old = make_asset(session, "old", uri="file:///kept.png")
    batch = [_new_asset(f"b{i}") for i in range(40)] + [_new_asset("old"), _new_asset("b0")]
    with db.session_scope(session_factory) as session, counting_statements(
        catalog_engine
    ) as statements:
        rows = repo.upsert_assets(session=session, assets=batch)
        captions = repo.add_captions_to_assets(
            session=session,
            texts_by_asset={row.asset.id: ["Name", "name", "kw, more"] for row in rows.values()},
        )
    # assets: one INSERT and one SELECT; captions: SELECT, INSERT, SELECT. Never one per asset.
    assert len([s for s in statements if not s.startswith("BEGIN")]) == 5
    assert len(rows) == 41 and set(rows) == {a.content_hash for a in batch}
    assert [rows[a.content_hash].created for a in batch[:2]] == [True, True]
    assert not rows[old.content_hash].created
    assert rows[old.content_hash].asset.uri == "file:///kept.png"
    assert all([c.text for c in texts] == ["Name", "kw, more"] for texts in captions.values())
    with db.session_scope(session_factory) as session:
        assert session.scalar(select(func.count()).select_from(Asset)) == 41
        assert session.scalar(select(func.count()).select_from(Caption)) == 82


def test_batch_captions_extend_each_asset_after_its_own(
    session_factory: sessionmaker[Session],
) -> None:
    with db.session_scope(session_factory) as session:
        a, b, c = (make_asset(session, name) for name in "abc")
        repo.add_captions(session=session, asset_id=a.id, texts=["a0", "a1"])
    with db.session_scope(session_factory) as session:
        got = repo.add_captions_to_assets(
            session=session, texts_by_asset={a.id: ["A1", "a2"], b.id: ["b0"], c.id: ["  "]}
        )
    assert {k: [(r.text, r.position) for r in v] for k, v in got.items()} == {
        a.id: [("a1", 1), ("a2", 2)], b.id: [("b0", 0)], c.id: []
    }


def test_get_assets_of_nothing_runs_no_query(
    session_factory: sessionmaker[Session], catalog_engine: Engine
) -> None:
    with db.session_scope(session_factory) as session, counting_statements(
        catalog_engine
    ) as statements:
        assert repo.get_assets(session=session, ids=[]) == {}
    assert [s for s in statements if "SELECT" in s.upper()] == []


def test_get_asset_and_by_hash(session_factory: sessionmaker[Session]) -> None:
    with db.session_scope(session_factory) as session:
        asset = make_asset(session, "one")
    with db.session_scope(session_factory) as session:
        assert repo.get_asset(session=session, asset_id=asset.id).content_hash == asset.content_hash
        found = repo.get_asset_by_hash(session=session, content_hash=asset.content_hash)
        assert found is not None and found.id == asset.id
        assert repo.get_asset_by_hash(session=session, content_hash="0" * 64) is None
        with pytest.raises(NotFoundError):
            repo.get_asset(session=session, asset_id=asset.id + 1)


def test_record_embedded_is_idempotent(session_factory: sessionmaker[Session]) -> None:
    with db.session_scope(session_factory) as session:
        assets = [make_asset(session, f"e{i}") for i in range(5)]
        version = repo.register_model_version(
            session=session, name="v1", dims=256, checkpoint_path="/m/v1"
        )
        other = repo.register_model_version(
            session=session, name="v2", dims=256, checkpoint_path="/m/v2"
        )
    ids = [a.id for a in assets]
    hashes = [a.content_hash for a in assets]
    with db.session_scope(session_factory) as session:
        added = [
            repo.record_embedded(session=session, asset_ids=chosen, model_version_id=version.id)
            for chosen in (ids[:3], ids, ids)
        ]
    assert added == [3, 2, 0]
    with db.session_scope(session_factory) as session:
        got = repo.embedded_hashes(session=session, model_version_id=version.id, hashes=hashes[1:])
        none = repo.embedded_hashes(session=session, model_version_id=other.id, hashes=hashes)
    assert got == set(hashes[1:])
    assert none == set()


def test_deleting_an_asset_deletes_its_captions(session_factory: sessionmaker[Session]) -> None:
    with db.session_scope(session_factory) as session:
        asset = make_asset(session, "gone")
        repo.add_captions(session=session, asset_id=asset.id, texts=["a", "b"])
    with db.session_scope(session_factory) as session:
        session.execute(delete(Asset))
    with db.session_scope(session_factory) as session:
        assert session.scalar(select(func.count()).select_from(Caption)) == 0
