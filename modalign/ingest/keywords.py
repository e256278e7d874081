"""Keyword vectors of the points the catalog expects (what a repair or an edit writes).

An image point's keyword vector is made of every caption of its asset and its tags, a caption
point's of its text (:mod:`modalign.search.sparse`). Editing an asset's captions changes its
image point's keywords without changing that point's payload, so an edit rewrites them
(:func:`refresh_image_keywords`); the image's dense vector and payload are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from modalign.ingest.check import Expected, VersionCheck
from modalign.search.naming import Kind
from modalign.search.schema import CaptionPayload
from modalign.search.sparse import KeywordEncoder, SparseVector, image_text
from modalign.search.store import PointIn, VectorStore


class ExpectedKeywords:
    """The keyword vector of each point one version's check expects."""

    def __init__(self, version: VersionCheck, keywords: KeywordEncoder) -> None:
        self._expected = version.expected
        self._keywords = keywords
        self._captions: dict[int, list[str]] = {}
        for item in version.expected.get(Kind.CAPTIONS, {}).values():
            if isinstance(item.payload, CaptionPayload):
                self._captions.setdefault(item.asset_id, []).append(item.payload.text)

    def of(self, kind: Kind, point_id: str) -> SparseVector:
        item: Expected = self._expected[kind][point_id]
        if isinstance(item.payload, CaptionPayload):
            return self._keywords.document([item.payload.text])
        texts = image_text(self._captions.get(item.asset_id, []), item.payload.tags)
        return self._keywords.document(texts)


def refresh_image_keywords(
    store: VectorStore, versions: Iterable[VersionCheck], keywords: KeywordEncoder
) -> int:
    """Rewrite the image points whose stored keywords differ from the expected ones, in every
    version that has keyword vectors; returns how many were rewritten."""
    rewritten = 0
    for version in versions:
        if not store.info(Kind.IMAGES, version=version.version).keywords:
            continue
        expected = ExpectedKeywords(version, keywords)
        wanted = version.expected.get(Kind.IMAGES, {})
        points = _stale_points(store, version.version, wanted, expected)
        store.upsert(Kind.IMAGES, points, version=version.version)
        rewritten += len(points)
    return rewritten


def _stale_points(
    store: VectorStore, version: str, wanted: Mapping[str, Expected], expected: ExpectedKeywords
) -> list[PointIn]:
    points = []
    for record in store.retrieve(Kind.IMAGES, list(wanted), with_vectors=True, version=version):
        sparse = expected.of(Kind.IMAGES, record.id)
        if record.vector is not None and record.sparse != sparse:
            points.append(PointIn(record.id, record.vector, wanted[record.id].payload, sparse))
    return points
