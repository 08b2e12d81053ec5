"""DetectionService RPCs of incidents (issue 16), mixed into DetectionServicer.

WatchIncidents' stream is not here (see its own mixin)."""

from __future__ import annotations

from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2

from ..domain.errors import InvalidArgument
from ..domain.incidents import IncidentService, IncidentView
from .auth import current_principal
from .convert import from_timestamp, optional, page_request, page_response, to_proto


def incident_to_proto(incident: IncidentView) -> resources_pb2.Incident:
    message = to_proto(resources_pb2.Incident, incident)
    for cone in incident.cones:
        message.cones.add(
            event_id=cone.event_id,
            device_id=cone.device_id,
            tower_lat=cone.tower_lat,
            tower_lon=cone.tower_lon,
            azimuth=cone.azimuth,
            angle=cone.angle,
        )
    return message


def _event(row) -> resources_pb2.Event:
    return to_proto(resources_pb2.Event, row)


def _id(value: int, field: str) -> int:
    if value <= 0:
        raise InvalidArgument("must be a positive id", field=field)
    return value


class IncidentRpcs:
    _incidents: IncidentService

    async def GetIncident(self, request, context):
        incident = await self._incidents.get_incident(current_principal(), _id(request.incident_id, "incident_id"))
        return pb.GetIncidentResponse(incident=incident_to_proto(incident))

    async def ListIncidents(self, request, context):
        start_time = from_timestamp(request, "start_time")
        end_time = from_timestamp(request, "end_time")
        if start_time is not None and end_time is not None and start_time >= end_time:
            raise InvalidArgument("must be before end_time", field="start_time")
        page = await self._incidents.list_incidents(
            current_principal(),
            page_request(request),
            group_id=optional(request, "group_id"),
            seen_since=start_time,
            started_before=end_time,
            open_only=request.open_only,
        )
        return page_response(pb.ListIncidentsResponse, "incidents", page, incident_to_proto)

    async def ListIncidentEvents(self, request, context):
        paging = page_request(request)  # a bad page token is named first, as by every List RPC
        page = await self._incidents.list_incident_events(
            current_principal(), _id(request.incident_id, "incident_id"), paging
        )
        return page_response(pb.ListIncidentEventsResponse, "events", page, _event)

    async def DetachIncidentEvent(self, request, context):
        incident, alone = await self._incidents.detach_event(
            current_principal(), _id(request.incident_id, "incident_id"), _id(request.event_id, "event_id")
        )
        return pb.DetachIncidentEventResponse(
            incident=incident_to_proto(incident), event_incident=incident_to_proto(alone)
        )
