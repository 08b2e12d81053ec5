"""aiosqlite connections whose statements cost one trip to the connection's thread, not four.

aiosqlite runs each sqlite3 call in the connection's own thread, and SQLAlchemy's adapter
makes four calls per statement: create a cursor, execute, fetch every row, close the cursor.
Each is a round trip through a queue to that thread and back through the event loop, and on
the single writer (db/session.py) the connection stays checked out, so no other unit of work
can write, for all of them. Here the cursor does the four in one call on that thread and
keeps what SQLAlchemy reads afterwards (the rows; rowcount, lastrowid and description stay
on the closed sqlite3 cursor).

Used through create_async_engine's `async_creator_fn` connect argument: the aiosqlite dialect
hands it the database path and the connect arguments, as it would to `aiosqlite.connect`.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Iterable
from typing import Any

import aiosqlite
from aiosqlite.context import contextmanager


class OneHopCursor(aiosqlite.Cursor):
    def __init__(self, connection: aiosqlite.Connection):
        super().__init__(connection, None)  # type: ignore[arg-type]  # a sqlite3 cursor comes with each statement
        self._rows: deque[Any] | None = None

    def _run(self, sql: str, parameters: Iterable[Any], many: bool) -> tuple[sqlite3.Cursor, deque[Any] | None]:
        """In the connection's thread: the statement, its rows, and the cursor closed (a cursor
        that runs a second statement gets a new sqlite3 cursor)."""
        cursor = self._conn._conn.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)  # type: ignore[arg-type]
            rows = deque(cursor.fetchall()) if cursor.description else None
        finally:
            cursor.close()
        return cursor, rows

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> OneHopCursor:
        self._cursor, self._rows = await self._execute(self._run, sql, () if parameters is None else parameters, False)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> OneHopCursor:
        self._cursor, self._rows = await self._execute(self._run, sql, parameters, True)
        return self

    async def executescript(self, sql_script: str) -> OneHopCursor:
        raise NotImplementedError("not used by SQLAlchemy")

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = self._rows or deque()
        count = min(len(rows), self.arraysize if size is None else size)
        return [rows.popleft() for _ in range(count)]

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows or deque(), None
        return list(rows)

    async def close(self) -> None:
        self._rows = None  # the sqlite3 cursor was closed with its statement


class OneHopConnection(aiosqlite.Connection):
    @contextmanager  # as aiosqlite's own: awaitable, and an async context manager (SQLAlchemy's use)
    async def cursor(self) -> OneHopCursor:  # type: ignore[override]  # no trip: each statement makes its sqlite3 cursor
        return OneHopCursor(self)


def connect_one_hop(database: str, **kwargs: Any) -> OneHopConnection:
    """What `aiosqlite.connect(database, **kwargs)` returns, with one-trip cursors."""
    connection = OneHopConnection(lambda: sqlite3.connect(database, **kwargs), iter_chunk_size=64)
    connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own: never blocks exit
    return connection
