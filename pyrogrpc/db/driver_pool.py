"""Autocommit psycopg connections for driver_statements.py: made on demand, kept for reuse.

It behaves as SQLAlchemy's pool does for the engines: a connection is opened when a call
needs one and none is idle (no background task), at most `size` are lent at once (a call
waits `checkout_timeout` seconds for one, then the database counts as unavailable), and a
connection that comes back broken or mid-statement is closed rather than reused.
psycopg_pool was tried first: it reconnects in the background with an exponential backoff,
so after the database came back calls stayed UNAVAILABLE for seconds (tests/test_watch.py's
lost-database test caught it); here the first call after the outage connects again.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from ..domain.errors import Unavailable


class DriverPool:
    def __init__(self, conninfo: str, *, size: int, checkout_timeout: float, **connect_options: Any):
        self._conninfo = conninfo
        self._connect_options = connect_options
        self._size = size
        self._checkout_timeout = checkout_timeout
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots: asyncio.Semaphore | None = None  # made in the server's event loop
        self.in_use = 0

    async def acquire(self) -> psycopg.AsyncConnection[Any]:
        """An idle connection, or a new one; Unavailable when none frees up in time."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._size)
        if self._slots.locked():
            try:
                async with asyncio.timeout(self._checkout_timeout):
                    await self._slots.acquire()
            except TimeoutError:
                raise Unavailable("database is busy or unreachable, retry later") from None
        else:
            await self._slots.acquire()  # free: no wait, no timer
        self.in_use += 1
        try:
            if self._idle:
                return self._idle.pop()
            return await psycopg.AsyncConnection.connect(self._conninfo, **self._connect_options)
        except BaseException:
            self._release_slot()
            raise

    async def release(self, connection: psycopg.AsyncConnection[Any]) -> None:
        """Back to the idle list, unless broken or left mid-statement (a cancelled call): closed then."""
        try:
            if connection.closed or connection.info.transaction_status != TransactionStatus.IDLE:
                await _close(connection)
            else:
                self._idle.append(connection)
        finally:
            self._release_slot()

    async def drain(self) -> None:
        """Close every idle connection: after a lost server they are all dead."""
        idle, self._idle = self._idle, []
        for connection in idle:
            await _close(connection)

    def _release_slot(self) -> None:
        self.in_use -= 1
        assert self._slots is not None
        self._slots.release()


async def _close(connection: psycopg.AsyncConnection[Any]) -> None:
    try:
        await connection.close()
    except psycopg.Error:
        pass  # already dead: nothing to tell the server
