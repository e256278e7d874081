"""Editing the collection through a client: what a delete or an edit asks for, and the interface
that carries it out.

:class:`~modalign.search.client.SearchClient` and
:class:`~modalign.service.remote.RemoteSearchClient` offer the same ``delete_assets`` and
``update_asset``; the embedded client hands them to a :class:`CollectionEditor` (the catalog and
the store in this process: :class:`modalign.ingest.editor.CatalogEditor`), the remote one to the
service's HTTP API. The values here are plain, so ``search`` need not import ``ingest``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from modalign.search.filters import Filter
from modalign.search.results import AssetInfo

SAMPLE = 20


@dataclass(frozen=True)
class ListEdit:
    """A change to a list of texts: ``replace`` it whole, or ``add`` and ``remove`` items."""

    replace: tuple[str, ...] | None = None
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.replace is not None or bool(self.add or self.remove)

    @classmethod
    def of(
        cls, replace: object = None, add: object = (), remove: object = ()
    ) -> ListEdit:
        """From loose arguments (a sequence of strings or None each)."""
        return cls(
            None if replace is None else _texts(replace), _texts(add), _texts(remove)
        )


def _texts(values: object) -> tuple[str, ...]:
    if isinstance(values, str):
        return (values,)
    return tuple(str(v) for v in values)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class DeleteTarget:
    """What to delete: any of asset ids, a dataset, a filter; ``everything`` to mean all."""

    asset_ids: tuple[int, ...] = ()
    dataset: str | None = None
    filter: Filter | None = None
    everything: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "asset_ids": list(self.asset_ids[:SAMPLE]), "dataset": self.dataset,
            "filter": self.filter.model_dump(mode="json") if self.filter else None,
            "all": self.everything,
        }


@dataclass(frozen=True)
class DeleteOutcome:
    """What a delete did (or, as a dry run, would do): the job that ran it and its counts."""

    assets: int
    memberships: int
    sample: list[str] = field(default_factory=list)
    dry_run: bool = False
    job_id: int | None = None
    status: str | None = None


class CollectionEditor(Protocol):
    """Carries out deletes and edits for a client (see the module docstring)."""

    def delete_assets(self, target: DeleteTarget, *, dry_run: bool = False) -> DeleteOutcome: ...

    def update_asset(self, asset_id: int, *, captions: ListEdit, tags: ListEdit) -> AssetInfo: ...
