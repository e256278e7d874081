"""The metadata catalog: SQLAlchemy models, engine/session factories, repository functions and
programmatic Alembic migrations.

    from modalign.catalog import db, migrate, repo
    migrate.upgrade(settings.database_url)
    factory = db.make_session_factory(db.make_engine(settings.database_url))
    with db.session_scope(factory) as session:
        repo.upsert_asset(session=session, ...)
"""
