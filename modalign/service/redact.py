"""Host paths as a read-key caller sees them: relative to the root that holds them (a root itself
by its folder name), or the bare file name when no root does.

The roots are the allowed source folders and the data directory (the folders ingestion reads), the
deepest first so a path gets its shortest relative form. Callers with the write key, and every
caller when no read key is configured, see the paths as stored.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import unquote, urlparse

from modalign.config import Settings
from modalign.search.results import CaptionHit, ImageHit
from modalign.service.auth import Caller
from modalign.service.sources import allowed_roots

H = TypeVar("H", ImageHit, CaptionHit)


@dataclass(frozen=True)
class PathView:
    """Rewrites host paths for one caller (``hidden=False``: leaves them alone)."""

    roots: tuple[Path, ...] = ()
    hidden: bool = False

    @classmethod
    def for_caller(cls, settings: Settings, caller: Caller) -> PathView:
        if caller is Caller.FULL:
            return FULL_PATHS
        roots = sorted(allowed_roots(settings), key=lambda root: len(root.parts), reverse=True)
        return cls(tuple(roots), hidden=True)

    def uri(self, uri: str) -> str:
        """An asset or item URI without its host path (other URLs are left as they are)."""
        if not self.hidden:
            return uri
        parsed = urlparse(uri)
        if parsed.scheme and parsed.scheme != "file" and len(parsed.scheme) > 1:
            return uri
        path = PurePosixPath(unquote(parsed.path) if parsed.scheme == "file" else uri)
        if not path.is_absolute():
            return path.name if ".." in path.parts else uri
        for root in self.roots:
            if path.is_relative_to(root):
                relative = path.relative_to(root).as_posix()
                return root.name if relative == "." else relative
        return path.name

    def text(self, text: str) -> str:
        """A message with the roots' prefixes taken out of the paths it quotes."""
        if not self.hidden:
            return text
        for root in self.roots:
            text = text.replace(f"{root}{os.sep}", "")
        return text

    def tree(self, value: Any) -> Any:
        """JSON-like data (a job's source, a model card) with its path strings rewritten."""
        if not self.hidden:
            return value
        if isinstance(value, dict):
            return {key: self.tree(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.tree(item) for item in value]
        if isinstance(value, str):
            return self.uri(value) if value.startswith(("/", "file:")) else self.text(value)
        return value

    def hit(self, hit: H) -> H:
        """A search hit whose asset URI is rewritten."""
        if not self.hidden or hit.asset is None:
            return hit
        asset = dataclasses.replace(hit.asset, uri=self.uri(hit.asset.uri))
        return dataclasses.replace(hit, asset=asset)


FULL_PATHS = PathView()
