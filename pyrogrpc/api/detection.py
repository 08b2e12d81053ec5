"""DetectionService servicer, assembled from one mixin per area so each area stays small.

The constructor takes every use case it needs, by name and type; each mixin declares the
attributes it reads, so a missing service is a type error, not an AttributeError at call time.
"""

from __future__ import annotations

from collections import OrderedDict

from pyronear.v1 import detection_service_pb2_grpc
from pyronear.v1.detection_service_pb2 import WatchAlertsResponse, WatchIncidentsResponse

from ..domain.alerts import AlertService
from ..domain.fire_events import EventService
from ..domain.incident_watch import IncidentWatchHub, WatchedIncidentChange
from ..domain.incidents import IncidentService
from ..domain.media import MediaService
from ..domain.notifications import NotificationService
from ..domain.read_models import Alert
from ..domain.send_alert import DetectionSender
from ..domain.watch import AlertWatchHub, WatchItem
from .detection_alerts import EventAlertRpcs
from .detection_incidents import IncidentRpcs
from .detection_media import MediaRpcs
from .detection_watch import WatchRpcs


class DetectionServicer(
    MediaRpcs, EventAlertRpcs, IncidentRpcs, WatchRpcs, detection_service_pb2_grpc.DetectionServiceServicer
):
    """RPCs not defined by a mixin fall through to the generated base: UNIMPLEMENTED."""

    def __init__(
        self,
        *,
        media: MediaService,
        events: EventService,
        alerts: AlertService,
        notifications: NotificationService,
        watch: AlertWatchHub,
        sender: DetectionSender,
        incidents: IncidentService,
        incident_watch: IncidentWatchHub,
    ):
        self._media = media
        self._events = events
        self._alerts = alerts
        self._notifications = notifications
        self._watch = watch
        self._sender = sender
        self._incidents = incidents
        self._watch_messages: OrderedDict[int, tuple[WatchItem[Alert], WatchAlertsResponse]] = OrderedDict()
        self._incident_watch = incident_watch
        self._incident_watch_messages: OrderedDict[
            int, tuple[WatchItem[WatchedIncidentChange], WatchIncidentsResponse]
        ] = OrderedDict()
