"""The errors modalign raises.

Adapters (database, vector store, broker, image decoding, model loading) catch their library's
exceptions at the boundary and raise one of these, so callers handle a small, stable set.
"""

from __future__ import annotations


class ModalignError(Exception):
    """Base class of every error modalign raises on purpose."""


class ConfigError(ModalignError):
    """A setting is missing, malformed or inconsistent."""


class InvalidInputError(ModalignError):
    """Input given by a user or a source is unusable (bad file, bad caption, bad filter)."""


class NotFoundError(ModalignError):
    """A named thing (asset, job, model version, collection) does not exist."""


class CatalogError(ModalignError):
    """The metadata catalog (SQL) failed."""


class StoreError(ModalignError):
    """The vector store failed."""


class StoreBusyError(StoreError):
    """The on-disk vector store is owned by another process (qdrant-edge allows one)."""


class DiskFullError(ModalignError):
    """A disk modalign writes to is full (or below the reserve its writers keep)."""


class EncoderError(ModalignError):
    """Loading or running an encoder failed."""


class TransientError(ModalignError):
    """A failure that may pass if the operation is retried (connection reset, lock timeout)."""


class JobLeaseError(ModalignError):
    """A job is held by another live process (or was taken over from this one)."""
