"""The SQLite writer's pool queue (pyrogrpc/db/fair_pool.py): a returned connection goes to
the caller that waited longest, never to one that arrived after it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.util.concurrency import greenlet_spawn
from sqlalchemy.util.queue import Empty

from pyrogrpc.db.fair_pool import FairAsyncAdaptedQueuePool, FairQueue
from pyrogrpc.db.session import create_engine
from tests.watch_helpers import until


async def test_a_newcomer_never_takes_the_connection_before_those_waiting():
    queue, order = FairQueue(), []
    connection = object()

    async def unit(name: str) -> None:
        taken = await greenlet_spawn(queue.get, True, 10)  # as the pool checks out
        order.append(name)
        queue.put_nowait(taken)  # ... and returns it

    queue.put_nowait(connection)
    held = await greenlet_spawn(queue.get, True, 10)
    line = [asyncio.create_task(unit(name)) for name in "ABC"]
    await until(lambda: queue.waiting == 3)
    # A newcomer whose first step runs before A is woken: SQLAlchemy's own queue hands it the
    # connection (get_nowait), and A goes back to the end of the line.
    newcomer = asyncio.create_task(unit("D"))
    queue.put_nowait(held)
    await asyncio.gather(*line, newcomer)
    assert order == ["A", "B", "C", "D"]
    assert queue.waiting == 0


async def test_a_caller_that_waits_too_long_gets_empty_and_leaves_the_line():
    queue = FairQueue()
    queue.put_nowait("connection")
    await greenlet_spawn(queue.get, True, 10)
    with pytest.raises(Empty):
        await greenlet_spawn(queue.get, True, 0.05)
    assert queue.waiting == 0
    queue.put_nowait("connection")
    assert await greenlet_spawn(queue.get, True, 10) == "connection"  # the line still works


async def test_the_sqlite_writer_uses_it(tmp_path):
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'fair.db'}")
    try:
        assert isinstance(engine.pool, FairAsyncAdaptedQueuePool)
        assert engine.pool.logger.name == "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"  # WARNING unless asked
    finally:
        await engine.dispose()
