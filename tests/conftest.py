"""Shared fixtures: real in-process servers on free loopback ports, over SQLite and PostgreSQL.

Every server test runs once per database in PYROGRPC_TEST_DATABASES (default
"sqlite,postgresql"). PostgreSQL tests use a fresh database created for this session on
the machine's server (PYROGRPC_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/postgres),
emptied between tests; SQLite tests copy a migrated template file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio

from pyrogrpc.config import Settings
from pyrogrpc.db.migrate import upgrade
from pyrogrpc.db.models import Base
from pyrogrpc.domain.watch import WatchTuning
from pyrogrpc.server import PyroServer
from tests.fixtures_s3 import moto_s3_endpoint  # noqa: F401  (shared fixture)
from tests.helpers import ADMIN_LOGIN, ADMIN_PASSWORD, JWT_SECRET, Api, server_env  # noqa: F401  (other modules import them from here)

POSTGRES_ADMIN_URL = os.environ.get("PYROGRPC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DATABASES = [
    name.strip() for name in os.environ.get("PYROGRPC_TEST_DATABASES", "sqlite,postgresql").split(",") if name.strip()
]


@pytest.fixture(scope="session")
def postgres_database() -> str:
    """Create one database for the session, migrate it, drop it at the end."""
    name = f"pyrogrpc_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    upgrade(url)
    yield url
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _truncate_postgres(url: str) -> None:
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as connection:
        connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(params=DATABASES)
def database_url(request, tmp_path) -> str:
    if request.param not in DATABASES:
        # A test pinned to one database (`parametrize("database_url", ["postgresql"], indirect=True)`)
        # is skipped, not errored, when PYROGRPC_TEST_DATABASES leaves that database out.
        pytest.skip(f"{request.param} is not in PYROGRPC_TEST_DATABASES={','.join(DATABASES)}")
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_database")
        _truncate_postgres(url)
        return url
    target = tmp_path / "data" / "pyrogrpc.sqlite3"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
    return f"sqlite+aiosqlite:///{target}"


@pytest.fixture
def base_env(database_url, tmp_path) -> dict[str, str]:
    """Environment of the default test server; tests add S3_*, TELEGRAM_* ... through `server_factory`."""
    return server_env(database_url, str(tmp_path / "data"))


@pytest_asyncio.fixture
async def server_factory(base_env):
    """Start servers with extra settings: `await server_factory(TELEGRAM_TOKEN="x")`."""
    started: list[PyroServer] = []

    async def start(
        health_interval_seconds: float = 5.0,
        access_recheck_seconds: float = 10.0,
        watch_tuning: WatchTuning = WatchTuning(),
        **extra_env: str,
    ) -> PyroServer:
        settings = Settings.from_env({**base_env, **extra_env}, env_file=None)
        server = PyroServer(
            settings,
            health_interval_seconds=health_interval_seconds,
            access_recheck_seconds=access_recheck_seconds,
            watch_tuning=watch_tuning,
        )
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop(grace=0)


@pytest_asyncio.fixture
async def server(request, server_factory) -> PyroServer:
    """`@pytest.mark.watch_tuning(batch_size=4)` starts it with that WatchTuning."""
    tuning = request.node.get_closest_marker("watch_tuning")
    return await server_factory(watch_tuning=WatchTuning(**tuning.kwargs) if tuning else WatchTuning())


@pytest_asyncio.fixture
async def api(server):
    """An API client bound to the default server, logged in as nobody."""
    async with Api.connect(server.port) as client:
        yield client


@pytest_asyncio.fixture
async def admin(api) -> Api:
    """The same channel, authenticated as the superadmin."""
    return await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
