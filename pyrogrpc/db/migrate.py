"""Schema migrations (Alembic, scripts in the top-level `migrations/` folder).

`upgrade()` is what `pyrogrpc migrate` runs and what an embedded server runs on start;
`check_current()` is how a PostgreSQL server refuses to start on an unmigrated database.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

# The scripts sit beside the package in the source tree; a non-editable install (the
# Docker image) has no such tree around site-packages, so PYROGRPC_MIGRATIONS_DIR names it.
MIGRATIONS_DIR = Path(os.environ.get("PYROGRPC_MIGRATIONS_DIR") or Path(__file__).resolve().parents[2] / "migrations")


class SchemaOutdated(RuntimeError):
    pass


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking; the env script runs its own event loop, so call it off any running loop."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str) -> None:
    await asyncio.to_thread(upgrade, database_url)


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    if head is None:
        raise RuntimeError("migrations/versions holds no revision")
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def check_current(engine: AsyncEngine) -> None:
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutdated(
            f"database schema is at revision {current or 'none (empty database)'}, this server needs {head}: "
            "run `pyrogrpc migrate` first"
        )
