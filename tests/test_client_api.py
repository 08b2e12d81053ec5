"""The Python client's typed surface through real channels: pagers across pages, filters,
download_media, typed errors with google.rpc details, and which calls retry."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from pyrogrpc.client import (
    AsyncPyroClient,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    PyroClient,
    PyroError,
    Unauthenticated,
    Unavailable,
)
from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import detection_service_pb2_grpc, resources_pb2
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.helpers import USER_PASSWORD, tiny_jpeg

Code = grpc.StatusCode


def connect(server, login: str, password: str = USER_PASSWORD) -> AsyncPyroClient:
    return AsyncPyroClient(f"127.0.0.1:{server.port}", login=login, password=password)


async def camera_and_user(admin):
    user_api, user = await admin.new_user()
    _, device = await admin.new_device(user.id, lat=44.5, lon=4.2, azimuth=120.0)
    return user, device


async def test_pagers_walk_every_page_in_order_and_filter_by_time(server, admin):
    user, device = await camera_and_user(admin)
    async with connect(server, user.login) as client, connect(server, device.login) as camera:
        before = datetime.now(UTC) - timedelta(seconds=1)
        sent = [await camera.send_alert(tiny_jpeg()) for _ in range(5)]
        pages: list[str] = []
        real_list = client.detection.ListAlerts

        async def counting(request, **kwargs):
            pages.append(request.page_token)
            return await real_list(request, **kwargs)

        client.detection.ListAlerts = counting
        alerts = [alert async for alert in client.list_alerts(page_size=2)]
        assert [alert.id for alert in alerts] == [alert.id for alert in reversed(sent)]  # newest first
        assert len(pages) == 3 and pages[0] == "" and all(pages[1:])  # 2 + 2 + 1

        assert [a.id async for a in client.list_alerts(created_after=before, page_size=2)] == [
            a.id for a in reversed(sent)
        ]
        assert [a async for a in client.list_alerts(created_before=before)] == []
        events = [event async for event in client.list_events()]
        assert len(events) == 1 and events[0].id == sent[0].event_id  # grouped into one event
        assert [a.id async for a in client.list_event_alerts(events[0].id, page_size=3)] == [
            a.id for a in reversed(sent)
        ]
        assert [d.id async for d in client.list_devices()] == [device.id]
        assert [e.id async for e in client.list_unacknowledged_events()] == [events[0].id]
        acknowledged = await client.acknowledge_event(events[0].id)
        assert acknowledged.is_acknowledged
        assert [e async for e in client.list_unacknowledged_events()] == []
        assert (await client.get_alert(sent[0].id)).media_id == sent[0].media_id
        assert (await client.get_media(sent[0].media_id)).size_bytes > 0
        with pytest.raises(FailedPrecondition):  # URLs need S3 (test_cli_ops covers them on S3)
            await client.get_media_url(sent[0].media_id)


async def test_download_media_writes_the_file_and_never_a_partial_one(server, admin, tmp_path):
    user, device = await camera_and_user(admin)
    image = tiny_jpeg(200_000)  # several chunks
    async with connect(server, user.login) as client, connect(server, device.login) as camera:
        alert = await camera.send_alert(image)
        folder = tmp_path / "downloads"
        folder.mkdir()
        target = folder / "frame.jpg"
        media = await client.download_media(alert.media_id, target)
        assert target.read_bytes() == image and media.id == alert.media_id
        with pytest.raises(NotFound) as error:
            await client.download_media(alert.media_id + 1000, folder / "missing.jpg")
        assert error.value.reason == "NOT_FOUND"
        assert sorted(path.name for path in folder.iterdir()) == ["frame.jpg"]


async def test_typed_errors_carry_reason_and_field_violations(server, admin):
    user, _ = await camera_and_user(admin)
    async with connect(server, ADMIN_LOGIN, ADMIN_PASSWORD) as root, connect(server, user.login) as client:
        with pytest.raises(InvalidArgument) as error:
            await root.create_user("", "short", group_id=user.group_id)
        assert {violation.field for violation in error.value.field_violations} >= {"login", "password"}
        assert error.value.reason == "INVALID_ARGUMENT" and error.value.domain == "pyronear.v1"
        assert error.value.code() == Code.INVALID_ARGUMENT and isinstance(error.value, grpc.aio.AioRpcError)

        with pytest.raises(PermissionDenied):
            await client.create_group("not-for-users")
        with pytest.raises(NotFound) as not_found:
            await client.get_alert(123456)
        assert not_found.value.field_violations == [] and "NOT_FOUND" in str(not_found.value)
        with pytest.raises(PyroError):  # the base class catches them all
            await client.get_event(123456)

    async with connect(server, user.login, "wrong-password") as wrong:
        with pytest.raises(Unauthenticated):
            await wrong.get_my_user()


async def test_labels_triage_poses_and_masks(server, admin):
    """Issue 15's calls through the client: poses and masks managed by the user and read by
    the camera, the triage queue, labels and the label filter; a camera may not label."""
    user, device = await camera_and_user(admin)
    async with connect(server, user.login) as client, connect(server, device.login) as camera:
        east = await client.create_pose(device.id, 90.0, patrol_index=0)
        west = await client.create_pose(device.id, 270.0)
        assert (await client.get_pose(west.id)).azimuth == 270.0 and not west.HasField("patrol_index")
        assert sorted([p.id async for p in client.list_poses(device.id, page_size=1)]) == [east.id, west.id]
        moved = await client.update_pose(west.id, azimuth=260.0, patrol_index=1)
        assert moved.azimuth == 260.0 and moved.patrol_index == 1
        assert not (await client.update_pose(west.id, patrol_index=None)).HasField("patrol_index")  # cleared
        mask = await client.create_occlusion_mask(east.id, 0.0, 0.0, 0.2, 0.2)
        assert [m.id async for m in client.list_occlusion_masks(east.id)] == [mask.id]
        assert [p.id for p in await camera.list_my_poses()] == [east.id, west.id]
        assert [m.id for m in await camera.list_my_occlusion_masks()] == [mask.id]
        assert await camera.list_my_occlusion_masks(west.id) == []

        # Two poses, two events (an alert joins an event of its own pose only).
        first = await camera.send_alert(tiny_jpeg(), boxes=[(0.4, 0.4, 0.6, 0.6, 0.9)], pose_id=east.id)
        pose = await camera.update_my_pose_image(east.id, camera.last_media.id)
        assert pose.image_media_id == first.media_id
        second = await camera.send_alert(tiny_jpeg(), boxes=[(0.4, 0.4, 0.6, 0.6, 0.8)], pose_id=west.id)
        assert first.event_id != second.event_id
        assert [e.id async for e in client.list_unlabeled_events(page_size=1)] == [second.event_id, first.event_id]

        labelled = await client.label_event(first.event_id, "wildfire_smoke")
        assert labelled.label == resources_pb2.EVENT_LABEL_WILDFIRE_SMOKE and labelled.is_acknowledged
        assert labelled.labeled_by_user_id == user.id
        assert [e.id async for e in client.list_unlabeled_events()] == [second.event_id]
        assert [e.id async for e in client.list_events(label="wildfire-smoke")] == [first.event_id]
        assert [e async for e in client.list_events(label="other")] == []
        assert len([e async for e in client.list_events()]) == 2  # no label filter: every event
        relabelled = await client.label_event(first.event_id, resources_pb2.EVENT_LABEL_OTHER_SMOKE)
        assert relabelled.label == resources_pb2.EVENT_LABEL_OTHER_SMOKE

        with pytest.raises(PermissionDenied):  # a label is a human's judgement
            await camera.label_event(second.event_id, "other")
        with pytest.raises(InvalidArgument):
            await client.label_event(second.event_id, resources_pb2.EVENT_LABEL_UNSPECIFIED)
        with pytest.raises(NotFound):
            await client.label_event(424242, "other")
        with pytest.raises(ValueError):  # an unknown name never reaches the server
            await client.label_event(second.event_id, "fog")

        await client.delete_occlusion_mask(mask.id)
        assert await camera.list_my_occlusion_masks() == []
        await client.delete_pose(west.id)
        with pytest.raises(NotFound):
            await client.get_pose(west.id)


async def test_blocking_client_pagers(server, admin):
    user, device = await camera_and_user(admin)

    def blocking() -> None:  # in a thread: the server runs on this test's event loop
        with PyroClient(f"127.0.0.1:{server.port}", login=user.login, password=USER_PASSWORD) as client:
            assert [d.id for d in client.list_devices(page_size=1)] == [device.id]
            assert client.get_my_user().login == user.login
            with pytest.raises(NotFound):
                client.get_device(424242)
            pose = client.create_pose(device.id, 45.0)
            assert [p.id for p in client.list_poses(device.id)] == [pose.id]
            assert list(client.list_unlabeled_events()) == []
            with pytest.raises(NotFound):
                client.label_event(424242, "other_smoke")

    await asyncio.to_thread(blocking)


# --- retries: a real channel against a server that fails on purpose ----------------------


class _Flaky(detection_service_pb2_grpc.DetectionServiceServicer):
    """UNAVAILABLE on the first call of each RPC, then an answer; records every request."""

    def __init__(self):
        self.requests: dict[str, list] = {}

    def _first(self, name: str, request) -> bool:
        self.requests.setdefault(name, []).append(request)
        return len(self.requests[name]) == 1

    async def GetAlert(self, request, context):
        if self._first("GetAlert", request):
            await context.abort(Code.UNAVAILABLE, "database restarting")
        return detection_pb.GetAlertResponse(alert=resources_pb2.Alert(id=request.alert_id))

    async def CreateMyAlert(self, request, context):
        if self._first("CreateMyAlert", request):
            await context.abort(Code.UNAVAILABLE, "database restarting")
        return detection_pb.CreateMyAlertResponse(alert=resources_pb2.Alert(id=7))

    async def LabelEvent(self, request, context):
        if self._first("LabelEvent", request):
            await context.abort(Code.UNAVAILABLE, "database restarting")
        return detection_pb.LabelEventResponse(event=resources_pb2.Event(id=request.event_id, label=request.label))

    async def DeleteAlert(self, request, context):
        self._first("DeleteAlert", request)
        await context.abort(Code.UNAVAILABLE, "database restarting")


async def test_only_idempotent_calls_retry_and_creates_get_a_request_id():
    fake = grpc.aio.server()
    flaky = _Flaky()
    detection_service_pb2_grpc.add_DetectionServiceServicer_to_server(flaky, fake)
    port = fake.add_insecure_port("127.0.0.1:0")
    await fake.start()
    try:
        async with AsyncPyroClient(f"127.0.0.1:{port}", token="t") as client:
            assert (await client.get_alert(5)).id == 5
            assert len(flaky.requests["GetAlert"]) == 2  # retried once, transparently

            assert (await client.create_my_alert(1, azimuth=10.0)).id == 7
            first, second = flaky.requests["CreateMyAlert"]
            assert first.request_id and first.request_id == second.request_id  # the same create, not two

            assert (await client.label_event(3, "other")).label == resources_pb2.EVENT_LABEL_OTHER
            assert len(flaky.requests["LabelEvent"]) == 2  # setting a label twice is harmless

            with pytest.raises(Unavailable):
                await client.call(client.detection.DeleteAlert, detection_pb.DeleteAlertRequest(alert_id=1))
            assert len(flaky.requests["DeleteAlert"]) == 1  # a delete is never sent twice
    finally:
        await fake.stop(0)
