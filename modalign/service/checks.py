"""The service's view of ``modalign check``: the last report, refreshed in the background.

A check reads every point of every collection, so it is not run on each dashboard poll: the
last report is kept, and a poll that finds it older than :data:`CHECK_EVERY_S` (or none yet)
starts one refresh in a background thread; the page shows the report with its time. A check
taken while a job writes can list points the job has not yet recorded; the next one will not.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from modalign.catalog.models import utcnow
from modalign.ingest.check import CheckReport, check
from modalign.search.store import VectorStore
from modalign.service.schemas import CheckState, CollectionCheckView

log = logging.getLogger(__name__)

CHECK_EVERY_S = 120.0


class CheckMonitor:
    """Keeps the last check report; refreshes it in the background when it is stale."""

    def __init__(self, sessions: sessionmaker[Session], store: VectorStore) -> None:
        self._sessions = sessions
        self._store = store
        self._lock = threading.Lock()
        self._latest: CheckState | None = None
        self._taken = 0.0
        self._running = False

    def latest(self, *, refresh_after: float = CHECK_EVERY_S) -> CheckState | None:
        """The last report (None before the first); starts a refresh if it is stale."""
        with self._lock:
            stale = self._latest is None or time.monotonic() - self._taken > refresh_after
            start = stale and not self._running
            self._running = self._running or start
            latest = self._latest
        if start:
            threading.Thread(target=self._refresh, name="modalign-check", daemon=True).start()
        return latest

    def run(self) -> CheckState:
        """Check now, in this thread, and keep the result."""
        state = check_state(check(self._sessions, self._store), utcnow())
        with self._lock:
            self._latest, self._taken = state, time.monotonic()
        return state

    def _refresh(self) -> None:
        try:
            self.run()
        except Exception:
            log.exception("the background check failed")
        finally:
            with self._lock:
                self._running = False


def check_state(report: CheckReport, taken: datetime) -> CheckState:
    """A report as the API shows it: per collection, counts and what disagrees."""
    collections = [
        CollectionCheckView(
            version=v.version, kind=c.kind.value, catalog=c.catalog, store=c.store,
            missing=len(c.missing), orphans=len(c.orphans), mismatched=len(c.mismatched),
            clean=c.clean,
        )
        for v in report.versions
        for c in (v.images, v.captions)
    ]
    return CheckState(
        checked_at=taken, clean=report.clean, collections=collections,
        memberless_assets=len(report.memberless), unfinished_jobs=report.unfinished_jobs,
    )
