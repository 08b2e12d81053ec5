"""A connection pool that hands a returned connection to the caller that waited longest.

SQLAlchemy's asyncio pool queue takes a free connection at once (`get_nowait`) before it
waits, and asyncio.Queue wakes its first waiter without reserving the item for it: a caller
arriving between a connection's return and the woken waiter's turn takes it, and the waiter,
finding the queue empty again, waits anew at the END of the line. With one connection (the
SQLite writer, db/session.py) and 16 cameras, a unit of work could lose its turn again and
again: every RPC's p99 was 2-2.5x its median. Here callers line up behind an asyncio.Lock,
which is first come, first served and lets no newcomer pass its waiters; only the one at
the head of the line waits on the queue itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util.concurrency import await_
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty


class FairQueue(AsyncAdaptedQueue[Any]):
    def __init__(self, maxsize: int = 0, use_lifo: bool = False):
        super().__init__(maxsize, use_lifo)
        self._turn = asyncio.Lock()  # binds to the running loop on first use
        self.waiting = 0  # callers in line (the one at its head included)

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        if not block:
            return self.get_nowait()
        try:
            return await_(self._get_in_turn(timeout))
        except TimeoutError as error:
            raise Empty() from error

    async def _get_in_turn(self, timeout: float | None) -> Any:
        self.waiting += 1
        try:
            async with asyncio.timeout(timeout), self._turn:
                return await self._queue.get()
        finally:
            self.waiting -= 1


class FairAsyncAdaptedQueuePool(AsyncAdaptedQueuePool):
    _queue_class = FairQueue
    # Log as the pool it replaces: under "sqlalchemy", which SQLAlchemy keeps at WARNING,
    # not under "pyrogrpc" (its INFO lines on every dispose would reach the server's log).
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"
