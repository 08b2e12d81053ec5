"""A unit of work's Core statements on its session's own psycopg connection (PostgreSQL).

CreateMyAlert's transaction (lock the device, find its open event, bump it, insert the
alert) ran each statement through the AsyncSession: its greenlet bridge, ORM execute events
and result rows cost ~0.3 ms of CPU more per statement than psycopg alone (docs/performance.md,
issue 19). Here the repositories' Core statements (module constants, compiled once by
driver_statements.py) run on the very connection the session holds, inside its transaction:
the unit's ORM statements (idempotency keys, ORM reads) and these see each other's rows, and
the unit commits or rolls back all of them together, through the session as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import psycopg
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import SessionTransaction
from sqlalchemy.sql import ClauseElement

from .driver_statements import ALL, NONE, ONE, DriverStatements


class TransactionStatements:
    """first / all / execute, as DriverStatements, but in the session's transaction."""

    def __init__(self, session: AsyncSession, statements: DriverStatements):
        self._session = session
        self._statements = statements
        self._transaction: SessionTransaction | None = None
        self._driver_connection: psycopg.AsyncConnection[Any] | None = None

    async def first(self, statement: ClauseElement, params: Mapping[str, Any]) -> SimpleNamespace | None:
        return self._statements.first_of(statement, await self._run(statement, params, ONE))

    async def all(self, statement: ClauseElement, params: Mapping[str, Any]) -> list[Any]:
        return self._statements.all_of(statement, await self._run(statement, params, ALL))

    async def execute(self, statement: ClauseElement, params: Mapping[str, Any]) -> int:
        return int(await self._run(statement, params, NONE))

    async def _run(self, statement: ClauseElement, params: Mapping[str, Any], fetch: str) -> Any:
        # A psycopg error leaves the transaction failed (or the connection lost): the unit's
        # end rolls it back through the session, whose connection then meets the loss as
        # SQLAlchemy meets its own (the pool renews its older connections).
        connection = await self._driver_connection_of_transaction()
        result = await self._statements.run_on(connection, statement, params, fetch)
        table = self._statements.inserted_table(statement)
        if table is not None:
            # The session's after_commit hook reports it (db/session.py), as its own INSERTs.
            self._session.info.setdefault("changed_tables", set()).add(table)
        return result

    async def _driver_connection_of_transaction(self) -> psycopg.AsyncConnection[Any]:
        """The psycopg connection of the session's current transaction (begun if none): after
        a commit the session may hold another connection."""
        transaction = self._session.sync_session.get_transaction()
        if self._driver_connection is None or transaction is None or transaction is not self._transaction:
            raw = await (await self._session.connection()).get_raw_connection()
            self._driver_connection = raw.driver_connection  # the psycopg connection SQLAlchemy adapts
            self._transaction = self._session.sync_session.get_transaction()
        assert self._driver_connection is not None
        return self._driver_connection
