"""Open the vector store the settings ask for."""

from __future__ import annotations

from pathlib import Path

from modalign.config import Settings
from modalign.errors import StoreBusyError, StoreError
from modalign.search.store import VectorStore


def open_store(settings: Settings) -> VectorStore:
    """The store of ``settings.store.backend``.

    ``edge`` (default): qdrant-edge under ``settings.paths.store_dir``, owned by this process.
    ``client``: qdrant-client against ``settings.store.url``, or, without a URL, its local mode on
    disk under ``<store_dir>/local`` (brute force, for tests and small demos only).
    """
    if settings.store.backend == "edge":
        from modalign.search.edge_store import EdgeStore

        return EdgeStore(settings.paths.store_dir, settings.store)
    from qdrant_client import QdrantClient

    from modalign.search.qdrant_client_store import ClientStore

    if settings.store.url:
        client = QdrantClient(url=settings.store.url, api_key=settings.store.api_key)
        return ClientStore(client, settings.store, local=False)
    path = local_store_path(settings)
    path.mkdir(parents=True, exist_ok=True)
    try:
        client = QdrantClient(path=str(path))
    except RuntimeError as exc:
        if "already accessed" not in str(exc):  # its folder lock is taken
            raise StoreError(f"qdrant-client: {exc}") from exc
        raise StoreBusyError(
            f"the local qdrant-client store at {path} is open in another process"
            " (stop that process, or use a Qdrant server)"
        ) from exc
    return ClientStore(client, settings.store, local=True, path=path)


def local_store_path(settings: Settings) -> Path:
    """Where qdrant-client's local mode keeps its files (store.backend=client without a URL)."""
    return settings.paths.store_dir / "local"
