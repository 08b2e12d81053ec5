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
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import resources_pb2

from .async_client import AsyncPyroClient
from .channel import DEFAULT_SERVER

T = TypeVar("T")


def _blocking(method: Callable[..., Coroutine[Any, Any, T]]) -> Callable[..., T]:
    @functools.wraps(method)
    def run(self: PyroClient, *args: Any, **kwargs: Any) -> T:
        return self._run(method(self._client, *args, **kwargs))

    return run


def _blocking_pager(method: Callable[..., AsyncIterator[T]]) -> Callable[..., Iterator[T]]:
    """A blocking iterator over an async pager (pages are still fetched one at a time)."""

    @functools.wraps(method)
    def iterate(self: PyroClient, *args: Any, **kwargs: Any) -> Iterator[T]:
        return self._iterate(method(self._client, *args, **kwargs))

    return iterate


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
    # accounts
    get_my_user = _blocking(AsyncPyroClient.get_my_user)
    update_my_user = _blocking(AsyncPyroClient.update_my_user)
    update_my_password = _blocking(AsyncPyroClient.update_my_password)
    get_group = _blocking(AsyncPyroClient.get_group)
    list_groups = _blocking_pager(AsyncPyroClient.list_groups)
    create_group = _blocking(AsyncPyroClient.create_group)
    list_users = _blocking_pager(AsyncPyroClient.list_users)
    get_user = _blocking(AsyncPyroClient.get_user)
    create_user = _blocking(AsyncPyroClient.create_user)
    # devices, sites, installations
    register_device = _blocking(AsyncPyroClient.register_device)
    create_device = _blocking(AsyncPyroClient.create_device)
    get_device = _blocking(AsyncPyroClient.get_device)
    list_devices = _blocking_pager(AsyncPyroClient.list_devices)
    list_my_devices = _blocking_pager(AsyncPyroClient.list_my_devices)
    update_device_location = _blocking(AsyncPyroClient.update_device_location)
    # poses, occlusion masks
    create_pose = _blocking(AsyncPyroClient.create_pose)
    get_pose = _blocking(AsyncPyroClient.get_pose)
    list_poses = _blocking_pager(AsyncPyroClient.list_poses)
    update_pose = _blocking(AsyncPyroClient.update_pose)
    delete_pose = _blocking(AsyncPyroClient.delete_pose)
    create_occlusion_mask = _blocking(AsyncPyroClient.create_occlusion_mask)
    list_occlusion_masks = _blocking_pager(AsyncPyroClient.list_occlusion_masks)
    delete_occlusion_mask = _blocking(AsyncPyroClient.delete_occlusion_mask)
    create_no_alert_site = _blocking(AsyncPyroClient.create_no_alert_site)
    get_site = _blocking(AsyncPyroClient.get_site)
    list_sites = _blocking_pager(AsyncPyroClient.list_sites)
    update_site = _blocking(AsyncPyroClient.update_site)
    list_site_devices = _blocking_pager(AsyncPyroClient.list_site_devices)
    get_installation = _blocking(AsyncPyroClient.get_installation)
    list_installations = _blocking_pager(AsyncPyroClient.list_installations)
    update_installation = _blocking(AsyncPyroClient.update_installation)
    # events, media, alerts
    get_event = _blocking(AsyncPyroClient.get_event)
    list_events = _blocking_pager(AsyncPyroClient.list_events)
    list_past_events = _blocking_pager(AsyncPyroClient.list_past_events)
    list_unacknowledged_events = _blocking_pager(AsyncPyroClient.list_unacknowledged_events)
    list_event_alerts = _blocking_pager(AsyncPyroClient.list_event_alerts)
    acknowledge_event = _blocking(AsyncPyroClient.acknowledge_event)
    label_event = _blocking(AsyncPyroClient.label_event)
    list_unlabeled_events = _blocking_pager(AsyncPyroClient.list_unlabeled_events)
    create_event = _blocking(AsyncPyroClient.create_event)
    update_event = _blocking(AsyncPyroClient.update_event)
    get_incident = _blocking(AsyncPyroClient.get_incident)
    list_incidents = _blocking_pager(AsyncPyroClient.list_incidents)
    list_incident_events = _blocking_pager(AsyncPyroClient.list_incident_events)
    detach_incident_event = _blocking(AsyncPyroClient.detach_incident_event)
    get_media = _blocking(AsyncPyroClient.get_media)
    list_media = _blocking_pager(AsyncPyroClient.list_media)
    get_media_url = _blocking(AsyncPyroClient.get_media_url)
    download_media = _blocking(AsyncPyroClient.download_media)
    get_alert = _blocking(AsyncPyroClient.get_alert)
    list_alerts = _blocking_pager(AsyncPyroClient.list_alerts)
    list_ongoing_alerts = _blocking_pager(AsyncPyroClient.list_ongoing_alerts)
    # camera calls
    heartbeat = _blocking(AsyncPyroClient.heartbeat)
    get_my_device = _blocking(AsyncPyroClient.get_my_device)
    update_my_location = _blocking(AsyncPyroClient.update_my_location)
    create_my_media = _blocking(AsyncPyroClient.create_my_media)
    upload_media = _blocking(AsyncPyroClient.upload_media)
    create_my_alert = _blocking(AsyncPyroClient.create_my_alert)
    send_alert = _blocking(AsyncPyroClient.send_alert)
    list_my_poses = _blocking(AsyncPyroClient.list_my_poses)
    update_my_pose_image = _blocking(AsyncPyroClient.update_my_pose_image)
    list_my_occlusion_masks = _blocking(AsyncPyroClient.list_my_occlusion_masks)
    fetch_masks = _blocking(AsyncPyroClient.fetch_masks)

    def _iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        async def next_item() -> T:
            return await items.__anext__()

        try:
            while True:
                try:
                    yield self._run(next_item())
                except StopAsyncIteration:
                    return
        finally:
            if not self._loop.is_closed():
                self._run(items.aclose())  # type: ignore[attr-defined]

    def watch_alerts(self, after_alert_id: int | None = None, **options: Any) -> Iterator[resources_pb2.Alert]:
        """Blocking iterator over `AsyncPyroClient.watch_alerts`; closing it ends the stream."""
        return self._iterate(self._client.watch_alerts(after_alert_id, **options))

    def watch_incidents(
        self, after_change_id: int | None = None, **options: Any
    ) -> Iterator[detection_pb.IncidentChange]:
        """Blocking iterator over `AsyncPyroClient.watch_incidents`; closing it ends the stream."""
        return self._iterate(self._client.watch_incidents(after_change_id, **options))
