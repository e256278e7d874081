"""SearchClient: text -> image, image -> image, image/text -> caption, and "more like this asset".

Vector queries need no encoder. Text and image queries need one (anything with ``encode_texts`` /
``encode_images``, e.g. :class:`modalign.encoders.dual.DualEncoder`). A query is searched in one
model version: the client's ``version`` if given, else the encoder's ``version`` attribute for
encoded queries (its vectors live in that version's space), else the store's active version.
Every search takes the store's query knobs (:class:`~modalign.search.store.QueryParams`): paging,
``score_threshold``, ``ef``, ``exact`` and, for quantized collections, ``oversampling`` (rescoring
on the original vectors is always on here). A text query also takes a ``mode``
(:mod:`modalign.search.hybrid`): ``vector``, ``keyword`` (its words against the captions' and
tags' keyword vectors, :mod:`modalign.search.sparse`) or ``hybrid`` (both lists fused by the
engine). Left out, a text query takes the client's ``mode`` where the searched version has keyword
vectors and ``vector`` where it has none (versions made before keyword search), and an image or
vector query searches by vector only; a mode named explicitly is refused where it cannot apply. A
hybrid query whose text has no keywords (only stopwords or punctuation) is a vector query. A
text given together with an image is a *combined* query ("this picture, but red"): their unit
embeddings summed with weights ``text_weight`` and ``1 - text_weight`` and normalised again (a
hybrid one adds the text's keywords). ``group_by_asset=True`` on a caption search returns each
image's best caption once, fetching more captions as ``collapse_duplicates`` does. Hits
are hydrated with catalog metadata through an :class:`~modalign.search.hydrate.AssetLookup`: one
lookup per call for all hits.

``collapse_duplicates=True`` on an image search keeps one hit, the best-scoring, of each
near-duplicate group (groups from a :class:`~modalign.search.hydrate.GroupLookup`, the catalog's
relations in the searched version). It asks the store for more hits than wanted
(``COLLAPSE_FETCH`` times offset + limit, then more while groups ate them, up to
``COLLAPSE_MAX``), so that ``limit`` hits remain where the collection has them; ``offset``
counts collapsed hits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar, Unpack

import numpy as np
from PIL import Image

from modalign.config import IngestSettings
from modalign.errors import EncoderError, InvalidInputError, NotFoundError
from modalign.images import decode_bytes, normalise
from modalign.search.api import ImageInput, Options, QueryOptions, VectorInput, check_query
from modalign.search.checks import MAX_LIMIT
from modalign.search.editing import CollectionEditor, DeleteOutcome, DeleteTarget, ListEdit
from modalign.search.filters import Filter, Match, without
from modalign.search.hybrid import DEFAULT_MODE, SearchMode, check_mode
from modalign.search.hydrate import AssetLookup, GroupLookup
from modalign.search.naming import Kind
from modalign.search.results import AssetInfo, CaptionHit, ImageHit
from modalign.search.sparse import LazyKeywords, SparseVector
from modalign.search.store import Hit, QueryParams, VectorStore

H = TypeVar("H", ImageHit, CaptionHit)
COLLAPSE_FETCH = 3  # hits asked for per hit wanted, when collapsing near-duplicate groups
COLLAPSE_MAX = MAX_LIMIT  # the most hits one collapsed or grouped search asks the store for


class QueryEncoder(Protocol):
    """What the client needs to embed text and image queries (rows L2-normalised)."""

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...


class SearchClient:
    """The programmatic search API (:class:`~modalign.search.api.SearchApi`) over a
    :class:`~modalign.search.store.VectorStore`."""

    def __init__(
        self,
        store: VectorStore,
        *,
        encoder: QueryEncoder | None = None,
        assets: AssetLookup | None = None,
        version: str | None = None,
        editor: CollectionEditor | None = None,
        groups: GroupLookup | None = None,
        mode: str = DEFAULT_MODE,
        keywords: LazyKeywords | None = None,
    ) -> None:
        """``mode``: the default of text queries (``store.search_mode``); ``keywords``: where
        the keyword encoder of text queries comes from (loaded on first use)."""
        self._store = store
        self._encoder = encoder
        self._assets = assets
        self._version = version
        self._editor = editor
        if groups is None and isinstance(assets, GroupLookup):
            groups = assets
        self._groups = groups
        self._mode = check_mode(mode)
        self._keywords = keywords or LazyKeywords()

    def search_images(
        self,
        *,
        text: str | None = None,
        image: ImageInput | None = None,
        vector: VectorInput | None = None,
        **options: Unpack[QueryOptions],
    ) -> list[ImageHit]:
        """Images nearest to a text, an image or a vector (exactly one of them); one per
        near-duplicate group with ``collapse_duplicates`` (see the module docstring)."""
        chosen = _image_options(options)
        query = self._query(text, image, vector, chosen)
        hits = self._image_query(query, chosen.filter, chosen)
        return self._finish([_image_hit(h) for h in hits], chosen.hydrate)

    def search_captions(
        self,
        *,
        image: ImageInput | None = None,
        text: str | None = None,
        vector: VectorInput | None = None,
        **options: Unpack[QueryOptions],
    ) -> list[CaptionHit]:
        """Captions nearest to an image, a text or a vector (exactly one of them)."""
        chosen = Options.of(options)
        if chosen.collapse_duplicates:
            raise InvalidInputError("collapse_duplicates applies to image searches, not captions")
        query = self._query(text, image, vector, chosen)
        hits = self._caption_query(query, chosen.filter, chosen)
        return self._finish([_caption_hit(h) for h in hits], chosen.hydrate)

    def similar_images(self, asset_id: int, **options: Unpack[QueryOptions]) -> list[ImageHit]:
        """Images nearest to an indexed asset's image, the asset itself left out; one per
        near-duplicate group with ``collapse_duplicates`` (see the module docstring)."""
        chosen = _image_options(options)
        if chosen.mode not in (None, "vector"):
            raise InvalidInputError(f"similar_images searches by vector; mode {chosen.mode!r}")
        version = self._store.resolve(self._version)
        query = _Query("vector", self._stored_vector(asset_id, version), version)
        combined = without(chosen.filter, Match(field="asset_id", value=asset_id))
        hits = self._image_query(query, combined, chosen)
        return self._finish([_image_hit(h) for h in hits], chosen.hydrate)

    # -- editing the collection --------------------------------------------------------------

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
        target = DeleteTarget(tuple(asset_ids), dataset, filter, everything)
        return self._need_editor().delete_assets(target, dry_run=dry_run)

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
        return self._need_editor().update_asset(
            asset_id,
            captions=ListEdit.of(captions, add_captions, remove_captions),
            tags=ListEdit.of(tags, add_tags, remove_tags),
        )

    # -- internals ---------------------------------------------------------------------------

    def _image_query(self, query: _Query, filter: Filter | None, chosen: Options) -> list[Hit]:
        params = replace(chosen.params(), mode=query.mode)
        if chosen.collapse_duplicates:
            return self._distinct(Kind.IMAGES, query, filter, params, self._group_keys)
        return self._store.query(
            Kind.IMAGES, query.dense, sparse=query.sparse, filter=filter, params=params,
            version=query.version,
        )

    def _caption_query(self, query: _Query, filter: Filter | None, chosen: Options) -> list[Hit]:
        params = replace(chosen.params(), mode=query.mode)
        if chosen.group_by_asset:
            return self._distinct(Kind.CAPTIONS, query, filter, params, _asset_keys)
        return self._store.query(
            Kind.CAPTIONS, query.dense, sparse=query.sparse, filter=filter, params=params,
            version=query.version,
        )

    def _distinct(
        self,
        kind: Kind,
        query: _Query,
        filter: Filter | None,
        params: QueryParams,
        keys: Callable[[list[Hit], str], list[int]],
    ) -> list[Hit]:
        """The best hit of each key (``keys`` names each hit's), paged: the store is asked for
        ``COLLAPSE_FETCH`` times the hits wanted, then more while keys repeat."""
        resolved = self._store.resolve(query.version)
        wanted = params.offset + params.limit
        fetch = min(wanted * COLLAPSE_FETCH, COLLAPSE_MAX)
        while True:
            asked = replace(params, limit=fetch, offset=0)
            hits = self._store.query(
                kind, query.dense, sparse=query.sparse, filter=filter, params=asked,
                version=resolved,
            )
            kept = _first_of_each(hits, keys(hits, resolved))
            if len(kept) >= wanted or len(hits) < fetch or fetch >= COLLAPSE_MAX:
                return kept[params.offset : wanted]
            fetch = min(fetch * COLLAPSE_FETCH, COLLAPSE_MAX)

    def _group_keys(self, hits: list[Hit], version: str) -> list[int]:
        """Each hit's near-duplicate group (its asset id when it is in none)."""
        if self._groups is None:
            raise InvalidInputError(
                "collapsing near-duplicates needs the catalog: pass assets= or groups="
            )
        ids = _asset_keys(hits, version)
        groups = self._groups.groups(list(dict.fromkeys(ids)), version)
        return [groups.get(asset_id, asset_id) for asset_id in ids]

    def _need_editor(self) -> CollectionEditor:
        if self._editor is None:
            raise InvalidInputError("this client edits nothing: pass editor= to SearchClient")
        return self._editor

    def _query(
        self,
        text: str | None,
        image: ImageInput | None,
        vector: VectorInput | None,
        chosen: Options,
    ) -> _Query:
        """The query's vectors in its mode (see the module docstring)."""
        check_query(text, image, vector)
        mode = check_mode(chosen.mode) if chosen.mode is not None else self._default_mode(text)
        if mode == "vector":
            return _Query("vector", *self._query_vector(text, image, vector, chosen.text_weight))
        if text is None or (mode == "keyword" and image is not None):
            raise InvalidInputError(
                f"mode {mode!r} searches by the words of a text query: give text="
                + (" only" if mode == "keyword" else "")
                + " (image and vector queries search with mode 'vector')"
            )
        sparse = self._keywords.get().query(_check_text(text))
        if not sparse and mode == "hybrid":
            return _Query("vector", *self._query_vector(text, image, None, chosen.text_weight))
        if not sparse:
            raise InvalidInputError(
                f"the query {text!r} has no keywords (only stopwords or punctuation)"
            )
        if mode == "keyword":
            return _Query("keyword", None, self._version or self._encoder_version(), sparse)
        dense, version = self._query_vector(text, image, None, chosen.text_weight)
        return _Query("hybrid", dense, version, sparse)

    def _default_mode(self, text: str | None) -> SearchMode:
        """The client's mode for a text query on a version with keyword vectors, else vector."""
        if text is None or self._mode == "vector":
            return "vector"
        version = self._version or self._encoder_version()
        return self._mode if self._store.has_keywords(version) else "vector"

    def _encoder_version(self) -> str | None:
        return getattr(self._encoder, "version", None) if self._encoder is not None else None

    def _query_vector(
        self,
        text: str | None,
        image: ImageInput | None,
        vector: VectorInput | None,
        text_weight: float,
    ) -> tuple[VectorInput, str | None]:
        """The query's dense vector: given, encoded, or (text and image) their weighted sum."""
        if vector is not None:
            return vector, self._version
        encoder = self._need_encoder()
        version = self._version or getattr(encoder, "version", None)
        rows = []
        if text is not None:
            rows.append((text_weight, _first_row(encoder.encode_texts, [_check_text(text)])))
        if image is not None:
            pixels = _open_image(image)
            rows.append((1.0 - text_weight, _first_row(encoder.encode_images, [pixels])))
        if len(rows) == 1:
            return rows[0][1], version
        return _combined(rows), version

    def _need_encoder(self) -> QueryEncoder:
        if self._encoder is None:
            raise InvalidInputError("text and image queries need an encoder; pass vector=")
        return self._encoder

    def _stored_vector(self, asset_id: int, version: str) -> np.ndarray:
        found = self._store.scroll(
            Kind.IMAGES,
            filter=Filter(must=[Match(field="asset_id", value=asset_id)]),
            limit=1,
            with_vectors=True,
            version=version,
        )
        if not found or found[0].vector is None:
            raise NotFoundError(f"asset {asset_id} has no image in model version {version!r}")
        return found[0].vector

    def _finish(self, hits: list[H], hydrate: bool) -> list[H]:
        if not hydrate or self._assets is None or not hits:
            return hits
        found = self._assets.assets(list(dict.fromkeys(h.asset_id for h in hits)))
        return [_with_asset(h, found) for h in hits]


class _Query(NamedTuple):
    """What a search sends the store: its mode, dense and keyword vectors, and version."""

    mode: SearchMode
    dense: VectorInput | None
    version: str | None
    sparse: SparseVector | None = None


def _image_options(options: QueryOptions) -> Options:
    """The options of an image search, where each image is one point: no grouping by asset."""
    chosen = Options.of(options)
    if chosen.group_by_asset:
        raise InvalidInputError("group_by_asset applies to caption searches only")
    return chosen


def _combined(rows: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """The unit-length weighted sum of a text's and an image's embeddings."""
    mixed = sum(weight * row.astype(np.float64) for weight, row in rows)
    norm = float(np.linalg.norm(mixed))
    if not np.isfinite(norm) or norm < 1e-9:
        raise InvalidInputError("the text and image embeddings cancel out; change text_weight")
    return np.asarray(mixed / norm, dtype=np.float32)


def _asset_keys(hits: list[Hit], version: str) -> list[int]:
    """Each hit's asset id (``version`` unused: the keys of ``SearchClient._distinct``)."""
    return [int(h.payload.get("asset_id", -1)) for h in hits]


def _first_of_each(hits: list[Hit], keys: list[int]) -> list[Hit]:
    """The first (best-scoring) hit of each key, in order."""
    seen: set[int] = set()
    kept: list[Hit] = []
    for hit, key in zip(hits, keys, strict=True):
        if key not in seen:
            seen.add(key)
            kept.append(hit)
    return kept


def _with_asset(hit: H, found: Mapping[int, AssetInfo]) -> H:
    return replace(hit, asset=found.get(hit.asset_id))


def _image_hit(hit: Hit) -> ImageHit:
    return ImageHit(hit.id, hit.score, int(hit.payload.get("asset_id", -1)), hit.payload)


def _caption_hit(hit: Hit) -> CaptionHit:
    p = hit.payload
    return CaptionHit(
        hit.id,
        hit.score,
        int(p.get("asset_id", -1)),
        str(p.get("text", "")),
        int(p.get("position", 0)),
        str(p.get("image_point_id", "")),
        p,
    )


def _check_text(text: str) -> str:
    if not text.strip():
        raise InvalidInputError("the query text is empty")
    return text


def _open_image(image: ImageInput) -> Image.Image:
    """The query image as ingestion decodes an item (:mod:`modalign.images`: EXIF-rotated,
    transparency over white, 16-bit and float scaled), a file under ingestion's default limits."""
    if isinstance(image, Image.Image):
        return normalise(image)
    try:
        data = Path(image).read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read query image {image}: {exc.strerror or exc}") from exc
    return decode_bytes(data, IngestSettings()).image


def _first_row(encode: Callable[[Any], np.ndarray], batch: list[Any]) -> np.ndarray:
    try:
        rows = np.asarray(encode(batch), dtype=np.float32)
    except (InvalidInputError, EncoderError):
        raise
    except Exception as exc:
        raise EncoderError(f"encoding the query failed: {exc}") from exc
    if rows.ndim != 2 or rows.shape[0] != 1:
        raise EncoderError(f"the encoder returned shape {rows.shape} for one query")
    row: np.ndarray = rows[0]
    return row
