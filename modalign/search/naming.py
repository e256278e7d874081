"""Names of collections and aliases, and content-derived point ids.

Each model version owns two collections, ``<prefix>_<version>__images`` (one point per image, its
image vector) and ``<prefix>_<version>__captions`` (one point per caption, its text vector). The
aliases ``<prefix>__images`` / ``<prefix>__captions`` name the active version's pair.

Point ids are UUIDv5 of content, so re-ingesting the same image or caption overwrites the same
point: an image's id comes from its SHA-256, a caption's from its image's hash plus the hash of its
normalised text.
"""

from __future__ import annotations

import re
import uuid
from enum import StrEnum

from modalign.errors import InvalidInputError

# Fixed namespace: changing it would change every point id ever written.
POINT_NAMESPACE = uuid.UUID("6f1d2c1e-8a0b-5c7e-9d43-2b6a41f0c5aa")

_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HASH_RE = re.compile(r"^[0-9a-fA-F]{16,128}$")


class Kind(StrEnum):
    """The two collections of a model version."""

    IMAGES = "images"
    CAPTIONS = "captions"


def check_version(version: str) -> str:
    """Return ``version`` if it is usable in collection and directory names, else raise."""
    if not _VERSION_RE.match(version) or "__" in version:
        raise InvalidInputError(
            f"model version {version!r} must be 1-64 letters, digits, '.', '_' or '-',"
            " start with a letter or digit and not contain '__'"
        )
    return version


def collection_name(prefix: str, version: str, kind: Kind) -> str:
    """The collection holding ``kind`` points of one model version."""
    return f"{prefix}_{check_version(version)}__{kind.value}"


def alias_name(prefix: str, kind: Kind) -> str:
    """The alias that points at the active version's ``kind`` collection."""
    return f"{prefix}__{kind.value}"


def version_of(prefix: str, name: str, kind: Kind) -> str | None:
    """The model version of a collection name, or None if the name is not one of ours."""
    head, suffix = f"{prefix}_", f"__{kind.value}"
    if not (name.startswith(head) and name.endswith(suffix)):
        return None
    version = name[len(head) : -len(suffix)]
    return version if _VERSION_RE.match(version) and "__" not in version else None


def _check_hash(value: str, what: str) -> str:
    if not _HASH_RE.match(value):
        raise InvalidInputError(f"{what} must be a hex digest, got {value!r}")
    return value.lower()


def image_point_id(content_hash: str) -> str:
    """Point id of an image: UUIDv5 of its content hash (SHA-256 hex)."""
    return str(uuid.uuid5(POINT_NAMESPACE, "image:" + _check_hash(content_hash, "content_hash")))


def caption_point_id(content_hash: str, caption_text_hash: str) -> str:
    """Point id of a caption: UUIDv5 of its image's hash and the hash of its normalised text.

    ``caption_text_hash`` is the catalog's ``Caption.text_hash`` (``catalog.repo.caption_hash``).
    """
    image = _check_hash(content_hash, "content_hash")
    text = _check_hash(caption_text_hash, "caption_text_hash")
    return str(uuid.uuid5(POINT_NAMESPACE, f"caption:{image}:{text}"))
