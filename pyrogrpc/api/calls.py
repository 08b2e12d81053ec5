"""The calls whose handlers are still running, so that a stopping server can wait for them.

grpc.aio's `Server.stop(grace)` returns once the grace period is over, but a handler it
cancelled then may still be finishing its clean-up (an upload completes its storage commit
and row update, or removes its object). Closing the storage or the database under it would
turn that clean-up into an internal error and could leave an object behind.
"""

from __future__ import annotations

import asyncio


class CallsInFlight:
    def __init__(self) -> None:
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def running(self) -> int:
        return self._running

    def __enter__(self) -> None:
        self._running += 1
        self._idle.clear()

    def __exit__(self, *exc_info) -> None:
        self._running -= 1
        if not self._running:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """True once no handler runs; False if some still run after `timeout` seconds."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True
