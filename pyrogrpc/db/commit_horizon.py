"""Commit horizon of a table (alerts, incident_changes): up to which id can no row commit any more?

Alert ids are allocated in order but may commit out of order: on PostgreSQL, id 7 can
commit after id 8 (two concurrent transactions), or never (rolled back). A reader that
sees 8 but not 7 must not give up on 7 while the transaction holding it may still commit.

A `Checkpoint` (domain/ports.py) answers it without guessing:

- `allocated_id`: the table's id sequence's last value, read first. Every id up to it was
  handed out by an INSERT into the table, and an INSERT takes its RowExclusiveLock on the
  table *before* it draws its id, and keeps it until commit or rollback.
- `writers`: the transactions holding that lock, read right after.

Once none of those writers is still running, every id <= allocated_id is settled: either
committed, hence visible to any snapshot taken from then on, or gone for good (rolled
back or deleted). `pg_locks` also lists transactions that have no xid yet, so a writer
caught between drawing its id and inserting its row is not missed. Reading the lock table
costs more than a plain query, which is why the watch hub takes a checkpoint only when it
actually sees a gap.

SQLite has one writer at a time and a read only sees committed rows (WAL, see session.py):
the AUTOINCREMENT counter it reads counts committed inserts only (a rolled-back insert takes
its increment back), and a writer still running draws ids above it, so ids up to the
counter are settled at once.

Assumption: ids are only drawn by INSERTs into the table (never a bare `nextval`).
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.ports import Checkpoint

# The tables whose horizon is read (their names go into SQL text, so only these).
TABLES = frozenset({"alerts", "incident_changes"})


@cache
def _statements(table: str) -> tuple[TextClause, TextClause, TextClause]:
    """(PostgreSQL allocated id, PostgreSQL writers, SQLite allocated id) of `table`."""
    if table not in TABLES:
        raise ValueError(f"no commit horizon for table {table!r}")
    pg_allocated = text(
        f"SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('{table}', 'id')::regclass), 0)"
    )
    pg_writers = text(
        "SELECT virtualtransaction FROM pg_locks"
        " WHERE locktype = 'relation' AND mode = 'RowExclusiveLock' AND granted"
        f" AND relation = '{table}'::regclass"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND pid <> pg_backend_pid()"
    )
    sqlite_allocated = text(
        f"SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0),"
        f" coalesce((SELECT max(id) FROM {table}), 0))"
    )
    return pg_allocated, pg_writers, sqlite_allocated


class TableHorizon:
    """Checkpoints of `table` on one session (use a fresh transaction per call on PostgreSQL's
    READ COMMITTED)."""

    def __init__(self, session: AsyncSession, table: str):
        self._session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"
        self._allocated_pg, self._writers_pg, self._allocated_sqlite = _statements(table)

    async def checkpoint(self) -> Checkpoint:
        if not self._postgres:
            return Checkpoint(int((await self._session.execute(self._allocated_sqlite)).scalar_one()), frozenset())
        allocated = int((await self._session.execute(self._allocated_pg)).scalar_one())
        return Checkpoint(allocated, await self._writers())

    async def writers_left(self, checkpoint: Checkpoint) -> frozenset[str]:
        """Writers of `checkpoint` still running (empty: every id <= allocated_id is settled)."""
        if not checkpoint.writers:
            return frozenset()
        return checkpoint.writers & await self._writers()

    async def _writers(self) -> frozenset[str]:
        return frozenset((await self._session.execute(self._writers_pg)).scalars().all())
