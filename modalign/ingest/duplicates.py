"""Near-duplicate detection at ingestion: a new image within the threshold cosine of an image
already indexed in the model version, or of an earlier image of its own batch.

Exact byte duplicates never get here: items of one content hash are one asset (the point id is
the content hash's), found by :mod:`~modalign.ingest.skip`. For the rest, after the batch is
encoded and before anything is written (:mod:`~modalign.ingest.write`):

- each new image's nearest few points of the version's images collection are asked for (one
  store query per image, with the threshold as the score floor); points of this batch's own new
  images are left out, since they are in the store only when an earlier delivery of the batch
  was cut short after its upsert, and the comparison below covers them;
- the batch's unit vectors are compared with each other at once (one matrix product), and an
  image may be a near-duplicate of an *earlier* image of the batch only, so two images of one
  batch never name each other.

The nearest of both, at or above the threshold, is the image's original. What happens then is
``ingest.near_duplicates``: ``link`` records the relation in the catalog (in the transaction that
records the batch's assets, so a retry replaces it with the same answer), ``skip`` leaves an
image new to the catalog out (its items are skipped naming the original; under ``skip`` an
earlier image of the batch that is itself skipped is no original); an image the catalog already
holds (embedded into another model version) is linked, never skipped. ``off`` looks for nothing.
Two batches written at the same time (Celery workers) do not see each other's images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from modalign.catalog import repo
from modalign.config import IngestSettings
from modalign.ingest.skip import AssetWork
from modalign.search.naming import Kind
from modalign.search.store import QueryParams, VectorStore

NEIGHBOURS = 3  # store hits per new image: room for the batch's own points after a retry


@dataclass(frozen=True)
class Original:
    """What a new image is a near-duplicate of: an indexed asset, or an earlier image of the
    batch (its content hash; its asset id is known once the batch's assets are recorded)."""

    cosine: float
    asset_id: int | None = None
    content_hash: str | None = None

    def resolve(self, assets: Mapping[str, int]) -> int:
        """The original's asset id, given the batch's content hash -> asset id."""
        if self.asset_id is not None:
            return self.asset_id
        assert self.content_hash is not None
        return assets[self.content_hash]


@dataclass(frozen=True)
class Policy:
    """How a batch treats near-duplicates (from ``ingest.near_duplicates`` and its threshold)."""

    mode: Literal["off", "link", "skip"] = "off"
    threshold: float = 1.0

    @classmethod
    def of(cls, settings: IngestSettings) -> Policy:
        return cls(settings.near_duplicates, settings.near_duplicate_threshold)

    @property
    def skips(self) -> bool:
        return self.mode == "skip"


def skippable(work: AssetWork, policy: Policy) -> bool:
    """Whether a near-duplicate image is left out: under ``skip``, when it is new to the catalog."""
    return policy.skips and work.asset_id is None


def find_near_duplicates(
    store: VectorStore, version: str, works: Sequence[AssetWork], policy: Policy
) -> dict[str, Original]:
    """Content hash of each new image of the batch that has an original -> that original."""
    new = [w for w in works if w.error is None and w.image_vector is not None]
    if policy.mode == "off" or not new:
        return {}
    indexed = _nearest_indexed(store, version, new, policy.threshold)
    vectors = _unit_rows([w.image_vector for w in new if w.image_vector is not None])
    within = vectors @ vectors.T
    found: dict[str, Original] = {}
    for i, work in enumerate(new):
        candidates = [indexed[work.content_hash]] if work.content_hash in indexed else []
        earlier = _nearest_earlier(within[i, :i], new, found, policy)
        candidates += [] if earlier is None else [earlier]
        best = max(candidates, key=lambda o: o.cosine, default=None)
        if best is not None and best.cosine >= policy.threshold:
            found[work.content_hash] = best
    return found


def _nearest_earlier(
    row: np.ndarray, new: Sequence[AssetWork], found: Mapping[str, Original], policy: Policy
) -> Original | None:
    """The most similar earlier image of the batch that can be an original (one skipped is not)."""
    best: Original | None = None
    for j in np.argsort(-row, kind="stable"):
        work = new[int(j)]
        if work.content_hash in found and skippable(work, policy):
            continue
        best = Original(float(row[j]), content_hash=work.content_hash)
        break
    return best


def _nearest_indexed(
    store: VectorStore, version: str, new: Sequence[AssetWork], threshold: float
) -> dict[str, Original]:
    """Content hash -> the nearest indexed image at or above the threshold (not of the batch)."""
    if version not in store.versions():
        return {}
    batch = {w.content_hash for w in new}
    params = QueryParams(limit=NEIGHBOURS, score_threshold=threshold)
    found: dict[str, Original] = {}
    for work in new:
        assert work.image_vector is not None
        hits = store.query(Kind.IMAGES, work.image_vector, params=params, version=version)
        outside = [h for h in hits if h.payload.get("content_hash") not in batch]
        if outside:
            found[work.content_hash] = Original(
                float(outside[0].score), asset_id=int(outside[0].payload["asset_id"])
            )
    return found


def _unit_rows(vectors: Sequence[np.ndarray]) -> np.ndarray:
    rows = np.asarray(np.stack(vectors), dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: np.ndarray = rows / np.maximum(norms, 1e-12)
    return unit


def relation_rows(
    works: Sequence[AssetWork], originals: Mapping[str, Original], assets: Mapping[str, int]
) -> list[repo.NewNearDuplicate]:
    """The relations to record for the batch's linked images, in batch order."""
    return [
        repo.NewNearDuplicate(
            assets[w.content_hash], originals[w.content_hash].resolve(assets),
            originals[w.content_hash].cosine,
        )
        for w in works
        if w.content_hash in originals and w.content_hash in assets
    ]


def skip_reason(original: Original, assets: Mapping[str, int]) -> str:
    """The outcome note of an item left out as a near-duplicate."""
    return f"near-duplicate of asset {original.resolve(assets)} (cosine {original.cosine:.3f})"
