"""Alembic environment: runs migrations through the same async engine the server uses.

The URL comes from `config.attributes["database_url"]` (set by `pyrogrpc.db.migrate`), so
the one configuration object decides which database is migrated; there is no alembic.ini.
"""

from __future__ import annotations

import asyncio

from alembic import context

from pyrogrpc.db.models import Base
from pyrogrpc.db.session import create_engine

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode rebuilds tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(config.attributes["database_url"], pool_size=1)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.attributes["database_url"], target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
