"""One call that opens what a search needs: the store, the catalog and the query encoder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from modalign.config import Settings
from modalign.search.client import SearchClient
from modalign.search.factory import open_store


@contextmanager
def open_search_client(settings: Settings, *, encoder: bool = True) -> Iterator[SearchClient]:
    """A :class:`SearchClient` over the settings' store and catalog, closed on exit.

    With ``encoder`` (the default) the active model version (or ``settings.encoders.model``) is
    loaded for text and image queries; without it only ``similar_images`` and vector queries work,
    and nothing is loaded. The embedded store is owned by one process: close the client (leave the
    ``with`` block) before another process opens the same data directory.
    """
    from modalign.catalog.db import make_engine, make_session_factory
    from modalign.search.hydrate import CatalogLookup

    store = open_store(settings)
    engine = make_engine(settings.database_url, echo=settings.database.echo)
    try:
        query_encoder = None
        if encoder:
            from modalign.encoders.load import load_dual_encoder

            query_encoder = load_dual_encoder(settings)
        lookup = CatalogLookup(make_session_factory(engine))
        yield SearchClient(
            store, encoder=query_encoder, assets=lookup, mode=settings.store.search_mode
        )
    finally:
        store.close()
        engine.dispose()
