"""Editing captions and tags: the catalog changes, every version's points follow (new captions
encoded, removed ones deleted, tags on both collections), bad edits change nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.errors import InvalidInputError, NotFoundError
from modalign.ingest.check import check
from modalign.ingest.edits import update_asset
from modalign.ingest.payloads import by_content
from modalign.ingest.resources import IngestResources
from modalign.search.editing import ListEdit
from modalign.search.filters import Filter, Match
from modalign.search.naming import Kind

from .helpers import TINY_MODEL
from .lifecycle import asset_ids, folder_of, hash_of, ingest

V = TINY_MODEL


def _captions_in_store(res: IngestResources, content_hash: str) -> dict[str, int]:
    with res.store.use() as store:
        records = store.scroll(Kind.CAPTIONS, filter=by_content(content_hash), version=V)
    return {str(r.payload["text"]): int(r.payload["position"]) for r in records}


def test_captions_and_tags_are_replaced_added_and_removed(
    any_resources: IngestResources, tmp_path: Path
) -> None:
    res = any_resources
    ingest(res, folder_of(tmp_path / "f", {"a": 1, "b": 2}), "f", ["old"])
    asset = asset_ids(res)["a"]
    digest = hash_of(res, asset)
    update_asset(res, asset, captions=ListEdit(replace=("a red kite", "a kite in the sky")))
    assert _captions_in_store(res, digest) == {"a red kite": 0, "a kite in the sky": 1}
    done = update_asset(
        res, asset, captions=ListEdit(add=("a toy",), remove=("A RED  kite",)),
        tags=ListEdit(add=("kite",), remove=("old",)),
    )
    assert done.captions == ["a kite in the sky", "a toy"] and done.tags == ["kite"]
    assert _captions_in_store(res, digest) == {"a kite in the sky": 0, "a toy": 1}
    with res.store.use() as store:
        kite = Filter(must=[Match(field="tags", value="kite")])
        assert [store.count(k, filter=kite, version=V) for k in Kind] == [1, 2]
        assert check(res.sessions, store).clean
        encoder = res.encoder(V)
        query = encoder.encode_texts(["a toy"])[0]
        [hit] = store.query(Kind.CAPTIONS, query, filter=by_content(digest), version=V)[:1]
    assert hit.payload["text"] == "a toy" and np.isclose(hit.score, 1.0, atol=1e-4)


def test_bad_edits_change_nothing(resources: IngestResources, tmp_path: Path) -> None:
    ingest(resources, folder_of(tmp_path / "f", {"a": 1}), "f")
    asset = asset_ids(resources)["a"]
    with pytest.raises(InvalidInputError, match="no caption 'nope'"):
        update_asset(resources, asset, captions=ListEdit(add=("new",), remove=("nope",)))
    with pytest.raises(InvalidInputError, match="no tag"):
        update_asset(resources, asset, tags=ListEdit(remove=("x",)))
    with pytest.raises(InvalidInputError, match="nothing to change"):
        update_asset(resources, asset)
    with pytest.raises(NotFoundError):
        update_asset(resources, 999, tags=ListEdit(add=("x",)))
    with session_scope(resources.sessions) as session:
        texts = [c.text for c in repo.get_asset(session=session, asset_id=asset).captions]
    assert texts == ["the picture a"]
