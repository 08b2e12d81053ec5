"""Commit horizon of the alerts table: up to which id can no alert commit any more?

Alert ids are allocated in order but may commit out of order: on PostgreSQL, id 7 can
commit after id 8 (two concurrent transactions), or never (rolled back). A reader that
sees 8 but not 7 must not give up on 7 while the transaction holding it may still commit.

A `Checkpoint` (domain/ports.py) answers it without guessing:

- `allocated_id`: the alerts sequence's last value, read first. Every id up to it was
  handed out by an INSERT into `alerts`, and an INSERT takes its RowExclusiveLock on the
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

Assumption: alert ids are only drawn by INSERTs into `alerts` (never a bare `nextval`).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain.ports import Checkpoint

_PG_ALLOCATED = text("SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence('alerts', 'id')::regclass), 0)")
_PG_WRITERS = text(
    "SELECT virtualtransaction FROM pg_locks"
    " WHERE locktype = 'relation' AND mode = 'RowExclusiveLock' AND granted"
    " AND relation = 'alerts'::regclass"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND pid <> pg_backend_pid()"
)
_SQLITE_ALLOCATED = text(
    "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'alerts'), 0),"
    " coalesce((SELECT max(id) FROM alerts), 0))"
)


class AlertHorizon:
    """Checkpoints on one session (use a fresh transaction per call on PostgreSQL's READ COMMITTED)."""

    def __init__(self, session: AsyncSession):
        self._session = session
        self._postgres = session.get_bind().dialect.name == "postgresql"

    async def checkpoint(self) -> Checkpoint:
        if not self._postgres:
            return Checkpoint(int((await self._session.execute(_SQLITE_ALLOCATED)).scalar_one()), frozenset())
        allocated = int((await self._session.execute(_PG_ALLOCATED)).scalar_one())
        return Checkpoint(allocated, await self._writers())

    async def writers_left(self, checkpoint: Checkpoint) -> frozenset[str]:
        """Writers of `checkpoint` still running (empty: every id <= allocated_id is settled)."""
        if not checkpoint.writers:
            return frozenset()
        return checkpoint.writers & await self._writers()

    async def _writers(self) -> frozenset[str]:
        return frozenset((await self._session.execute(_PG_WRITERS)).scalars().all())
