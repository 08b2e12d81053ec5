"""Async engine and session factory for PostgreSQL (psycopg 3) and SQLite (aiosqlite).

SQLite (embedded mode) has one writer at a time. Instead of every unit of work racing for
the write lock and backing off inside the busy timeout (sleeps of up to 100 ms each: a p99
of seconds with 16 cameras), this process has ONE writer connection (a pool of 1), whose
checkout queue hands it to waiting units in the order they asked (fair_pool.py), and a pool
of WAL reader connections that never wait for the writer. Units of one statement run as on
PostgreSQL's autocommit engine: reads on a reader, a write on the writer without BEGIN and
COMMIT (see `create_session_factory`); every other unit is a BEGIN IMMEDIATE transaction on
the writer. Each aiosqlite call is a round trip to the connection's thread, and the writer is
held across them, so round trips are what the design saves: one per statement
(sqlite_one_hop.py), and no BEGIN and COMMIT for a unit of one statement.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Engine, TextClause, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.sql import ClauseElement

from .fair_pool import FairAsyncAdaptedQueuePool
from .sqlite_one_hop import connect_one_hop

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_READERS = 4  # WAL readers run beside the writer; each aiosqlite connection is a thread
_ONE_STATEMENT = "pyrogrpc_one_statement"  # execution option: this unit's write needs no BEGIN


def create_engine(
    database_url: str, *, pool_size: int = 10, autocommit: bool = False, sqlite_readers: bool = False
) -> AsyncEngine:
    """`autocommit`: an engine whose connections never open a transaction, for units of work of
    ONE statement (see `create_session_factory`); PostgreSQL only. Its own pool stays in
    autocommit, so a checkout switches no isolation level and a return sends no rollback
    (~15% of the CPU of a one-statement unit, compared with an autocommit view of the
    transactional engine).

    On SQLite the engine is the single writer connection; `sqlite_readers` gives the pool of
    read-only WAL connections instead (each statement reads the last commit; no BEGIN)."""
    if database_url.startswith("sqlite"):
        if autocommit:
            raise ValueError("SQLite units of work keep their transactions (BEGIN IMMEDIATE)")
        # Waiting for the writer is bounded like the busy timeout was: past it, UNAVAILABLE.
        pool = (
            {"pool_size": SQLITE_READERS, "max_overflow": SQLITE_READERS}
            if sqlite_readers
            else {"pool_size": 1, "max_overflow": 0}
        )
        engine = create_async_engine(
            database_url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "async_creator_fn": connect_one_hop},
            poolclass=FairAsyncAdaptedQueuePool,
            hide_parameters=True,
            pool_timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
            # No rollback when a connection returns to the pool (a round trip): the session's
            # commit or close has already ended its transaction.
            pool_reset_on_return=None,
            **pool,
        )
        _configure_sqlite(engine, read_only=sqlite_readers)
        return engine
    if sqlite_readers:
        raise ValueError("reader connections are for SQLite; PostgreSQL units share one pool")
    autocommit_options = {"isolation_level": "AUTOCOMMIT", "pool_reset_on_return": None} if autocommit else {}
    return create_async_engine(
        database_url,
        **autocommit_options,
        # Parameters hold password hashes and webhook URLs: never in logs nor in error text.
        hide_parameters=True,
        pool_size=pool_size,
        # A burst beyond the pool opens extra connections, closed again when returned.
        max_overflow=pool_size // 2,
        # No pre-ping: it costs a round trip and ~1 ms of CPU per transaction (~17% of a camera
        # workflow, see docs/performance.md). A dead connection (restarted or killed backend)
        # fails its one call with UNAVAILABLE instead, and SQLAlchemy then invalidates every
        # pooled connection older than that failure, so the next calls reconnect.
        pool_pre_ping=False,
        pool_timeout=5,  # a saturated or dead pool answers UNAVAILABLE instead of hanging
        # TimeZone=UTC (not the server's default, e.g. Etc/UTC): psycopg then returns
        # timestamps with datetime.timezone.utc, which UTCDateTime passes through as they are
        # instead of converting every value from a ZoneInfo (~7% of a page of 100 alerts).
        connect_args={"connect_timeout": 3, "options": "-c TimeZone=UTC"},
    )


def _configure_sqlite(engine: AsyncEngine, *, read_only: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")  # a write routed here by mistake fails loudly
        cursor.close()

    if read_only:
        return  # no BEGIN: a reader's statements run on their own, as on PostgreSQL's autocommit engine

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # IMMEDIATE takes the write lock at BEGIN: two transactions can never both read
        # "no open event" and then both insert one (event grouping stays race-free), even
        # against another process on the same file. A unit of one statement needs no BEGIN.
        if not connection.get_execution_options().get(_ONE_STATEMENT):
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _reads_on_readers(writer: AsyncEngine, readers: AsyncEngine) -> type[Session]:
    """A session class for units of ONE statement on SQLite: reads go to the WAL readers,
    writes (and every read after the unit's first write, to see it) to the writer, without
    BEGIN (the writer's pool, hence its queue, is shared)."""
    one_statement_writer = writer.sync_engine.execution_options(**{_ONE_STATEMENT: True})

    class ReadsOnReaders(Session):
        def get_bind(self, mapper: Any = None, *, clause: ClauseElement | None = None, **kw: Any) -> Engine:
            # A flush asks with a mapper and no clause; a bare get_bind() only asks for the dialect.
            if (mapper is not None or clause is not None) and not _is_read(clause):
                self.info["wrote"] = True
            return one_statement_writer if self.info.get("wrote") else readers.sync_engine

    return ReadsOnReaders


def _is_read(clause: ClauseElement | None) -> bool:
    if isinstance(clause, TextClause):
        return clause.text.lstrip()[:6].upper() == "SELECT"
    return bool(getattr(clause, "is_select", False))


def create_session_factory(
    engine: AsyncEngine,
    *,
    on_commit: Callable[[frozenset[str]], None] | None = None,
    sqlite_readers: AsyncEngine | None = None,
) -> async_sessionmaker[AsyncSession]:
    """`on_commit(tables)` runs right after each commit that changed ORM rows or ran a Core
    INSERT, with the names of their tables: in-process caches (accesses, webhooks, recipients)
    drop what a commit changed, watch hubs (incident_changes) wake up. Core UPDATEs and DELETEs
    are not reported (the hot paths' tables are not cached).

    On an `autocommit` engine the sessions serve units of work that run ONE statement, atomic
    on its own (Heartbeat's UPDATE, a read): that saves the BEGIN and COMMIT/ROLLBACK round
    trips (2 of 3 per unit). Never use them for two statements that must commit together.
    The same units on SQLite get `sqlite_readers` (`engine` being the writer): their reads
    run on a WAL reader beside the writer instead of queueing for it, their write on the
    writer without BEGIN/COMMIT.
    """
    base = Session if sqlite_readers is None else _reads_on_readers(engine, sqlite_readers)
    # expire_on_commit=False: use cases return rows after commit without lazy reloads.
    if on_commit is None:
        return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, sync_session_class=base)

    class ReportingSession(base):  # type: ignore[valid-type,misc]  # a base chosen above
        """One class per factory: its event listeners belong to this factory (server) only."""

    @event.listens_for(ReportingSession, "after_flush")
    def _after_flush(session: Session, _context: Any) -> None:
        changed = session.info.setdefault("changed_tables", set())
        changed.update(type(row).__tablename__ for row in chain(session.new, session.dirty, session.deleted))

    @event.listens_for(ReportingSession, "do_orm_execute")
    def _on_execute(state: ORMExecuteState) -> None:
        # Core INSERTs too: a new row (alerts, incident_changes) is what a watch hub waits for.
        # Not Core UPDATEs: Heartbeat's per-call UPDATE would wake every listener for nothing.
        if state.is_insert:
            state.session.info.setdefault("changed_tables", set()).add(state.statement.table.name)  # type: ignore[attr-defined]

    @event.listens_for(ReportingSession, "after_commit")
    def _after_commit(session: Session) -> None:
        changed = session.info.pop("changed_tables", None)
        if changed:
            on_commit(frozenset(changed))

    @event.listens_for(ReportingSession, "after_rollback")
    def _after_rollback(session: Session) -> None:
        session.info.pop("changed_tables", None)

    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, sync_session_class=ReportingSession)


async def ping(engine: AsyncEngine) -> None:
    """Raise when the database cannot be reached (health checks)."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
