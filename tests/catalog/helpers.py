"""Small builders shared by the catalog tests."""

from __future__ import annotations

from sqlalchemy.orm import Session

from modalign.catalog import repo
from modalign.catalog.models import Asset


def make_asset(session: Session, name: str, **overrides: object) -> Asset:
    """Upsert an asset whose content hash is derived from ``name``."""
    fields: dict[str, object] = {
        "content_hash": repo.content_hash(name.encode()),
        "uri": f"file:///images/{name}.png",
        "width": 128,
        "height": 96,
        "mime": "image/png",
        "size_bytes": 1234,
        "source": "emoji",
        "dataset": "demo",
        "split": "train",
        "tags": ["demo"],
    }
    fields.update(overrides)
    return repo.upsert_asset(session=session, **fields).asset  # type: ignore[arg-type]
