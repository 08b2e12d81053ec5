"""DetectionService RPCs of one area (WatchAlerts), mixed into DetectionServicer."""

from __future__ import annotations

import contextlib
from collections import OrderedDict

from pyronear.v1 import detection_service_pb2 as pb

from ..domain.read_models import Alert
from ..domain.watch import AlertWatchHub, WatchItem
from .auth import current_principal
from .convert import optional, to_timestamp
from .detection_alerts import alert_to_proto

_CACHED_MESSAGES = 256


class WatchRpcs:
    _watch: AlertWatchHub
    # WatchItem id -> (item, its message): the hub hands one item to every stream of a group.
    _watch_messages: OrderedDict[int, tuple[WatchItem[Alert], pb.WatchAlertsResponse]]

    async def WatchAlerts(self, request, context):
        items = self._watch.watch(current_principal(), optional(request, "after_alert_id"))
        async with contextlib.aclosing(items):  # a cancelled stream unregisters its watcher now
            async for item in items:
                yield self._watch_message(item)

    def _watch_message(self, item: WatchItem[Alert]) -> pb.WatchAlertsResponse:
        if item.row is None:
            assert item.server_time is not None  # a heartbeat carries the server time
            heartbeat = pb.WatchAlertsHeartbeat(server_time=to_timestamp(item.server_time))
            return pb.WatchAlertsResponse(heartbeat=heartbeat, resume_after_alert_id=item.resume_after_id)
        # The hub hands the same item to every stream of the alert's group: build its message once.
        # Keyed by identity; the cache holds the item, so its id cannot be reused meanwhile.
        cache = self._watch_messages
        cached = cache.get(id(item))
        if cached is not None:
            return cached[1]
        message = pb.WatchAlertsResponse(alert=alert_to_proto(item.row), resume_after_alert_id=item.resume_after_id)
        cache[id(item)] = (item, message)
        if len(cache) > _CACHED_MESSAGES:
            cache.popitem(last=False)
        return message
