"""DetectionService RPCs of one area (WatchAlerts, WatchIncidents), mixed into DetectionServicer."""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

from pyronear.v1 import detection_service_pb2 as pb

from ..domain.incident_watch import IncidentWatchHub, WatchedIncidentChange
from ..domain.read_models import Alert
from ..domain.watch import AlertWatchHub, WatchItem
from .auth import current_principal
from .convert import optional, to_timestamp
from .detection_alerts import alert_to_proto
from .detection_incidents import incident_to_proto

_CACHED_MESSAGES = 256

Message = TypeVar("Message")


class WatchRpcs:
    _watch: AlertWatchHub
    _incident_watch: IncidentWatchHub
    # id(WatchItem) -> (item, its message): the hub hands one item to every stream of a group,
    # so its message is built once. Keyed by identity; the cache holds the item, so its id
    # cannot be reused meanwhile. One cache per feed.
    _watch_messages: OrderedDict[int, tuple[WatchItem[Alert], pb.WatchAlertsResponse]]
    _incident_watch_messages: OrderedDict[int, tuple[WatchItem[WatchedIncidentChange], pb.WatchIncidentsResponse]]

    async def WatchAlerts(self, request, context):
        items = self._watch.watch(current_principal(), optional(request, "after_alert_id"))
        async with contextlib.aclosing(items):  # a cancelled stream unregisters its watcher now
            async for item in items:
                yield self._watch_message(item)

    async def WatchIncidents(self, request, context):
        items = self._incident_watch.watch(current_principal(), optional(request, "after_change_id"))
        async with contextlib.aclosing(items):
            async for item in items:
                yield self._incident_watch_message(item)

    def _watch_message(self, item: WatchItem[Alert]) -> pb.WatchAlertsResponse:
        if item.row is None:
            assert item.server_time is not None  # a heartbeat carries the server time
            heartbeat = pb.WatchAlertsHeartbeat(server_time=to_timestamp(item.server_time))
            return pb.WatchAlertsResponse(heartbeat=heartbeat, resume_after_alert_id=item.resume_after_id)
        alert = item.row
        return _cached(
            self._watch_messages,
            item,
            lambda: pb.WatchAlertsResponse(alert=alert_to_proto(alert), resume_after_alert_id=item.resume_after_id),
        )

    def _incident_watch_message(self, item: WatchItem[WatchedIncidentChange]) -> pb.WatchIncidentsResponse:
        if item.row is None:
            assert item.server_time is not None
            heartbeat = pb.WatchIncidentsHeartbeat(server_time=to_timestamp(item.server_time))
            return pb.WatchIncidentsResponse(heartbeat=heartbeat, resume_after_change_id=item.resume_after_id)
        change = item.row
        return _cached(
            self._incident_watch_messages,
            item,
            lambda: pb.WatchIncidentsResponse(
                change=incident_change_to_proto(change), resume_after_change_id=item.resume_after_id
            ),
        )


def incident_change_to_proto(change: WatchedIncidentChange) -> pb.IncidentChange:
    assert change.incident is not None  # the hub streams only changes of existing incidents
    return pb.IncidentChange(
        change_id=change.id,
        kind=f"KIND_{change.kind.upper()}",  # the enum by name: "opened" -> KIND_OPENED
        incident=incident_to_proto(change.incident),
        change_time=to_timestamp(change.change_time),
    )


def _cached(
    cache: OrderedDict[int, tuple[WatchItem, Message]], item: WatchItem, build: Callable[[], Message]
) -> Message:
    cached = cache.get(id(item))
    if cached is not None:
        return cached[1]
    message = build()
    cache[id(item)] = (item, message)
    if len(cache) > _CACHED_MESSAGES:
        cache.popitem(last=False)
    return message
