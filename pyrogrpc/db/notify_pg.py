"""Wake-ups between server replicas over PostgreSQL LISTEN/NOTIFY.

A notification only says "something changed, look at the table": the table stays the
record, so a lost notification (connection drop, replica restart) only delays a reader
until its next safety poll. Hence no delivery guarantees here, just:

- one dedicated autocommit connection LISTENing, reconnected with exponential backoff
  when it drops; every (re)connect also triggers a wake-up, since notifications sent while
  it was down are lost;
- a liveness probe (`SELECT 1`) when the connection has been silent for a while, so a
  half-open TCP connection is noticed (TCP keepalives catch the rest);
- sends coalesced on one other connection, off the caller's path: `announce()` never
  waits for the database, and the announcements of `coalesce_seconds` go out as one NOTIFY
  (under load a NOTIFY per alert would cost every replica a wake-up and a query per alert).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

logger = logging.getLogger("pyrogrpc.notify_pg")

CHANNEL = "pyrogrpc_alerts"
INCIDENTS_CHANNEL = "pyrogrpc_incidents"  # WatchIncidents: one channel per watch hub

_CONNECT_OPTIONS: dict[str, Any] = {
    "autocommit": True,
    "connect_timeout": 3,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def libpq_dsn(database_url: str) -> str:
    """'postgresql+psycopg://...' (SQLAlchemy) -> 'postgresql://...' (libpq)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgWakeups:
    """LISTEN/NOTIFY on one channel; `start(on_wake)` calls `on_wake(payload or None)` from the loop."""

    def __init__(
        self,
        database_url: str,
        *,
        channel: str = CHANNEL,
        min_backoff: float = 0.1,
        max_backoff: float = 5.0,
        liveness_seconds: float = 30.0,
        coalesce_seconds: float = 0.01,
    ):
        self._dsn = libpq_dsn(database_url)
        self._channel = channel
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._liveness_seconds = liveness_seconds
        self._coalesce_seconds = coalesce_seconds
        self._on_wake: Callable[[str | None], None] = lambda payload: None
        self._pending: str | None = None
        self._send_wanted = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.listener_pid: int | None = None  # backend pid of the LISTEN connection (tests kill it)
        self.connects = 0  # successful LISTEN (re)connections

    async def start(self, on_wake: Callable[[str | None], None]) -> None:
        self._on_wake = on_wake
        self._tasks = [
            asyncio.create_task(self._listen(), name="pyrogrpc-pg-listen"),
            asyncio.create_task(self._send(), name="pyrogrpc-pg-notify"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def announce(self, payload: str) -> None:
        """Schedule a NOTIFY; several announcements before it goes out are sent as one (the last)."""
        self._pending = payload
        self._send_wanted.set()

    async def _connect(self) -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(self._dsn, **_CONNECT_OPTIONS)

    async def _listen(self) -> None:
        backoff = self._min_backoff
        while True:
            try:
                async with await self._connect() as connection:
                    await connection.execute(f'LISTEN "{self._channel}"')
                    self.listener_pid = connection.info.backend_pid
                    self.connects += 1
                    backoff = self._min_backoff
                    self._on_wake(None)  # whatever was announced while we were away
                    while True:
                        async for notification in connection.notifies(timeout=self._liveness_seconds):
                            self._on_wake(notification.payload)
                        await connection.execute("SELECT 1")  # silent for a while: is the link alive?
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - any failure: reconnect after a pause
                logger.warning("LISTEN connection lost (%s); reconnecting in %.1f s", error, backoff)
            self.listener_pid = None
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _send(self) -> None:
        backoff = self._min_backoff
        connection: psycopg.AsyncConnection | None = None
        try:
            while True:
                await self._send_wanted.wait()
                await asyncio.sleep(self._coalesce_seconds)
                self._send_wanted.clear()
                payload = self._pending
                try:
                    if connection is None or connection.closed:
                        connection = await self._connect()
                    await connection.execute("SELECT pg_notify(%s, %s)", (self._channel, payload))
                    backoff = self._min_backoff
                except Exception as error:  # noqa: BLE001 - other replicas fall back on their safety poll
                    logger.warning("NOTIFY failed (%s); retrying in %.1f s", error, backoff)
                    if connection is not None:
                        await connection.close()
                        connection = None
                    self._send_wanted.set()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff)
        finally:
            if connection is not None:
                await connection.close()
