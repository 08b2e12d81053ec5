"""Incidents through a real channel (issue 16): fusion of several cameras' cones into one
located incident, merges, closing, detaching, access, and notifications once per incident.

Geometry: towers south of a known point, each sending a boxed alert whose box is centred, so
the event's cone points from the tower at the point (azimuth from pyproj's geodesic), with an
opening of angle_of_view x box width (60 deg x 0.04 = 2.4 deg).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc
import pytest
from pyproj import Geod

from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2 as res
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.helpers import Api, expect_status, violated_fields
from tests.test_alerts import Camera, another_device, my_alert, new_camera
from tests.test_notifications import (
    TOKEN,
    add_recipient,
    fake_http,  # noqa: F401  (shared fixture)
)

Code = grpc.StatusCode
GEOD = Geod(ellps="WGS84")
ANGLE_OF_VIEW = 60.0
FIRE = (44.0, 4.0)
# Two towers ~9.6 km apart, ~7 km south-west and south-east of FIRE.
WEST = (43.95, 3.94)
EAST = (43.95, 4.06)
NORTH_WEST = (44.05, 3.94)
NORTH_EAST = (44.05, 4.06)

T = TypeVar("T")


def bearing(tower: tuple[float, float], target: tuple[float, float]) -> float:
    azimuth, _, _ = GEOD.inv(tower[1], tower[0], target[1], target[0])
    return azimuth % 360


def distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return GEOD.inv(a[1], a[0], b[1], b[0])[2]


def box(centre_x: float, width: float = 0.04, confidence: float = 0.8) -> res.DetectionBox:
    half = width / 2
    return res.DetectionBox(
        box=res.NormalizedBox(x_min=centre_x - half, y_min=0.4, x_max=centre_x + half, y_max=0.6),
        confidence=confidence,
    )


async def look_at(device: Api, tower: tuple[float, float], target: tuple[float, float], centre_x: float = 0.5, **kw):
    """A boxed alert whose cone points from `tower` at `target` (the box at `centre_x`)."""
    azimuth = (bearing(tower, target) - ANGLE_OF_VIEW * (centre_x - 0.5)) % 360
    return await my_alert(device, azimuth=azimuth, boxes=[box(centre_x, **kw)])


async def tower_in(admin: Api, camera: Camera, tower: tuple[float, float]) -> Api:
    device, _ = await another_device(admin, camera, lat=tower[0], lon=tower[1], angle_of_view=ANGLE_OF_VIEW)
    return device


async def first_tower(admin: Api, tower: tuple[float, float]) -> Camera:
    return await new_camera(admin, lat=tower[0], lon=tower[1], angle_of_view=ANGLE_OF_VIEW)


async def incidents(client: Api, **filters) -> list[res.Incident]:
    return list((await client.detection.ListIncidents(pb.ListIncidentsRequest(page_size=1000, **filters))).incidents)


async def eventually(read: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 30.0) -> T:
    """Poll `read` until `check` holds (the machine is noisy: no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s; last value: {value}")
        await asyncio.sleep(0.05)


async def settled(server) -> None:
    """Every fusion job done, then every notification job."""
    await server.incident_jobs.join()
    await server.queue.join()


def position(incident: res.Incident) -> tuple[float, float]:
    assert incident.HasField("lat") and incident.HasField("lon")
    return incident.lat, incident.lon


# --- fusion ------------------------------------------------------------------------------


async def test_two_towers_locate_the_fire_within_300_m(server, admin):
    west = await first_tower(admin, WEST)
    east = await tower_in(admin, west, EAST)
    a = await look_at(west.device, WEST, FIRE)
    b = await look_at(east, EAST, FIRE)
    [incident] = await eventually(lambda: incidents(west.user), lambda found: found and found[0].HasField("lat"))
    assert distance(position(incident), FIRE) < 300
    assert 0 < incident.uncertainty_m < 1000
    assert incident.status == res.INCIDENT_STATUS_OPEN and incident.group_id == west.group_id
    assert list(incident.event_ids) == sorted([a.event_id, b.event_id])
    assert sorted(incident.device_ids) == sorted([a.device_id, b.device_id])
    assert [c.event_id for c in incident.cones] == sorted([a.event_id, b.event_id])
    cone = next(c for c in incident.cones if c.event_id == a.event_id)
    assert (cone.tower_lat, cone.tower_lon) == WEST and cone.angle == pytest.approx(ANGLE_OF_VIEW * 0.04)
    assert cone.azimuth == pytest.approx(bearing(WEST, FIRE), abs=1e-6)
    assert incident.HasField("positioned_time") and not incident.HasField("close_time")

    got = (await west.user.detection.GetIncident(pb.GetIncidentRequest(incident_id=incident.id))).incident
    assert got == incident
    events = await west.user.detection.ListIncidentEvents(pb.ListIncidentEventsRequest(incident_id=incident.id))
    assert sorted(e.id for e in events.events) == sorted([a.event_id, b.event_id]) and events.total_size == 2
    assert {e.incident_id for e in events.events} == {incident.id}


async def test_one_camera_makes_an_incident_without_position(server, admin):
    west = await first_tower(admin, WEST)
    alert = await look_at(west.device, WEST, FIRE)
    [incident] = await eventually(lambda: incidents(west.user), lambda found: len(found) == 1)
    assert not incident.HasField("lat") and not incident.HasField("uncertainty_m")
    assert list(incident.event_ids) == [alert.event_id] and len(incident.cones) == 1
    # Another alert of the same event (same box): still one incident, still no position.
    await look_at(west.device, WEST, FIRE)
    await settled(server)
    [again] = await incidents(west.user)
    assert again.id == incident.id and not again.HasField("lat")
    assert again.last_seen_time.ToDatetime() >= incident.last_seen_time.ToDatetime()


async def test_an_alert_without_cone_is_an_incident_of_its_own(server, admin):
    camera = await new_camera(admin)  # no angle_of_view, no boxes: no cone
    other, _ = await another_device(admin, camera)
    await my_alert(camera.device)
    await my_alert(other)
    found = await eventually(lambda: incidents(camera.user), lambda found: len(found) == 2)
    assert all(not i.HasField("lat") and not i.cones for i in found)


async def test_two_fires_5_km_apart_seen_by_the_same_towers_are_two_incidents(server, admin):
    second_fire = (FIRE[0] + 0.045, FIRE[1])  # 5 km north
    assert 4900 < distance(FIRE, second_fire) < 5100
    west = await first_tower(admin, WEST)
    east = await tower_in(admin, west, EAST)
    # One box per fire in each camera's frame: two events per camera.
    await look_at(west.device, WEST, FIRE, centre_x=0.3)
    await look_at(west.device, WEST, second_fire, centre_x=0.7)
    await look_at(east, EAST, FIRE, centre_x=0.3)
    await look_at(east, EAST, second_fire, centre_x=0.7)
    found = await eventually(
        lambda: incidents(west.user), lambda found: len(found) == 2 and all(i.HasField("lat") for i in found)
    )
    located = sorted(position(i) for i in found)
    assert distance(located[0], FIRE) < 300 and distance(located[1], second_fire) < 300
    assert all(len(i.device_ids) == 2 and i.status == res.INCIDENT_STATUS_OPEN for i in found)


async def test_alerts_of_many_towers_at_once_make_exactly_one_incident(server, admin):
    towers = [WEST, EAST, NORTH_WEST, NORTH_EAST, (44.0, 3.92), (44.0, 4.08)]
    first = await first_tower(admin, towers[0])
    devices = [first.device] + [await tower_in(admin, first, tower) for tower in towers[1:]]
    alerts = await asyncio.gather(*(look_at(d, t, FIRE) for d, t in zip(devices, towers, strict=True)))
    events = {a.event_id for a in alerts}
    found = await eventually(
        lambda: incidents(first.user), lambda found: {e for i in found for e in i.event_ids} == events
    )
    assert len(found) == 1, found  # one incident, never two (nor a merged one)
    assert distance(position(found[0]), FIRE) < 300


async def test_incidents_closer_than_2_km_merge_into_the_older(server, admin):
    near = (FIRE[0] + 0.009, FIRE[1])  # 1 km north
    west = await first_tower(admin, WEST)
    east = await tower_in(admin, west, EAST)
    north_west = await tower_in(admin, west, NORTH_WEST)
    north_east = await tower_in(admin, west, NORTH_EAST)
    await look_at(west.device, WEST, FIRE)
    await look_at(east, EAST, FIRE)
    [older] = await eventually(lambda: incidents(west.user), lambda found: found and found[0].HasField("lat"))
    await look_at(north_west, NORTH_WEST, near)
    await look_at(north_east, NORTH_EAST, near)
    found = await eventually(
        lambda: incidents(west.user),
        lambda found: any(i.HasField("merged_into_id") for i in found),
    )
    survivor = next(i for i in found if i.id == older.id)
    merged = next(i for i in found if i.id != older.id)
    assert merged.merged_into_id == older.id and merged.status == res.INCIDENT_STATUS_CLOSED
    assert merged.HasField("close_time") and not merged.event_ids
    assert len(survivor.event_ids) == 4 and survivor.status == res.INCIDENT_STATUS_OPEN
    open_only = await incidents(west.user, open_only=True)
    assert [i.id for i in open_only] == [older.id]


async def test_an_incident_closes_after_the_window(server_factory):
    server = await server_factory(INCIDENT_WINDOW_SECONDS="2", INCIDENT_SWEEP_SECONDS="1")
    async with Api.connect(server.port) as api:
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        west = await first_tower(admin, WEST)
        await look_at(west.device, WEST, FIRE)
        [incident] = await eventually(lambda: incidents(west.user), lambda found: len(found) == 1)
        [closed] = await eventually(
            lambda: incidents(west.user), lambda found: found[0].status == res.INCIDENT_STATUS_CLOSED
        )
        assert closed.id == incident.id and closed.HasField("close_time")
        assert await incidents(west.user, open_only=True) == []


async def test_a_detached_event_is_never_put_back(server, admin):
    west = await first_tower(admin, WEST)
    east = await tower_in(admin, west, EAST)
    a = await look_at(west.device, WEST, FIRE)
    b = await look_at(east, EAST, FIRE)
    [incident] = await eventually(lambda: incidents(west.user), lambda found: found and found[0].HasField("lat"))
    request = pb.DetachIncidentEventRequest(incident_id=incident.id, event_id=b.event_id)
    response = await west.user.detection.DetachIncidentEvent(request)
    assert list(response.incident.event_ids) == [a.event_id] and not response.incident.HasField("lat")
    assert list(response.event_incident.event_ids) == [b.event_id]
    assert response.event_incident.id != incident.id
    # Detaching again: the event is no longer in that incident.
    await expect_status(west.user.detection.DetachIncidentEvent(request), Code.FAILED_PRECONDITION)

    # A more confident box, moved a little: the event's cone changes, fusion runs again.
    await look_at(east, EAST, FIRE, centre_x=0.51, confidence=0.95)
    await look_at(east, EAST, FIRE, centre_x=0.51)  # same cone: only seen again
    await settled(server)
    got = (await west.user.detection.GetIncident(pb.GetIncidentRequest(incident_id=incident.id))).incident
    assert list(got.event_ids) == [a.event_id]
    alone = (
        await west.user.detection.GetIncident(pb.GetIncidentRequest(incident_id=response.event_incident.id))
    ).incident
    assert list(alone.event_ids) == [b.event_id]


# --- access and bad input -------------------------------------------------------------------


async def test_other_groups_incidents_are_not_found_and_cameras_cannot_read_them(server, admin):
    west = await first_tower(admin, WEST)
    alert = await look_at(west.device, WEST, FIRE)
    [incident] = await eventually(lambda: incidents(west.user), lambda found: len(found) == 1)
    stranger = await new_camera(admin)
    get = pb.GetIncidentRequest(incident_id=incident.id)
    await expect_status(stranger.user.detection.GetIncident(get), Code.NOT_FOUND)
    events = pb.ListIncidentEventsRequest(incident_id=incident.id)
    await expect_status(stranger.user.detection.ListIncidentEvents(events), Code.NOT_FOUND)
    detach = pb.DetachIncidentEventRequest(incident_id=incident.id, event_id=alert.event_id)
    await expect_status(stranger.user.detection.DetachIncidentEvent(detach), Code.NOT_FOUND)
    assert await incidents(stranger.user) == []
    # The group filter cannot widen a user's view; an admin sees every group.
    assert await incidents(stranger.user, group_id=west.group_id) == []
    assert [i.id for i in await incidents(admin, group_id=west.group_id)] == [incident.id]
    assert (await admin.detection.GetIncident(get)).incident == incident
    for call in (
        west.device.detection.GetIncident(get),
        west.device.detection.ListIncidents(pb.ListIncidentsRequest()),
        west.device.detection.DetachIncidentEvent(detach),
    ):
        await expect_status(call, Code.PERMISSION_DENIED)
    # An event of another incident of the group, and a missing event.
    other = await look_at(await tower_in(admin, west, (45.0, 5.0)), (45.0, 5.0), (45.1, 5.0))
    await eventually(lambda: incidents(west.user), lambda found: len(found) == 2)
    wrong = pb.DetachIncidentEventRequest(incident_id=incident.id, event_id=other.event_id)
    await expect_status(west.user.detection.DetachIncidentEvent(wrong), Code.FAILED_PRECONDITION)
    missing = pb.DetachIncidentEventRequest(incident_id=incident.id, event_id=999_999_999)
    await expect_status(west.user.detection.DetachIncidentEvent(missing), Code.NOT_FOUND)
    await expect_status(west.user.detection.GetIncident(pb.GetIncidentRequest(incident_id=999_999_999)), Code.NOT_FOUND)


async def test_bad_ids_tokens_and_windows_are_invalid_argument(server, admin):
    camera = await new_camera(admin)
    d = camera.user.detection
    for call, field in (
        (d.GetIncident(pb.GetIncidentRequest(incident_id=0)), "incident_id"),
        (d.GetIncident(pb.GetIncidentRequest(incident_id=-4)), "incident_id"),
        (d.ListIncidentEvents(pb.ListIncidentEventsRequest(incident_id=0)), "incident_id"),
        (d.DetachIncidentEvent(pb.DetachIncidentEventRequest(incident_id=1, event_id=0)), "event_id"),
        (d.ListIncidents(pb.ListIncidentsRequest(page_token="not-a-token")), "page_token"),
        (d.ListIncidents(pb.ListIncidentsRequest(page_size=-1)), "page_size"),
        (
            d.ListIncidentEvents(pb.ListIncidentEventsRequest(incident_id=1, page_token="garbage")),
            "page_token",
        ),
    ):
        error = await expect_status(call, Code.INVALID_ARGUMENT)
        assert field in violated_fields(error)
    request = pb.ListIncidentsRequest()
    request.start_time.FromSeconds(2_000_000_000)
    request.end_time.FromSeconds(1_000_000_000)
    error = await expect_status(d.ListIncidents(request), Code.INVALID_ARGUMENT)
    assert "start_time" in violated_fields(error)


async def test_list_pages_and_time_filters(server, admin):
    camera = await new_camera(admin)
    others = [await another_device(admin, camera) for _ in range(2)]
    for device in [camera.device] + [d for d, _ in others]:
        await my_alert(device)  # no cone: one incident each
    found = await eventually(lambda: incidents(camera.user), lambda found: len(found) == 3)
    first = await camera.user.detection.ListIncidents(pb.ListIncidentsRequest(page_size=2))
    assert first.total_size == 3 and len(first.incidents) == 2 and first.next_page_token
    second = await camera.user.detection.ListIncidents(
        pb.ListIncidentsRequest(page_size=2, page_token=first.next_page_token)
    )
    assert [i.id for i in [*first.incidents, *second.incidents]] == [i.id for i in found]
    assert [i.id for i in found] == sorted((i.id for i in found), reverse=True)  # newest first
    future = pb.ListIncidentsRequest()
    future.start_time.FromSeconds(int(time.time()) + 3600)
    assert list((await camera.user.detection.ListIncidents(future)).incidents) == []
    past = pb.ListIncidentsRequest()
    past.end_time.FromSeconds(1_000_000_000)
    assert list((await camera.user.detection.ListIncidents(past)).incidents) == []


async def test_alerts_on_two_replicas_at_once_make_exactly_one_incident(server_factory):
    replicas = [await server_factory(), await server_factory()]
    towers = [WEST, EAST, NORTH_WEST, NORTH_EAST]
    async with Api.connect(replicas[0].port) as one, Api.connect(replicas[1].port) as two:
        admin = await one.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        first = await first_tower(admin, towers[0])
        devices = [first.device] + [await tower_in(admin, first, tower) for tower in towers[1:]]
        # Half of the cameras send to the other replica (same database).
        devices = [d if n % 2 == 0 else two.with_token(d.token) for n, d in enumerate(devices)]
        alerts = await asyncio.gather(*(look_at(d, t, FIRE) for d, t in zip(devices, towers, strict=True)))
        events = {a.event_id for a in alerts}
        found = await eventually(
            lambda: incidents(first.user), lambda found: {e for i in found for e in i.event_ids} == events
        )
        assert len(found) == 1, found


# --- notifications once per incident ------------------------------------------------------


async def test_telegram_and_webhooks_hear_once_per_incident_not_once_per_camera(server_factory, fake_http):

    server = await server_factory(
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_BASE_URL=fake_http.url,
        INCIDENT_LINK_TEMPLATE="https://platform.example/incidents/{incident_id}",
    )
    async with Api.connect(server.port) as api:
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        west = await first_tower(admin, WEST)
        east = await tower_in(admin, west, EAST)
        third = await tower_in(admin, west, NORTH_WEST)
        await add_recipient(admin, west.group_id, "1001")
        await admin.setup.CreateWebhook(setup_pb.CreateWebhookRequest(callback="incident", url=f"{fake_http.url}/hook"))
        await look_at(west.device, WEST, FIRE)
        await settled(server)
        await look_at(east, EAST, FIRE)
        await settled(server)
        # More cameras and more alerts of the same fire: nobody hears of it again.
        await look_at(third, NORTH_WEST, FIRE)
        await look_at(west.device, WEST, FIRE)
        await look_at(east, EAST, FIRE)
        await settled(server)
        [incident] = await incidents(west.user)
        assert len(incident.device_ids) == 3

        texts = [body["text"] for body in fake_http.telegram()]
        link = f"https://platform.example/incidents/{incident.id}"
        assert len(texts) == 2, texts  # opened, then positioned
        assert "not located yet (seen by 1 camera)" in texts[0] and texts[0].endswith(link)
        assert "Position: 4" in texts[1] and "m)" in texts[1] and texts[1].endswith(link)

        hooks = fake_http.hooks()
        assert [hook["type"] for hook in hooks] == ["incident_opened", "incident_positioned"]
        assert all(hook["incident"]["id"] == incident.id and hook["incident"]["link"] == link for hook in hooks)
        assert hooks[0]["incident"]["lat"] is None and len(hooks[0]["incident"]["cones"]) == 1
        located = hooks[1]["incident"]
        assert distance((located["lat"], located["lon"]), FIRE) < 300 and len(located["device_ids"]) == 2


async def test_the_sweep_fuses_events_whose_fusion_job_was_lost(server, admin):
    west = await first_tower(admin, WEST)
    east = await tower_in(admin, west, EAST)
    await server.incident_jobs.stop()  # as if the process died after the alerts' commits
    a = await look_at(west.device, WEST, FIRE)
    b = await look_at(east, EAST, FIRE)
    assert await incidents(west.user) == []
    closed, fused = await server.incidents.sweep()  # what every replica runs periodically
    assert (closed, fused) == (0, 2)
    [incident] = await incidents(west.user)
    assert list(incident.event_ids) == sorted([a.event_id, b.event_id])
    assert distance(position(incident), FIRE) < 300
    assert await server.incidents.sweep() == (0, 0)  # nothing left: idempotent
