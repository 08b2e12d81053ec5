"""Caps on uploads in progress, and the idle timeout of an upload stream.

Every upload in progress holds memory (gRPC receive buffers, a chunk being written) and a
staged object, so one device token opening many streams and stalling them could exhaust the
server. `UploadSlots` bounds them per caller and in all; `idle_bounded` cuts a stream that
sends nothing for `idle_seconds`. Both answer at once rather than queueing: a camera retries
later with back-off, a queue would only move the pile-up into the server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

from .errors import TooManyUploads, UploadStalled


class UploadSlots:
    """At most `per_caller` uploads of one caller (token access id) and `total` in all."""

    def __init__(self, per_caller: int, total: int) -> None:
        if per_caller < 1 or total < 1:
            raise ValueError("upload caps must be at least 1")
        self.per_caller = per_caller
        self.total = total
        self._by_caller: dict[int, int] = {}
        self._running = 0
        self.ended = 0  # uploads ended so far (the server returns their memory to the system)

    @property
    def running(self) -> int:
        return self._running

    @contextlib.contextmanager
    def taken(self, caller_id: int) -> Iterator[None]:
        """Hold one slot for the block; TooManyUploads (RESOURCE_EXHAUSTED) when none is free.

        No await between the checks and the increments: the event loop makes them atomic.
        """
        mine = self._by_caller.get(caller_id, 0)
        if mine >= self.per_caller:
            raise TooManyUploads(
                f"at most {self.per_caller} uploads per caller may run at once; retry when one has ended"
            )
        if self._running >= self.total:
            raise TooManyUploads(f"the server runs its maximum of {self.total} uploads; retry later")
        self._by_caller[caller_id] = mine + 1
        self._running += 1
        try:
            yield
        finally:
            self._running -= 1
            self.ended += 1
            left = self._by_caller[caller_id] - 1
            if left:
                self._by_caller[caller_id] = left
            else:
                del self._by_caller[caller_id]


async def idle_bounded(chunks: AsyncIterator[bytes], idle_seconds: float) -> AsyncIterator[bytes]:
    """`chunks`, cut with UploadStalled (DEADLINE_EXCEEDED) when the next one takes longer
    than `idle_seconds`: a stalled client must not hold its slot and staged bytes forever."""
    while True:
        try:
            async with asyncio.timeout(idle_seconds):
                chunk = await anext(chunks, None)
        except TimeoutError:
            raise UploadStalled(f"no data received for {idle_seconds:g} s; the upload was abandoned") from None
        if chunk is None:
            return
        yield chunk
