"""DetectionService RPCs of one area (WatchAlerts), mixed into DetectionServicer."""

from __future__ import annotations

import contextlib
import weakref

from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2

from ..domain.watch import WatchItem
from .auth import current_principal
from .convert import optional, to_proto, to_timestamp


class WatchRpcs:
    async def WatchAlerts(self, request, context):
        items = self._watch.watch(current_principal(), optional(request, "after_alert_id"))
        async with contextlib.aclosing(items):  # a cancelled stream unregisters its watcher now
            async for item in items:
                yield self._watch_message(item)

    def _watch_message(self, item: WatchItem) -> pb.WatchAlertsResponse:
        if item.alert is None:
            heartbeat = pb.WatchAlertsHeartbeat(server_time=to_timestamp(item.server_time))
            return pb.WatchAlertsResponse(heartbeat=heartbeat, resume_after_alert_id=item.resume_after_alert_id)
        # The hub hands the same row to every watcher of its group: build its message once.
        cache = self.__dict__.setdefault("_watch_messages", weakref.WeakKeyDictionary())
        message = cache.get(item.alert)
        if message is None:
            alert = to_proto(resources_pb2.Alert, item.alert)
            message = cache[item.alert] = pb.WatchAlertsResponse(alert=alert, resume_after_alert_id=item.alert.id)
        return message
