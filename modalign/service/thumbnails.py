"""Thumbnails of catalogued images, made on request (browsers cache them: the ETag is the content).

The file is the one the catalog recorded at ingestion (its ``uri``: a path, absolute or relative to
the data directory, or a ``file://`` URI); it is decoded under the ingest limits like any image.
"""

from __future__ import annotations

import io
from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image

from modalign.catalog.models import Asset
from modalign.config import Settings
from modalign.errors import InvalidInputError, NotFoundError
from modalign.images import decode_bytes
from modalign.ingest.sources.paths import read_under

THUMBNAIL_QUALITY = 85


def asset_path(settings: Settings, uri: str) -> Path:
    """The local file an asset URI names."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme and len(parsed.scheme) > 1:
        raise NotFoundError(f"asset URI {uri!r} is not a local file")
    path = Path(uri)
    return path if path.is_absolute() else settings.paths.data_dir / path


def make_thumbnail(settings: Settings, asset: Asset, side: int) -> bytes:
    """A JPEG at most ``side`` pixels on its long side."""
    path = asset_path(settings, asset.uri)
    try:
        data = read_under(None, path, max_bytes=settings.ingest.max_image_bytes)
    except InvalidInputError as exc:
        raise NotFoundError(f"image file of asset {asset.id} is unavailable: {exc}") from exc
    image = decode_bytes(data, settings.ingest, draft_side=side).image
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=THUMBNAIL_QUALITY, optimize=True)
    return out.getvalue()


def thumbnail_etag(asset: Asset, side: int) -> str:
    return f'"{asset.content_hash[:32]}-{side}"'
