"""Async engine and session factory for PostgreSQL (psycopg 3) and SQLite (aiosqlite)."""

from __future__ import annotations

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000


def create_engine(database_url: str, *, pool_size: int = 10) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip and ~1 ms of CPU per transaction (~17% of a camera
        # workflow, see docs/performance.md). A dead connection (restarted or killed backend)
        # fails its one call with UNAVAILABLE instead, and SQLAlchemy then invalidates every
        # pooled connection older than that failure, so the next calls reconnect.
        pool_pre_ping=False,
        pool_timeout=5,  # a saturated or dead pool answers UNAVAILABLE instead of hanging
        connect_args={"connect_timeout": 3},
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection):
        # IMMEDIATE takes the write lock at BEGIN: two transactions can never both read
        # "no open event" and then both insert one (event grouping stays race-free).
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: use cases return rows after commit without lazy reloads.
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def ping(engine: AsyncEngine) -> None:
    """Raise when the database cannot be reached (health checks)."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
