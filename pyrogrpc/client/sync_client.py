"""`PyroClient`: the blocking face of `AsyncPyroClient`, for camera scripts without asyncio.

It owns a private event loop running in a daemon thread; each method submits the
async method's coroutine to that loop and waits for its result. The channel is built
on that loop too (a grpc.aio channel belongs to the loop that created it). Callbacks
(`progress`) run on the loop thread.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any, Callable, Coroutine, Iterator, TypeVar

from pyronear.v1 import resources_pb2

from .async_client import AsyncPyroClient
from .channel import DEFAULT_SERVER

T = TypeVar("T")


def _blocking(method: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    @functools.wraps(method)
    def run(self: PyroClient, *args: Any, **kwargs: Any) -> T:
        return self._run(method(self._client, *args, **kwargs))

    return run


class PyroClient:
    """Blocking client: `with PyroClient("host:50051", login=..., password=...) as c: c.heartbeat()`."""

    def __init__(self, server: str = DEFAULT_SERVER, **options: Any):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pyrogrpc-client", daemon=True)
        self._thread.start()
        self._client: AsyncPyroClient = self._run(self._open(server, options))

    @staticmethod
    async def _open(server: str, options: dict[str, Any]) -> AsyncPyroClient:
        return AsyncPyroClient(server, **options)

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def __enter__(self) -> PyroClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._run(self._client.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    @property
    def async_client(self) -> AsyncPyroClient:
        """The wrapped client (its stubs: `.access`, `.setup`, `.detection`; its `.tokens`)."""
        return self._client

    call = _blocking(AsyncPyroClient.call)
    wait_ready = _blocking(AsyncPyroClient.wait_ready)
    login = _blocking(AsyncPyroClient.login)
    health = _blocking(AsyncPyroClient.health)
    get_my_user = _blocking(AsyncPyroClient.get_my_user)
    create_group = _blocking(AsyncPyroClient.create_group)
    create_user = _blocking(AsyncPyroClient.create_user)
    register_device = _blocking(AsyncPyroClient.register_device)
    heartbeat = _blocking(AsyncPyroClient.heartbeat)
    create_my_media = _blocking(AsyncPyroClient.create_my_media)
    upload_media = _blocking(AsyncPyroClient.upload_media)
    create_my_alert = _blocking(AsyncPyroClient.create_my_alert)
    send_alert = _blocking(AsyncPyroClient.send_alert)
    list_my_poses = _blocking(AsyncPyroClient.list_my_poses)
    fetch_masks = _blocking(AsyncPyroClient.fetch_masks)

    def watch_alerts(self, after_alert_id: int | None = None, **options: Any) -> Iterator[resources_pb2.Alert]:
        """Blocking iterator over `AsyncPyroClient.watch_alerts`; closing it ends the stream."""
        alerts = self._client.watch_alerts(after_alert_id, **options)
        try:
            while True:
                try:
                    yield self._run(alerts.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            if not self._loop.is_closed():
                self._run(alerts.aclose())
