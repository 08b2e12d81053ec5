"""Helpers of the watch tests (WatchAlerts, WatchIncidents): a stream read in the background,
its end, and polling for a condition."""

from __future__ import annotations

import asyncio
import time

import grpc

TIMEOUT = 20.0  # only a failing test waits this long; a loaded CI machine stalled 5 s once


class Stream:
    """A watch call (WatchAlerts, WatchIncidents) read by a background task, so waiting with a
    timeout never cancels it."""

    def __init__(self, call):
        self.call = call
        self.queue: asyncio.Queue = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.call:
                self.queue.put_nowait(message)
            self.queue.put_nowait(grpc.aio.EOF)
        except grpc.aio.AioRpcError as error:
            self.queue.put_nowait(error)

    async def get(self, timeout: float = TIMEOUT):
        """The next message; raises the stream's error, returns grpc.aio.EOF at its end."""
        item = await asyncio.wait_for(self.queue.get(), timeout)
        if isinstance(item, grpc.aio.AioRpcError):
            raise item
        return item

    def cancel(self) -> None:
        self.call.cancel()
        self._reader.cancel()


async def ends_with(stream: Stream, code: grpc.StatusCode, timeout: float = TIMEOUT) -> grpc.aio.AioRpcError:
    """Drop messages until the stream fails; assert its status."""
    deadline = time.monotonic() + timeout
    try:
        while await stream.get(max(0.01, deadline - time.monotonic())) is not grpc.aio.EOF:
            pass
    except grpc.aio.AioRpcError as error:
        assert error.code() == code, f"expected {code.name}, got {error.code().name}: {error.details()}"
        return error
    raise AssertionError(f"expected {code.name}, the stream ended normally")


def is_postgres(server) -> bool:
    return server.engine.dialect.name == "postgresql"


def libpq_url(server) -> str:
    return server.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def until(condition, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
