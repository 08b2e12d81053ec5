"""DetectionService servicer, assembled from one mixin per area so each area stays small."""

from __future__ import annotations

from pyronear.v1 import detection_service_pb2_grpc

from .detection_alerts import EventAlertRpcs
from .detection_media import MediaRpcs
from .detection_watch import WatchRpcs


class DetectionServicer(MediaRpcs, EventAlertRpcs, WatchRpcs, detection_service_pb2_grpc.DetectionServiceServicer):
    """RPCs not defined by a mixin fall through to the generated base: UNIMPLEMENTED."""

    def __init__(self, **services):
        # e.g. DetectionServicer(media=MediaService(...), alerts=AlertService(...)) -> self._media, self._alerts
        self.__dict__.update({f"_{name}": service for name, service in services.items()})
