"""The Alembic migrations produce exactly the schema of the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from pyrogrpc.db.migrate import head_revision
from pyrogrpc.db.models import Base


def test_migrated_schema_matches_the_models(database_url):
    sync_url = database_url.replace("sqlite+aiosqlite", "sqlite")  # psycopg 3 serves both modes
    engine = create_engine(sync_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert context.get_current_revision() == head_revision()
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
