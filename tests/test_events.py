"""Events through a real channel: create (admin, device, idempotency), reads and lists with
group isolation, update with a field mask, acknowledge, delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import field_mask_pb2

from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2
from tests.helpers import expect_status, violated_fields
from tests.test_alerts import my_alert, new_camera, stamp

Code = grpc.StatusCode
WILDFIRE = resources_pb2.EVENT_TYPE_WILDFIRE


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def admin_event(admin, group_id: int, **fields) -> resources_pb2.Event:
    request = pb.CreateEventRequest(
        group_id=group_id, type=WILDFIRE, lat=fields.pop("lat", 43.0), lon=fields.pop("lon", 5.0), **fields
    )
    return (await admin.detection.CreateEvent(request)).event


# --- create ---------------------------------------------------------------------------


async def test_admin_creates_an_event_in_a_group(admin):
    group = await admin.create_group()
    start = datetime(2024, 7, 14, 12, 30, tzinfo=UTC)
    event = await admin_event(admin, group.id, lat=-12.5, lon=130.0, start_time=stamp(start))
    assert event.id > 0 and event.group_id == group.id and event.type == WILDFIRE
    assert (event.lat, event.lon) == (-12.5, 130.0) and not event.is_acknowledged and not event.HasField("end_time")
    assert event.start_time.ToDatetime(tzinfo=UTC) == start
    assert (await admin.detection.GetEvent(pb.GetEventRequest(event_id=event.id))).event == event


async def test_create_event_validation(admin):
    error = await expect_status(
        admin.detection.CreateEvent(pb.CreateEventRequest(lat=91.0, lon=0.0)), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"group_id", "type", "lat"}
    await expect_status(
        admin.detection.CreateEvent(pb.CreateEventRequest(group_id=424_242, type=WILDFIRE)), Code.NOT_FOUND
    )
    error = await expect_status(
        admin.detection.CreateEvent(pb.CreateEventRequest(group_id=1, type=99)), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"type"}


async def test_a_device_creates_events_in_its_own_group_only(admin):
    camera = await new_camera(admin)
    other_group = await admin.create_group()
    before = datetime.now(UTC)
    request = pb.CreateEventRequest(group_id=other_group.id, type=WILDFIRE, lat=1.0, lon=2.0)
    event = (await camera.device.detection.CreateEvent(request)).event
    assert event.group_id == camera.group_id  # the device's group, whatever it asked
    assert event.start_time.ToDatetime(tzinfo=UTC) >= before - timedelta(seconds=1)  # unset: now
    # A user may not create events.
    await expect_status(camera.user.detection.CreateEvent(request), Code.PERMISSION_DENIED)


async def test_create_event_request_id_is_idempotent(admin):
    camera = await new_camera(admin)
    request = pb.CreateEventRequest(type=WILDFIRE, lat=1.0, lon=2.0, request_id="event-1")
    first = (await camera.device.detection.CreateEvent(request)).event
    again = (await camera.device.detection.CreateEvent(request)).event
    assert again == first
    assert [e.id for e in (await admin.detection.ListEvents(pb.ListEventsRequest())).events] == [first.id]


# --- reads and lists ----------------------------------------------------------------------


async def test_get_and_list_events_are_group_scoped(admin):
    camera = await new_camera(admin)
    stranger = await new_camera(admin)
    mine = await admin.detection.GetEvent(pb.GetEventRequest(event_id=(await my_alert(camera.device)).event_id))
    foreign = await admin_event(admin, stranger.group_id)
    seen = (await camera.user.detection.GetEvent(pb.GetEventRequest(event_id=mine.event.id))).event
    # The incident fusion job (run after the alert's commit) may set incident_id between the reads.
    seen.ClearField("incident_id")
    mine.event.ClearField("incident_id")
    assert seen == mine.event
    await expect_status(camera.user.detection.GetEvent(pb.GetEventRequest(event_id=foreign.id)), Code.NOT_FOUND)
    await expect_status(admin.detection.GetEvent(pb.GetEventRequest(event_id=999_999)), Code.NOT_FOUND)
    listed = (await camera.user.detection.ListEvents(pb.ListEventsRequest())).events
    assert [e.id for e in listed] == [mine.event.id]
    assert (await camera.user.detection.ListEvents(pb.ListEventsRequest(group_id=stranger.group_id))).events == []
    assert [
        e.id for e in (await admin.detection.ListEvents(pb.ListEventsRequest(group_id=stranger.group_id))).events
    ] == [foreign.id]
    assert [e.id for e in (await admin.detection.ListEvents(pb.ListEventsRequest())).events] == [
        foreign.id,
        mine.event.id,
    ]


async def test_list_events_pages_and_filters_by_creation_time(admin):
    group = await admin.create_group()
    events = [await admin_event(admin, group.id) for _ in range(4)]
    first_page = await admin.detection.ListEvents(pb.ListEventsRequest(page_size=3))
    second_page = await admin.detection.ListEvents(
        pb.ListEventsRequest(page_size=3, page_token=first_page.next_page_token)
    )
    assert [e.id for e in [*first_page.events, *second_page.events]] == [e.id for e in reversed(events)]
    assert second_page.next_page_token == ""
    cut = events[2].create_time.ToDatetime(tzinfo=UTC)
    after = (await admin.detection.ListEvents(pb.ListEventsRequest(created_after=stamp(cut)))).events
    assert [e.id for e in after] == [events[3].id, events[2].id]
    before = (await admin.detection.ListEvents(pb.ListEventsRequest(created_before=stamp(cut)))).events
    assert [e.id for e in before] == [events[1].id, events[0].id]
    await expect_status(admin.detection.ListEvents(pb.ListEventsRequest(page_size=-1)), Code.INVALID_ARGUMENT)


async def test_past_and_unacknowledged_events(admin):
    camera = await new_camera(admin)
    stranger = await new_camera(admin)
    ongoing = await admin_event(admin, camera.group_id)
    past = await admin_event(admin, camera.group_id)
    foreign_past = await admin_event(admin, stranger.group_id)
    ended = resources_pb2.Event(end_time=stamp(datetime.now(UTC) + timedelta(minutes=1)))
    for event_id in (past.id, foreign_past.id):
        await admin.detection.UpdateEvent(
            pb.UpdateEventRequest(event_id=event_id, event=ended, update_mask=mask("end_time"))
        )
    listed = (await camera.user.detection.ListPastEvents(pb.ListPastEventsRequest())).events
    assert [e.id for e in listed] == [past.id]
    assert [e.id for e in (await admin.detection.ListPastEvents(pb.ListPastEventsRequest())).events] == [
        foreign_past.id,
        past.id,
    ]

    await camera.user.detection.AcknowledgeEvent(pb.AcknowledgeEventRequest(event_id=past.id))
    unacknowledged = (await camera.user.detection.ListUnacknowledgedEvents(pb.ListUnacknowledgedEventsRequest())).events
    assert [e.id for e in unacknowledged] == [ongoing.id]


async def test_list_event_alerts(admin):
    camera = await new_camera(admin)
    stranger = await new_camera(admin)
    first = await my_alert(camera.device)
    second = await my_alert(camera.device)
    other_event = await admin_event(admin, camera.group_id)
    foreign = await my_alert(stranger.device)
    listed = (await camera.user.detection.ListEventAlerts(pb.ListEventAlertsRequest(event_id=first.event_id))).alerts
    assert [a.id for a in listed] == [second.id, first.id]
    assert (
        await camera.user.detection.ListEventAlerts(pb.ListEventAlertsRequest(event_id=other_event.id))
    ).alerts == []
    await expect_status(
        camera.user.detection.ListEventAlerts(pb.ListEventAlertsRequest(event_id=foreign.event_id)), Code.NOT_FOUND
    )
    await expect_status(admin.detection.ListEventAlerts(pb.ListEventAlertsRequest(event_id=999_999)), Code.NOT_FOUND)


# --- update, acknowledge, delete ------------------------------------------------------------


async def test_update_event_with_a_mask(admin):
    camera = await new_camera(admin)
    event = await admin_event(admin, camera.group_id, lat=10.0, lon=20.0)
    end = datetime.now(UTC) + timedelta(hours=1)
    changes = resources_pb2.Event(lat=11.0, lon=-20.0, end_time=stamp(end))
    request = pb.UpdateEventRequest(event_id=event.id, event=changes, update_mask=mask("lat", "end_time"))
    updated = (await admin.detection.UpdateEvent(request)).event
    assert (updated.lat, updated.lon) == (11.0, 20.0)  # lon is not in the mask
    assert updated.end_time.ToDatetime(tzinfo=UTC) == end
    # A device of the group may update the group's events; end_time unset in the mask clears it.
    reopened = (
        await camera.device.detection.UpdateEvent(
            pb.UpdateEventRequest(event_id=event.id, event=resources_pb2.Event(), update_mask=mask("end_time"))
        )
    ).event
    assert not reopened.HasField("end_time")
    assert (await camera.user.detection.GetEvent(pb.GetEventRequest(event_id=event.id))).event == reopened


async def test_update_event_errors(admin):
    camera = await new_camera(admin)
    stranger = await new_camera(admin)
    event = await admin_event(admin, camera.group_id, start_time=stamp(datetime(2024, 1, 2, tzinfo=UTC)))
    foreign = await admin_event(admin, stranger.group_id)

    async def update(client, event_id, changes, *paths):
        return await client.detection.UpdateEvent(
            pb.UpdateEventRequest(event_id=event_id, event=changes, update_mask=mask(*paths))
        )

    early_end = resources_pb2.Event(end_time=stamp(datetime(2024, 1, 1, tzinfo=UTC)))
    error = await expect_status(update(admin, event.id, early_end, "end_time"), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"event.end_time"}
    error = await expect_status(
        update(admin, event.id, resources_pb2.Event(), "type", "start_time", "lat"), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"event.type"}
    error = await expect_status(
        update(admin, event.id, resources_pb2.Event(type=WILDFIRE), "start_time"), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"event.start_time"}
    error = await expect_status(
        update(admin, event.id, resources_pb2.Event(lat=-95.0, lon=200.0), "lat", "lon"), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"event.lat", "event.lon"}
    for paths in ((), ("group_id",), ("is_acknowledged",)):
        error = await expect_status(update(admin, event.id, resources_pb2.Event(), *paths), Code.INVALID_ARGUMENT)
        assert violated_fields(error) == {"update_mask"}
    await expect_status(update(camera.device, foreign.id, resources_pb2.Event(lat=1.0), "lat"), Code.NOT_FOUND)
    await expect_status(update(admin, 999_999, resources_pb2.Event(lat=1.0), "lat"), Code.NOT_FOUND)
    await expect_status(update(camera.user, event.id, resources_pb2.Event(lat=1.0), "lat"), Code.PERMISSION_DENIED)
    assert (await admin.detection.GetEvent(pb.GetEventRequest(event_id=event.id))).event == event  # nothing changed


async def test_acknowledge_event(admin):
    camera = await new_camera(admin)
    stranger = await new_camera(admin)
    event = await admin_event(admin, camera.group_id)
    foreign = await admin_event(admin, stranger.group_id)
    acknowledged = (await camera.user.detection.AcknowledgeEvent(pb.AcknowledgeEventRequest(event_id=event.id))).event
    assert acknowledged.is_acknowledged and acknowledged.id == event.id
    again = (await admin.detection.AcknowledgeEvent(pb.AcknowledgeEventRequest(event_id=event.id))).event
    assert again == acknowledged
    await expect_status(
        camera.user.detection.AcknowledgeEvent(pb.AcknowledgeEventRequest(event_id=foreign.id)), Code.NOT_FOUND
    )
    assert not (await admin.detection.GetEvent(pb.GetEventRequest(event_id=foreign.id))).event.is_acknowledged
    await expect_status(
        camera.device.detection.AcknowledgeEvent(pb.AcknowledgeEventRequest(event_id=event.id)), Code.PERMISSION_DENIED
    )


async def test_delete_event_needs_its_alerts_deleted_first(admin):
    camera = await new_camera(admin)
    alert = await my_alert(camera.device)
    error = await expect_status(
        admin.detection.DeleteEvent(pb.DeleteEventRequest(event_id=alert.event_id)), Code.FAILED_PRECONDITION
    )
    assert "alerts" in error.details()
    await admin.detection.DeleteAlert(pb.DeleteAlertRequest(alert_id=alert.id))
    await admin.detection.DeleteEvent(pb.DeleteEventRequest(event_id=alert.event_id))
    await expect_status(admin.detection.GetEvent(pb.GetEventRequest(event_id=alert.event_id)), Code.NOT_FOUND)
    await expect_status(admin.detection.DeleteEvent(pb.DeleteEventRequest(event_id=alert.event_id)), Code.NOT_FOUND)
    await expect_status(
        camera.user.detection.DeleteEvent(pb.DeleteEventRequest(event_id=alert.event_id)), Code.PERMISSION_DENIED
    )
