"""Alerts through a real channel: CreateMyAlert/CreateAlert (defaults, validation, media,
event grouping, idempotency, concurrency, listeners), reads, lists and deletes.

`new_camera` and `Recorder` are shared with the other event/alert/notification tests.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2

from pyrogrpc.db.repositories.detection import AlertRepository
from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2
from tests import helpers
from tests.helpers import Api, expect_status, violated_fields

Code = grpc.StatusCode

POSITION = {"lat": 44.5, "lon": 4.25, "azimuth": 120.0}


@dataclass
class Camera:
    """A group with a user and one device, each with its own client."""

    group_id: int
    user: Api
    user_id: int
    device: Api
    device_row: resources_pb2.Device


async def new_camera(admin: Api, group_id: int | None = None, **position) -> Camera:
    """A device (positioned as POSITION unless `position` overrides; pass `lat=None` to omit) owned by a new user."""
    user_api, user = await admin.new_user(group_id)
    fields = {name: value for name, value in {**POSITION, **position}.items() if value is not None}
    device_api, device = await admin.new_device(user.id, **fields)
    return Camera(user.group_id, user_api, user.id, device_api, device)


async def another_device(admin: Api, camera: Camera, **position) -> tuple[Api, resources_pb2.Device]:
    """A second device in the camera's group."""
    fields = {name: value for name, value in {**POSITION, **position}.items() if value is not None}
    return await admin.new_device(camera.user_id, **fields)


async def my_alert(device: Api, **fields) -> resources_pb2.Alert:
    return (await device.detection.CreateMyAlert(pb.CreateMyAlertRequest(**fields))).alert


@dataclass
class Recorder:
    """An alert listener that records what it is told."""

    calls: list[tuple[int, bool]] = field(default_factory=list)

    async def alert_created(self, alert, *, new_event: bool) -> None:
        self.calls.append((alert.id, new_event))


def stamp(value: datetime) -> timestamp_pb2.Timestamp:
    result = timestamp_pb2.Timestamp()
    result.FromDatetime(value)
    return result


# --- CreateMyAlert: values and validation ---------------------------------------------


async def test_my_alert_defaults_to_the_device_position_and_opens_an_event(admin):
    camera = await new_camera(admin)
    alert = await my_alert(camera.device, localization="[[0.1, 0.2, 0.3, 0.4, 0.9]]")
    assert alert.id > 0 and alert.device_id == camera.device_row.id and alert.group_id == camera.group_id
    assert (alert.lat, alert.lon, alert.azimuth) == (POSITION["lat"], POSITION["lon"], POSITION["azimuth"])
    assert alert.localization == "[[0.1, 0.2, 0.3, 0.4, 0.9]]" and not alert.HasField("media_id")
    assert abs(alert.create_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)) < timedelta(seconds=30)
    event = (await admin.detection.GetEvent(pb.GetEventRequest(event_id=alert.event_id))).event
    assert event.group_id == camera.group_id and event.type == resources_pb2.EVENT_TYPE_WILDFIRE
    assert (event.lat, event.lon) == (alert.lat, alert.lon) and not event.HasField("end_time")
    assert not event.is_acknowledged


async def test_request_values_override_the_device_ones(admin):
    camera = await new_camera(admin)
    alert = await my_alert(camera.device, lat=-10.0, lon=170.0, azimuth=0.0)
    assert (alert.lat, alert.lon, alert.azimuth) == (-10.0, 170.0, 0.0)
    event = (await admin.detection.GetEvent(pb.GetEventRequest(event_id=alert.event_id))).event
    assert (event.lat, event.lon) == (-10.0, 170.0)  # a new event sits at the alert's position


async def test_no_position_anywhere_is_failed_precondition(admin):
    camera = await new_camera(admin, lat=None, lon=None, azimuth=None)
    error = await expect_status(
        camera.device.detection.CreateMyAlert(pb.CreateMyAlertRequest(azimuth=10.0)), Code.FAILED_PRECONDITION
    )
    assert "lat" in error.details() and "lon" in error.details()
    await expect_status(
        camera.device.detection.CreateMyAlert(pb.CreateMyAlertRequest(lat=1.0, lon=2.0)), Code.FAILED_PRECONDITION
    )
    alert = await my_alert(camera.device, lat=1.0, lon=2.0, azimuth=3.0)
    assert (alert.lat, alert.lon, alert.azimuth) == (1.0, 2.0, 3.0)


INVALID_ALERTS = [
    ({"lat": 90.5, "lon": -181.0}, {"lat", "lon"}),
    ({"azimuth": 360.0}, {"azimuth"}),
    ({"azimuth": -0.5, "lat": float("nan")}, {"azimuth", "lat"}),
    ({"lon": float("inf")}, {"lon"}),
    ({"localization": "not json"}, {"localization"}),
    ({"request_id": "x" * 129}, {"request_id"}),
]


# Issue 13 item 7: deep nesting made json.loads raise RecursionError (INTERNAL).
BAD_LOCALIZATIONS = {
    "nested 1000 deep": "[" * 1000 + "]" * 1000,
    "nested 100000 deep": "[" * 100_000 + "]" * 100_000,
    "nested objects": '{"a":' * 900 + "1" + "}" * 900,
    "nested in a box": "[[" + "[" * 500 + "0" + "]" * 500 + ",0,1,1,1]]",
    "an object": '{"boxes": [[0.1, 0.2, 0.3, 0.4, 0.9]]}',
    "a bare box": "[0.1, 0.2, 0.3, 0.4, 0.9]",
    "four numbers": "[[0.1, 0.2, 0.3, 0.4]]",
    "six numbers": "[[0.1, 0.2, 0.3, 0.4, 0.9, 1]]",
    "a string in a box": '[["0.1", 0.2, 0.3, 0.4, 0.9]]',
    "absolute pixels": "[[10, 20, 300, 400, 0.9]]",
    "overflowing number": "[[1e400, 0.2, 0.3, 0.4, 0.9]]",
    "negative": "[[-0.1, 0.2, 0.3, 0.4, 0.9]]",
    "xmin past xmax": "[[0.5, 0.2, 0.3, 0.4, 0.9]]",
    "six boxes": "[" + ",".join(["[0.1, 0.2, 0.3, 0.4, 0.9]"] * 6) + "]",
    "NaN": "[[NaN, 0.2, 0.3, 0.4, 0.9]]",
    "trailing comma": "[[0.1, 0.2, 0.3, 0.4, 0.9],]",
    "too long": "[[0.1, 0.2, 0.3, 0.4, 0.9]]" + " " * 2_000,
}
GOOD_LOCALIZATIONS = ["", "[]", "[[0,0,1,1,1]]", " [ [0.1 , 0.2,0.3,0.4, 9e-1] ,\n[0.5,0.5,0.75,0.75,0.25] ] "]


@pytest.mark.parametrize("rpc", ["CreateMyAlert", "CreateAlert"])
async def test_localization_must_be_a_list_of_boxes(admin, rpc):
    camera = await new_camera(admin)

    def create(localization: str):
        if rpc == "CreateMyAlert":
            return camera.device.detection.CreateMyAlert(pb.CreateMyAlertRequest(localization=localization))
        return admin.detection.CreateAlert(
            pb.CreateAlertRequest(device_id=camera.device_row.id, localization=localization)
        )

    for name, localization in BAD_LOCALIZATIONS.items():
        error = await expect_status(create(localization), Code.INVALID_ARGUMENT)
        assert violated_fields(error) == {"localization"}, name
    assert (await admin.detection.ListAlerts(pb.ListAlertsRequest())).alerts == []
    for localization in GOOD_LOCALIZATIONS:
        assert (await create(localization)).alert.localization == localization  # stored as sent


async def test_invalid_alert_fields_are_named(admin):
    camera = await new_camera(admin)
    for fields, violated in INVALID_ALERTS:
        error = await expect_status(
            camera.device.detection.CreateMyAlert(pb.CreateMyAlertRequest(**fields)), Code.INVALID_ARGUMENT
        )
        assert violated_fields(error) == violated, fields
    assert (await admin.detection.ListAlerts(pb.ListAlertsRequest())).alerts == []


# --- event grouping ---------------------------------------------------------------------


async def test_recent_alerts_of_one_device_share_their_event(server, admin):
    recorder = Recorder()
    server.alerts.listeners.append(recorder)
    camera = await new_camera(admin)
    first = await my_alert(camera.device)
    second = await my_alert(camera.device, azimuth=200.0)
    assert second.event_id == first.event_id
    assert recorder.calls == [(first.id, True), (second.id, False)]
    # Another device of the same group opens its own event.
    other_device, _ = await another_device(admin, camera)
    third = await my_alert(other_device)
    assert third.event_id != first.event_id and recorder.calls[-1] == (third.id, True)


async def test_an_ended_event_is_not_joined(admin):
    camera = await new_camera(admin)
    first = await my_alert(camera.device)
    event = resources_pb2.Event(end_time=stamp(datetime.now(UTC) + timedelta(seconds=1)))
    await admin.detection.UpdateEvent(
        pb.UpdateEventRequest(
            event_id=first.event_id, event=event, update_mask=field_mask_pb2.FieldMask(paths=["end_time"])
        )
    )
    second = await my_alert(camera.device)
    assert second.event_id != first.event_id


async def test_alerts_older_than_the_relaxation_open_a_new_event(server_factory):
    server = await server_factory(ALERT_RELAXATION_SECONDS="0")
    async with Api.connect(server.port) as api:
        admin = await api.login("superadmin", "superadmin-password")
        camera = await new_camera(admin)
        first = await my_alert(camera.device)
        second = await my_alert(camera.device)
    assert first.event_id != second.event_id


async def test_explicit_event_id_must_be_visible_to_the_device_group(admin):
    camera = await new_camera(admin)
    stranger = await new_camera(admin)
    own = await my_alert(camera.device, lat=1.0, lon=1.0)
    foreign = await my_alert(stranger.device)
    # An explicit event is joined even by another device of the group, even if it would open a new one.
    other_device, _ = await another_device(admin, camera)
    joined = await my_alert(other_device, event_id=own.event_id)
    assert joined.event_id == own.event_id
    for event_id in (foreign.event_id, 999_999):
        error = await expect_status(
            camera.device.detection.CreateMyAlert(pb.CreateMyAlertRequest(event_id=event_id)), Code.NOT_FOUND
        )
        assert "event" in error.details()


@pytest.mark.parametrize("calls", [10])
async def test_concurrent_alerts_of_one_device_open_exactly_one_event(server, admin, calls, monkeypatch):
    # Widen the window between "find the latest alert" and "insert": without the device row
    # lock, concurrent calls all see no alert and each open an event.
    original = AlertRepository.latest_of_device

    async def slow_latest(self, device_id):
        row = await original(self, device_id)
        await asyncio.sleep(0.05)
        return row

    monkeypatch.setattr(AlertRepository, "latest_of_device", slow_latest)
    recorder = Recorder()
    server.alerts.listeners.append(recorder)
    camera = await new_camera(admin)
    alerts = await asyncio.gather(*(my_alert(camera.device) for _ in range(calls)))
    assert len({alert.id for alert in alerts}) == calls
    assert len({alert.event_id for alert in alerts}) == 1
    events = (await admin.detection.ListEvents(pb.ListEventsRequest(group_id=camera.group_id))).events
    assert [event.id for event in events] == [alerts[0].event_id]
    assert sorted(new for _, new in recorder.calls) == [False] * (calls - 1) + [True]


# --- idempotency and listeners ----------------------------------------------------------


async def test_request_id_makes_a_retry_return_the_first_alert(server, admin):
    recorder = Recorder()
    server.alerts.listeners.append(recorder)
    camera = await new_camera(admin)
    request_id = str(uuid.uuid4())
    first = await my_alert(camera.device, request_id=request_id)
    retry = await my_alert(camera.device, request_id=request_id)
    assert retry == first
    # Another request under the same request_id is refused (tests/test_request_ids.py).
    await expect_status(
        camera.device.detection.CreateMyAlert(pb.CreateMyAlertRequest(request_id=request_id, azimuth=5.0)),
        Code.ALREADY_EXISTS,
    )
    concurrent = await asyncio.gather(*(my_alert(camera.device, request_id="parallel") for _ in range(4)))
    assert len({alert.id for alert in concurrent}) == 1
    assert len((await admin.detection.ListAlerts(pb.ListAlertsRequest())).alerts) == 2
    assert [alert_id for alert_id, _ in recorder.calls] == [first.id, concurrent[0].id]  # replays tell nobody
    # The key belongs to the caller: another device with the same request_id gets its own alert.
    other_device, _ = await another_device(admin, camera)
    assert (await my_alert(other_device, request_id=request_id)).id != first.id


async def test_a_failing_listener_does_not_fail_the_call_and_runs_after_commit(server, admin):
    seen = []

    class Checking:
        async def alert_created(self, alert, *, new_event):
            async with server.uow() as uow:  # a fresh transaction already sees the alert
                seen.append(await uow.alerts.get(alert.id) is not None)
            raise RuntimeError("listener bug")

    server.alerts.listeners.append(Checking())
    recorder = Recorder()
    server.alerts.listeners.append(recorder)
    camera = await new_camera(admin)
    alert = await my_alert(camera.device)
    assert seen == [True] and recorder.calls == [(alert.id, True)]  # later listeners still run


# --- media ------------------------------------------------------------------------------


async def test_media_must_exist_in_the_group(admin):
    camera = await new_camera(admin)
    error = await expect_status(
        camera.device.detection.CreateMyAlert(pb.CreateMyAlertRequest(media_id=424_242)), Code.NOT_FOUND
    )
    assert "media" in error.details()


async def test_media_must_be_uploaded_and_the_device_own(admin):
    camera = await new_camera(admin)
    other_device, other_row = await another_device(admin, camera)
    stranger = await new_camera(admin)
    pending = (
        await camera.device.detection.CreateMyMedia(pb.CreateMyMediaRequest(type=resources_pb2.MEDIA_TYPE_IMAGE))
    ).media
    request = pb.CreateMyAlertRequest(media_id=pending.id)
    error = await expect_status(camera.device.detection.CreateMyAlert(request), Code.FAILED_PRECONDITION)
    assert "UploadMedia" in error.details()
    uploaded = await helpers.upload_media(camera.device, helpers.tiny_jpeg())
    # Another device of the same group: INVALID_ARGUMENT; another group's device: NOT_FOUND.
    error = await expect_status(
        other_device.detection.CreateMyAlert(pb.CreateMyAlertRequest(media_id=uploaded.id)), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"media_id"}
    await expect_status(
        stranger.device.detection.CreateMyAlert(pb.CreateMyAlertRequest(media_id=uploaded.id)), Code.NOT_FOUND
    )
    alert = await my_alert(camera.device, media_id=uploaded.id)
    assert alert.media_id == uploaded.id
    # The admin variant applies the same rule to the device it names.
    request = pb.CreateAlertRequest(device_id=other_row.id, media_id=uploaded.id)
    await expect_status(admin.detection.CreateAlert(request), Code.INVALID_ARGUMENT)
    request = pb.CreateAlertRequest(device_id=camera.device_row.id, media_id=uploaded.id)
    assert (await admin.detection.CreateAlert(request)).alert.media_id == uploaded.id


# --- CreateAlert (admin) ------------------------------------------------------------------


async def test_admin_creates_alerts_for_any_device(admin):
    camera = await new_camera(admin)
    alert = (
        await admin.detection.CreateAlert(pb.CreateAlertRequest(device_id=camera.device_row.id, azimuth=33.0))
    ).alert
    assert alert.device_id == camera.device_row.id and alert.group_id == camera.group_id and alert.azimuth == 33.0
    mine = await my_alert(camera.device)
    assert mine.event_id == alert.event_id  # grouping is per device, whoever created the alert
    await expect_status(admin.detection.CreateAlert(pb.CreateAlertRequest(device_id=987_654)), Code.NOT_FOUND)
    stranger = await new_camera(admin)
    foreign_event = (await my_alert(stranger.device)).event_id
    request = pb.CreateAlertRequest(device_id=camera.device_row.id, event_id=foreign_event)
    await expect_status(admin.detection.CreateAlert(request), Code.NOT_FOUND)
    error = await expect_status(
        admin.detection.CreateAlert(pb.CreateAlertRequest(device_id=camera.device_row.id, lat=100.0)),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"lat"}


# --- reads, lists, deletes ------------------------------------------------------------------


async def test_get_and_list_alerts_are_group_scoped(admin):
    camera = await new_camera(admin)
    stranger = await new_camera(admin)
    mine = await my_alert(camera.device)
    foreign = await my_alert(stranger.device)
    assert (await camera.user.detection.GetAlert(pb.GetAlertRequest(alert_id=mine.id))).alert == mine
    await expect_status(camera.user.detection.GetAlert(pb.GetAlertRequest(alert_id=foreign.id)), Code.NOT_FOUND)
    await expect_status(admin.detection.GetAlert(pb.GetAlertRequest(alert_id=123_456)), Code.NOT_FOUND)
    listed = (await camera.user.detection.ListAlerts(pb.ListAlertsRequest())).alerts
    assert [alert.id for alert in listed] == [mine.id]
    # A user cannot widen its view with group_id; an admin filters with it.
    assert (await camera.user.detection.ListAlerts(pb.ListAlertsRequest(group_id=stranger.group_id))).alerts == []
    by_group = (await admin.detection.ListAlerts(pb.ListAlertsRequest(group_id=stranger.group_id))).alerts
    assert [alert.id for alert in by_group] == [foreign.id]
    assert [a.id for a in (await admin.detection.ListAlerts(pb.ListAlertsRequest())).alerts] == [foreign.id, mine.id]


async def test_list_alerts_pages_and_filters_by_creation_time(admin):
    camera = await new_camera(admin)
    alerts = [await my_alert(camera.device) for _ in range(5)]
    seen, token = [], ""
    while True:
        page = await camera.user.detection.ListAlerts(pb.ListAlertsRequest(page_size=2, page_token=token))
        seen.extend(alert.id for alert in page.alerts)
        token = page.next_page_token
        if not token:
            break
    assert seen == [alert.id for alert in reversed(alerts)]
    third = alerts[2].create_time.ToDatetime(tzinfo=UTC)
    after = (await camera.user.detection.ListAlerts(pb.ListAlertsRequest(created_after=stamp(third)))).alerts
    assert [a.id for a in after] == [a.id for a in reversed(alerts[2:])]
    before = (await camera.user.detection.ListAlerts(pb.ListAlertsRequest(created_before=stamp(third)))).alerts
    assert [a.id for a in before] == [a.id for a in reversed(alerts[:2])]
    error = await expect_status(
        camera.user.detection.ListAlerts(pb.ListAlertsRequest(created_after=stamp(third), created_before=stamp(third))),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"created_after"}
    await expect_status(
        camera.user.detection.ListAlerts(pb.ListAlertsRequest(page_token="garbage")), Code.INVALID_ARGUMENT
    )


async def test_ongoing_alerts_are_those_of_events_without_end_time(admin):
    camera = await new_camera(admin)
    stranger = await new_camera(admin)
    ended = await my_alert(camera.device)
    event = resources_pb2.Event(end_time=stamp(datetime.now(UTC) + timedelta(seconds=1)))
    await admin.detection.UpdateEvent(
        pb.UpdateEventRequest(
            event_id=ended.event_id, event=event, update_mask=field_mask_pb2.FieldMask(paths=["end_time"])
        )
    )
    ongoing = await my_alert(camera.device)
    foreign = await my_alert(stranger.device)
    listed = (await camera.user.detection.ListOngoingAlerts(pb.ListOngoingAlertsRequest())).alerts
    assert [alert.id for alert in listed] == [ongoing.id]
    everything = (await admin.detection.ListOngoingAlerts(pb.ListOngoingAlertsRequest())).alerts
    assert [alert.id for alert in everything] == [foreign.id, ongoing.id]


async def test_delete_alert(admin):
    camera = await new_camera(admin)
    alert = await my_alert(camera.device)
    await admin.detection.DeleteAlert(pb.DeleteAlertRequest(alert_id=alert.id))
    await expect_status(admin.detection.GetAlert(pb.GetAlertRequest(alert_id=alert.id)), Code.NOT_FOUND)
    await expect_status(admin.detection.DeleteAlert(pb.DeleteAlertRequest(alert_id=alert.id)), Code.NOT_FOUND)
    # The event stays; with no earlier alert left to join, the device's next alert opens a new one.
    assert (await admin.detection.GetEvent(pb.GetEventRequest(event_id=alert.event_id))).event.id == alert.event_id
    assert (await my_alert(camera.device)).event_id != alert.event_id
