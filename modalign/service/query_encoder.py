"""The query encoder of the running service: loaded and warmed up once, swapped on activation.

Both towers are loaded and run once at startup (a first request must not pay for model loading).
Activating another model version loads and warms its encoder *before* swapping it in, under a lock,
so queries in flight keep the old encoder and later ones see the new one, never a half-loaded one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from PIL import Image

from modalign.config import Settings
from modalign.errors import NotFoundError

if TYPE_CHECKING:
    from modalign.encoders.dual import DualEncoder

log = logging.getLogger(__name__)

WARMUP_TEXT = "warm up"
WARMUP_IMAGE_SIDE = 32


class ActiveEncoder:
    """Holds the DualEncoder used for queries (None while no model version exists)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._encoder: DualEncoder | None = None

    @property
    def current(self) -> DualEncoder | None:
        return self._encoder

    @property
    def version(self) -> str | None:
        encoder = self._encoder
        return None if encoder is None else encoder.version

    def load(self, version: str | None = None) -> DualEncoder | None:
        """Load, warm up and swap in ``version`` (default: the configured or active one).

        With no version given and no model registered yet, the service runs without an encoder
        (vector queries still work) and this returns None.
        """
        try:
            encoder = self.prepare(version)
        except NotFoundError:
            if version is not None:
                raise
            log.warning("no model version to load; text and image queries are unavailable")
            return None
        self.use(encoder)
        return encoder

    def prepare(self, version: str | None) -> DualEncoder:
        """Load and warm up an encoder without swapping it in yet."""
        from modalign.encoders.load import load_dual_encoder

        started = time.perf_counter()
        encoder = load_dual_encoder(self.settings, version)
        warm_up(encoder)
        log.info("query encoder %s ready in %.1f s", encoder.version,
                 time.perf_counter() - started)
        return encoder

    def use(self, encoder: DualEncoder) -> None:
        """Swap ``encoder`` in for the queries that start from now on."""
        with self._lock:
            self._encoder = encoder


def warm_up(encoder: DualEncoder) -> None:
    """Run both towers once so their weights are loaded before the first query."""
    encoder.encode_texts([WARMUP_TEXT])
    blank = Image.new("RGB", (WARMUP_IMAGE_SIDE, WARMUP_IMAGE_SIDE), "white")
    encoder.encode_images([blank])
