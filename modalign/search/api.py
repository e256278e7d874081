"""The search interface: one :class:`SearchApi` Protocol and one :class:`QueryOptions` type.

Two clients implement it, :class:`~modalign.search.client.SearchClient` (in this process, over a
store) and :class:`~modalign.service.remote.RemoteSearchClient` (over HTTP), with the same
methods, arguments and result types, as qdrant-client's ``QdrantBase`` does for its local and
remote clients. Code that only searches and edits takes a ``SearchApi`` and works with either.

Every search takes the same keyword options (:class:`QueryOptions`); a key left out takes its
default from :class:`Options`, the one place the defaults live.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Protocol, TypedDict, Unpack

import numpy as np
from PIL import Image

from modalign.errors import InvalidInputError
from modalign.search.editing import DeleteOutcome
from modalign.search.filters import Filter
from modalign.search.results import AssetInfo, CaptionHit, ImageHit
from modalign.search.store import QueryParams

ImageInput = Image.Image | Path | str
VectorInput = np.ndarray | Sequence[float]


class QueryOptions(TypedDict, total=False):
    """Keyword options of every search (defaults in :class:`Options`)."""

    filter: Filter | None  # payload filter (modalign.search.filters)
    limit: int  # hits to return
    offset: int  # hits to skip
    score_threshold: float | None  # minimum cosine
    ef: int | None  # HNSW beam width of this query (default: the store's)
    exact: bool  # exact search, no HNSW
    oversampling: float | None  # quantized collections: rescore limit x this many candidates
    hydrate: bool  # read each hit's asset from the catalog
    collapse_duplicates: bool  # image searches: one hit per near-duplicate group
    mode: str | None  # text queries: vector, keyword or hybrid (None: the client's default)
    text_weight: float  # a text given with an image: its embedding's weight (the image's 1 - it)
    group_by_asset: bool  # caption searches: each image's best caption, once


@dataclass(frozen=True)
class Options:
    """:class:`QueryOptions` with every default filled in."""

    filter: Filter | None = None
    limit: int = 10
    offset: int = 0
    score_threshold: float | None = None
    ef: int | None = None
    exact: bool = False
    oversampling: float | None = None
    hydrate: bool = True
    collapse_duplicates: bool = False
    mode: str | None = None
    text_weight: float = 0.5
    group_by_asset: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.text_weight <= 1.0:  # False for NaN too
            raise InvalidInputError(f"text_weight must be in [0, 1], got {self.text_weight}")

    @classmethod
    def of(cls, options: QueryOptions) -> Options:
        """The options given, defaults for the rest; an unknown name is an InvalidInputError."""
        unknown = set(options) - OPTION_NAMES
        if unknown:
            raise InvalidInputError(
                f"unknown search option(s) {', '.join(sorted(unknown))}; "
                f"the options are {', '.join(sorted(OPTION_NAMES))}"
            )
        return cls(**options)

    def params(self) -> QueryParams:
        """The store's query knobs of these options."""
        return QueryParams(
            self.limit, self.offset, self.score_threshold, self.ef, self.exact, self.oversampling
        )


OPTION_NAMES = frozenset(field.name for field in fields(Options))


def check_query(
    text: str | None, image: ImageInput | None, vector: VectorInput | None
) -> None:
    """InvalidInputError unless the query is a text, an image, both, or a vector alone."""
    given = [x is not None for x in (text, image, vector)]
    if not any(given) or (given[2] and any(given[:2])):
        raise InvalidInputError("give text=, image= (or both: a combined query) or vector= (alone)")


class SearchApi(Protocol):
    """Search and edit an index: what both clients offer (see the module docstring)."""

    def search_images(
        self,
        *,
        text: str | None = None,
        image: ImageInput | None = None,
        vector: VectorInput | None = None,
        **options: Unpack[QueryOptions],
    ) -> list[ImageHit]:
        """Images nearest to a text, an image or a vector (exactly one of them)."""
        ...

    def search_captions(
        self,
        *,
        image: ImageInput | None = None,
        text: str | None = None,
        vector: VectorInput | None = None,
        **options: Unpack[QueryOptions],
    ) -> list[CaptionHit]:
        """Captions nearest to an image, a text or a vector (exactly one of them)."""
        ...

    def similar_images(self, asset_id: int, **options: Unpack[QueryOptions]) -> list[ImageHit]:
        """Images nearest to an indexed asset's image, the asset itself left out."""
        ...

    def delete_assets(
        self,
        asset_ids: Sequence[int] = (),
        *,
        dataset: str | None = None,
        filter: Filter | None = None,
        everything: bool = False,
        dry_run: bool = False,
    ) -> DeleteOutcome:
        """Delete assets by id, a dataset's memberships, or what ``filter`` matches, from every
        model version (an empty target is refused unless ``everything``)."""
        ...

    def update_asset(
        self,
        asset_id: int,
        *,
        captions: Sequence[str] | None = None,
        add_captions: Sequence[str] = (),
        remove_captions: Sequence[str] = (),
        tags: Sequence[str] | None = None,
        add_tags: Sequence[str] = (),
        remove_tags: Sequence[str] = (),
    ) -> AssetInfo:
        """Replace (``captions``, ``tags``), add or remove an asset's captions and tags; every
        model version's points follow."""
        ...
