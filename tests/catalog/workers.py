"""Functions run in separate processes by test_processes (importable by spawned children)."""

from __future__ import annotations

from modalign.catalog import db, migrate, repo


def upgrade(url: str) -> str | None:
    migrate.upgrade(url)
    return migrate.current(url)


def increment(url: str, job_id: int, times: int) -> None:
    engine = db.make_engine(url)
    factory = db.make_session_factory(engine)
    try:
        for _ in range(times):
            with db.session_scope(factory) as session:
                repo.increment_job_counters(session=session, job_id=job_id, done=1, new_points=2)
    finally:
        engine.dispose()
