"""Near-duplicate groups as recorded at ingestion: the connected components of a model version's
relations (:mod:`modalign.catalog.repo.duplicates`), optionally within one dataset and at a
cosine at least some threshold.

Only recorded pairs are listed. Ingestion records a pair when a new image is within
``ingest.near_duplicate_threshold`` of its nearest indexed image (or of an earlier image of its
batch), so a threshold looser than the one in force at ingestion finds nothing more; a stricter
one drops pairs below it, which may split a group in two.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import ModelVersion
from modalign.errors import InvalidInputError, NotFoundError

N = TypeVar("N", bound=Hashable)


@dataclass(frozen=True)
class DuplicatePair:
    """One recorded relation: ``asset_id`` is a near-duplicate of ``original_asset_id``."""

    asset_id: int
    original_asset_id: int
    cosine: float


@dataclass(frozen=True)
class DuplicateGroup:
    """Assets tied by recorded pairs (smallest id first), and those pairs."""

    asset_ids: tuple[int, ...]
    pairs: tuple[DuplicatePair, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"asset_ids": list(self.asset_ids), "pairs": [asdict(p) for p in self.pairs]}


@dataclass(frozen=True)
class DuplicateListing:
    """The groups of one model version (largest first), and what was asked."""

    version: str
    dataset: str | None
    threshold: float | None
    groups: tuple[DuplicateGroup, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version, "dataset": self.dataset, "threshold": self.threshold,
            "groups": [g.to_dict() for g in self.groups],
        }


def check_threshold(threshold: float | None) -> float | None:
    """The threshold, or InvalidInputError when it is not a cosine in (0, 1]."""
    if threshold is not None and not 0.0 < threshold <= 1.0:
        raise InvalidInputError(
            f"near-duplicate threshold {threshold} is out of range: give a cosine in (0, 1]"
        )
    return threshold


def list_duplicates(
    sessions: sessionmaker[Session],
    *,
    version: str | None = None,
    dataset: str | None = None,
    threshold: float | None = None,
) -> DuplicateListing:
    """The recorded groups of ``version`` (default: the active one); see the module docstring."""
    check_threshold(threshold)
    with session_scope(sessions) as session:
        model = _version(session, version)
        rows = repo.near_duplicate_pairs(
            session=session, model_version_id=model.id, dataset=dataset, min_cosine=threshold
        )
        name = model.name
    return DuplicateListing(name, dataset, threshold, tuple(components(rows)))


def _version(session: Session, version: str | None) -> ModelVersion:
    if version is not None:
        return repo.get_model_version(session=session, ref=version)
    active = repo.get_active_model_version(session=session)
    if active is None:
        raise NotFoundError("no model version is active: name one")
    return active


def components(rows: Sequence[repo.NearDuplicateRow]) -> list[DuplicateGroup]:
    """The connected components of the pairs, largest first (then by smallest asset id)."""
    root = connected([(row.asset_id, row.original_asset_id) for row in rows])
    members: dict[int, list[int]] = {}
    for asset, top in root.items():
        members.setdefault(top, []).append(asset)
    pairs: dict[int, list[DuplicatePair]] = {}
    for row in rows:
        pair = DuplicatePair(row.asset_id, row.original_asset_id, round(row.cosine, 6))
        pairs.setdefault(root[row.asset_id], []).append(pair)
    groups = [DuplicateGroup(tuple(sorted(ids)), tuple(pairs[r])) for r, ids in members.items()]
    return sorted(groups, key=lambda g: (-len(g.asset_ids), g.asset_ids[0]))


def connected(edges: Iterable[tuple[N, N]]) -> dict[N, N]:
    """Each node of ``edges`` mapped to its component's representative (union-find)."""
    parent: dict[N, N] = {}

    def root(a: N) -> N:
        parent.setdefault(a, a)
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in edges:
        parent[root(a)] = root(b)
    return {node: root(node) for node in list(parent)}
