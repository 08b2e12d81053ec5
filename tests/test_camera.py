"""The camera contract (issue 15) through a real channel: poses, occlusion masks, boxed
alerts (masking, sequences, cones), labels and triage, total_size, camera status, SendAlert,
and the unhappy paths of each."""

from __future__ import annotations

import asyncio
import hashlib
import math
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2

from pyrogrpc.db.repositories.detection import EventRepository
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2 as res
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.helpers import Api, expect_status, tiny_jpeg, upload_media, violated_fields
from tests.test_alerts import Recorder, another_device, my_alert, new_camera, stamp

Code = grpc.StatusCode
LEFT = (0.1, 0.4, 0.3, 0.6)
LEFT_MOVED = (0.15, 0.4, 0.35, 0.6)
RIGHT = (0.7, 0.4, 0.9, 0.6)


def box(coordinates: tuple[float, float, float, float], confidence: float = 0.5) -> res.DetectionBox:
    x0, y0, x1, y1 = coordinates
    return res.DetectionBox(box=res.NormalizedBox(x_min=x0, y_min=y0, x_max=x1, y_max=y1), confidence=confidence)


def normalized(x0: float, y0: float, x1: float, y1: float) -> res.NormalizedBox:
    return res.NormalizedBox(x_min=x0, y_min=y0, x_max=x1, y_max=y1)


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def new_pose(client: Api, device_id: int, azimuth: float = 100.0, **fields) -> res.Pose:
    return (
        await client.setup.CreatePose(setup_pb.CreatePoseRequest(device_id=device_id, azimuth=azimuth, **fields))
    ).pose


async def get_event(client: Api, event_id: int) -> res.Event:
    return (await client.detection.GetEvent(pb.GetEventRequest(event_id=event_id))).event


# --- poses ----------------------------------------------------------------------------------


async def test_poses_are_managed_by_the_group_and_read_by_their_device(admin):
    camera = await new_camera(admin)
    stranger = await new_camera(admin)
    second = await new_pose(camera.user, camera.device_row.id, 200.0, patrol_index=1)
    first = await new_pose(camera.user, camera.device_row.id, 20.0, patrol_index=0)
    loose = await new_pose(admin, camera.device_row.id, 300.0)
    assert (first.device_id, first.azimuth, first.patrol_index) == (camera.device_row.id, 20.0, 0)
    assert not loose.HasField("patrol_index") and not loose.HasField("image_media_id")
    assert (await camera.user.setup.GetPose(setup_pb.GetPoseRequest(pose_id=first.id))).pose == first
    listed = await camera.user.setup.ListPoses(setup_pb.ListPosesRequest(device_id=camera.device_row.id, page_size=2))
    assert [p.id for p in listed.poses] == [loose.id, first.id] and listed.total_size == 3
    # The device reads its own, patrol order first.
    mine = (await camera.device.setup.ListMyPoses(setup_pb.ListMyPosesRequest())).poses
    assert [p.id for p in mine] == [first.id, second.id, loose.id]
    # Another group's user sees none of it.
    await expect_status(stranger.user.setup.GetPose(setup_pb.GetPoseRequest(pose_id=first.id)), Code.NOT_FOUND)
    await expect_status(
        stranger.user.setup.CreatePose(setup_pb.CreatePoseRequest(device_id=camera.device_row.id, azimuth=1.0)),
        Code.NOT_FOUND,
    )
    await expect_status(
        stranger.user.setup.ListPoses(setup_pb.ListPosesRequest(device_id=camera.device_row.id)), Code.NOT_FOUND
    )
    assert (await stranger.device.setup.ListMyPoses(setup_pb.ListMyPosesRequest())).poses == []
    # Update with a mask; clearing patrol_index.
    updated = (
        await camera.user.setup.UpdatePose(
            setup_pb.UpdatePoseRequest(
                pose_id=second.id, pose=res.Pose(azimuth=210.0), update_mask=mask("azimuth", "patrol_index")
            )
        )
    ).pose
    assert updated.azimuth == 210.0 and not updated.HasField("patrol_index")
    await camera.user.setup.DeletePose(setup_pb.DeletePoseRequest(pose_id=loose.id))
    await expect_status(camera.user.setup.GetPose(setup_pb.GetPoseRequest(pose_id=loose.id)), Code.NOT_FOUND)
    await expect_status(stranger.user.setup.DeletePose(setup_pb.DeletePoseRequest(pose_id=first.id)), Code.NOT_FOUND)


async def test_pose_validation(admin):
    camera = await new_camera(admin)
    for azimuth, index in ((360.0, None), (-1.0, None), (math.nan, None), (10.0, -1)):
        request = setup_pb.CreatePoseRequest(device_id=camera.device_row.id, azimuth=azimuth, patrol_index=index)
        error = await expect_status(camera.user.setup.CreatePose(request), Code.INVALID_ARGUMENT)
        assert violated_fields(error) == ({"azimuth"} if index is None else {"patrol_index"})
    pose = await new_pose(admin, camera.device_row.id)
    error = await expect_status(
        camera.user.setup.UpdatePose(
            setup_pb.UpdatePoseRequest(pose_id=pose.id, pose=res.Pose(azimuth=400.0), update_mask=mask("azimuth"))
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"pose.azimuth"}
    error = await expect_status(
        camera.user.setup.UpdatePose(
            setup_pb.UpdatePoseRequest(pose_id=pose.id, pose=res.Pose(), update_mask=mask("device_id"))
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"update_mask"}


async def test_update_my_pose_image_takes_an_uploaded_media_of_the_device(admin):
    camera = await new_camera(admin)
    sibling_api, _ = await another_device(admin, camera)
    pose = await new_pose(admin, camera.device_row.id)
    sibling_pose = await new_pose(admin, (await sibling_api.setup.GetMyDevice(setup_pb.GetMyDeviceRequest())).device.id)
    media = await upload_media(camera.device, tiny_jpeg())
    updated = (
        await camera.device.setup.UpdateMyPoseImage(
            setup_pb.UpdateMyPoseImageRequest(pose_id=pose.id, media_id=media.id)
        )
    ).pose
    assert updated.image_media_id == media.id and updated.HasField("image_update_time")
    # The camera status shows the latest image per pose.
    device = (await camera.user.setup.GetDevice(setup_pb.GetDeviceRequest(device_id=camera.device_row.id))).device
    assert [(p.id, p.image_media_id) for p in device.poses] == [(pose.id, media.id)]
    # Another device's pose or media, an unknown media, a media not uploaded yet.
    await expect_status(
        camera.device.setup.UpdateMyPoseImage(
            setup_pb.UpdateMyPoseImageRequest(pose_id=sibling_pose.id, media_id=media.id)
        ),
        Code.NOT_FOUND,
    )
    sibling_media = await upload_media(sibling_api, tiny_jpeg())
    await expect_status(
        camera.device.setup.UpdateMyPoseImage(
            setup_pb.UpdateMyPoseImageRequest(pose_id=pose.id, media_id=sibling_media.id)
        ),
        Code.NOT_FOUND,
    )
    await expect_status(
        camera.device.setup.UpdateMyPoseImage(setup_pb.UpdateMyPoseImageRequest(pose_id=pose.id, media_id=999_999)),
        Code.NOT_FOUND,
    )
    empty = (await camera.device.detection.CreateMyMedia(pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE))).media
    await expect_status(
        camera.device.setup.UpdateMyPoseImage(setup_pb.UpdateMyPoseImageRequest(pose_id=pose.id, media_id=empty.id)),
        Code.FAILED_PRECONDITION,
    )


# --- occlusion masks --------------------------------------------------------------------------


async def test_occlusion_masks(admin):
    camera = await new_camera(admin)
    stranger = await new_camera(admin)
    pose = await new_pose(admin, camera.device_row.id)
    other_pose = await new_pose(admin, camera.device_row.id, 200.0)
    created = (
        await camera.user.setup.CreateOcclusionMask(
            setup_pb.CreateOcclusionMaskRequest(pose_id=pose.id, box=normalized(0.0, 0.0, 0.2, 0.3))
        )
    ).occlusion_mask
    assert created.pose_id == pose.id and created.box == normalized(0.0, 0.0, 0.2, 0.3)
    on_other = (
        await admin.setup.CreateOcclusionMask(
            setup_pb.CreateOcclusionMaskRequest(pose_id=other_pose.id, box=normalized(0.5, 0.5, 1.0, 1.0))
        )
    ).occlusion_mask
    listed = await camera.user.setup.ListOcclusionMasks(setup_pb.ListOcclusionMasksRequest(pose_id=pose.id))
    assert [m.id for m in listed.occlusion_masks] == [created.id] and listed.total_size == 1
    mine = await camera.device.setup.ListMyOcclusionMasks(setup_pb.ListMyOcclusionMasksRequest())
    assert [m.id for m in mine.occlusion_masks] == [created.id, on_other.id]
    one = await camera.device.setup.ListMyOcclusionMasks(setup_pb.ListMyOcclusionMasksRequest(pose_id=other_pose.id))
    assert [m.id for m in one.occlusion_masks] == [on_other.id]
    # Another group's pose and mask are not found; so is a pose of another device for ListMy.
    request = setup_pb.CreateOcclusionMaskRequest(pose_id=pose.id, box=normalized(0.0, 0.0, 0.1, 0.1))
    await expect_status(stranger.user.setup.CreateOcclusionMask(request), Code.NOT_FOUND)
    await expect_status(
        stranger.user.setup.DeleteOcclusionMask(setup_pb.DeleteOcclusionMaskRequest(occlusion_mask_id=created.id)),
        Code.NOT_FOUND,
    )
    await expect_status(
        stranger.device.setup.ListMyOcclusionMasks(setup_pb.ListMyOcclusionMasksRequest(pose_id=pose.id)),
        Code.NOT_FOUND,
    )
    # Bad boxes.
    for bad, fields in (
        (normalized(0.5, 0.0, 0.4, 0.1), {"box.x_max"}),
        (normalized(0.0, 0.0, 1.5, 0.1), {"box.x_max"}),
        (normalized(math.nan, 0.0, 0.5, 0.1), {"box.x_min", "box.x_max"}),
    ):
        error = await expect_status(
            camera.user.setup.CreateOcclusionMask(setup_pb.CreateOcclusionMaskRequest(pose_id=pose.id, box=bad)),
            Code.INVALID_ARGUMENT,
        )
        assert violated_fields(error) == fields
    error = await expect_status(
        camera.user.setup.CreateOcclusionMask(setup_pb.CreateOcclusionMaskRequest(pose_id=pose.id)),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"box"}
    await camera.user.setup.DeleteOcclusionMask(setup_pb.DeleteOcclusionMaskRequest(occlusion_mask_id=created.id))
    # Deleting a pose takes its masks.
    await admin.setup.DeletePose(setup_pb.DeletePoseRequest(pose_id=other_pose.id))
    assert (
        await camera.device.setup.ListMyOcclusionMasks(setup_pb.ListMyOcclusionMasksRequest())
    ).occlusion_masks == []


# --- boxed alerts: masking, sequences, cones ------------------------------------------------------


async def test_masked_boxes_suppress_the_alert(server, admin):
    recorder = Recorder()
    server.alerts.listeners.append(recorder)
    camera = await new_camera(admin)
    pose = await new_pose(admin, camera.device_row.id)
    whole_left = normalized(0.0, 0.0, 0.5, 1.0)
    await admin.setup.CreateOcclusionMask(setup_pb.CreateOcclusionMaskRequest(pose_id=pose.id, box=whole_left))
    suppressed = await my_alert(camera.device, pose_id=pose.id, boxes=[box(LEFT, 0.9)])
    assert suppressed.suppressed and suppressed.event_id == 0
    assert [b.confidence for b in suppressed.boxes] == [0.9]  # kept for the record
    assert recorder.calls == []  # not grouped, notified, pushed to watchers
    assert (await admin.detection.ListEvents(pb.ListEventsRequest(group_id=camera.group_id))).events == []
    # One box outside the mask keeps the alert; the masked one does not steer the event.
    kept = await my_alert(camera.device, pose_id=pose.id, boxes=[box(LEFT, 0.9), box(RIGHT, 0.4)])
    assert not kept.suppressed and kept.event_id > 0
    event = await get_event(admin, kept.event_id)
    assert event.max_confidence == pytest.approx(0.4)
    assert [alert_id for alert_id, _ in recorder.calls] == [kept.id]
    # The same boxes without the pose are not masked (masks belong to poses).
    assert not (await my_alert(camera.device, boxes=[box(LEFT)])).suppressed


async def test_suppressed_alerts_are_not_streamed_to_watchers(admin):
    camera = await new_camera(admin)
    pose = await new_pose(admin, camera.device_row.id)
    whole = normalized(0.0, 0.0, 1.0, 1.0)
    await admin.setup.CreateOcclusionMask(setup_pb.CreateOcclusionMaskRequest(pose_id=pose.id, box=whole))
    suppressed = await my_alert(camera.device, pose_id=pose.id, boxes=[box(LEFT)])
    visible = await my_alert(camera.device)
    call = camera.user.detection.WatchAlerts(pb.WatchAlertsRequest(after_alert_id=0))

    async def next_alert() -> res.Alert:
        message = await asyncio.wait_for(call.read(), 20)
        while not message.HasField("alert"):
            message = await asyncio.wait_for(call.read(), 20)
        return message.alert

    try:
        assert (await next_alert()).id == visible.id != suppressed.id  # replayed
        # Live: a suppressed alert is skipped, the next visible one arrives.
        await my_alert(camera.device, pose_id=pose.id, boxes=[box(RIGHT)])
        live = await my_alert(camera.device)
        assert (await next_alert()).id == live.id
    finally:
        call.cancel()


async def test_boxed_alerts_group_by_pose_and_overlap(admin):
    camera = await new_camera(admin, azimuth=10.0)
    location = setup_pb.UpdateDeviceLocationRequest(device_id=camera.device_row.id, angle_of_view=60.0)
    await admin.setup.UpdateDeviceLocation(location)
    north = await new_pose(admin, camera.device_row.id, 0.0)
    east = await new_pose(admin, camera.device_row.id, 90.0)
    first = await my_alert(camera.device, pose_id=north.id, boxes=[box(LEFT, 0.3)])
    moved = await my_alert(camera.device, pose_id=north.id, boxes=[box(LEFT_MOVED, 0.8)])
    elsewhere = await my_alert(camera.device, pose_id=north.id, boxes=[box(RIGHT, 0.5)])
    other_pose = await my_alert(camera.device, pose_id=east.id, boxes=[box(LEFT, 0.5)])
    back = await my_alert(camera.device, pose_id=north.id, boxes=[box(LEFT_MOVED, 0.2)])
    assert moved.event_id == first.event_id == back.event_id
    assert len({first.event_id, elsewhere.event_id, other_pose.event_id}) == 3
    event = await get_event(admin, first.event_id)
    assert event.pose_id == north.id and event.device_id == camera.device_row.id
    assert event.max_confidence == pytest.approx(0.8)
    # Cone of the most confident box (LEFT_MOVED: centre x 0.25, width 0.2) from the pose's azimuth.
    assert event.azimuth == pytest.approx((0.0 + 60.0 * (0.25 - 0.5)) % 360)
    assert event.cone_angle == pytest.approx(12.0)
    assert event.last_seen_time.ToDatetime() >= moved.create_time.ToDatetime()
    east_event = await get_event(admin, other_pose.event_id)
    assert east_event.azimuth == pytest.approx(90.0 - 60.0 * 0.3)
    # The alert's azimuth defaults to its pose's.
    assert first.azimuth == 0.0 and other_pose.azimuth == 90.0


async def test_iou_threshold_and_relaxation_are_settings(server_factory):
    server = await server_factory(EVENT_IOU_THRESHOLD="0.7", ALERT_RELAXATION_SECONDS="600")
    async with Api.connect(server.port) as api:
        admin = await api.login("superadmin", "superadmin-password")
        camera = await new_camera(admin)
        pose = await new_pose(admin, camera.device_row.id)
        now = datetime.now(UTC)
        first = await my_alert(
            camera.device, pose_id=pose.id, boxes=[box(LEFT)], capture_time=stamp(now - timedelta(minutes=30))
        )
        # IoU 0.6 is not above 0.7: a new event, although the frame is close in time.
        moved = await my_alert(
            camera.device, pose_id=pose.id, boxes=[box(LEFT_MOVED)], capture_time=stamp(now - timedelta(minutes=29))
        )
        assert moved.event_id != first.event_id
        same = await my_alert(
            camera.device, pose_id=pose.id, boxes=[box(LEFT_MOVED)], capture_time=stamp(now - timedelta(minutes=28))
        )
        assert same.event_id == moved.event_id
        # Same box, beyond the 10-minute window of the event's last frame: a new event.
        later = await my_alert(camera.device, pose_id=pose.id, boxes=[box(LEFT_MOVED)], capture_time=stamp(now))
        assert later.event_id != moved.event_id
        event = await get_event(admin, same.event_id)
        assert event.last_seen_time == stamp(now - timedelta(minutes=28))


async def test_alerts_without_boxes_keep_the_old_grouping(admin):
    camera = await new_camera(admin)
    pose = await new_pose(admin, camera.device_row.id)
    first = await my_alert(camera.device)
    second = await my_alert(camera.device, pose_id=pose.id)
    assert second.event_id == first.event_id and not second.suppressed
    event = await get_event(admin, first.event_id)
    assert not event.HasField("max_confidence") and not event.HasField("azimuth")
    assert event.last_seen_time.ToDatetime() >= second.create_time.ToDatetime() - timedelta(seconds=1)


@pytest.mark.parametrize("calls", [8])
async def test_concurrent_boxed_alerts_of_one_device_open_exactly_one_event(admin, calls, monkeypatch):
    # Widen the window between "find the open events" and "insert": without the device row
    # lock, concurrent calls all see no event and each open one.
    original = EventRepository.open_of_device

    async def slow(self, device_id, **kwargs):
        rows = await original(self, device_id, **kwargs)
        await asyncio.sleep(0.05)
        return rows

    monkeypatch.setattr(EventRepository, "open_of_device", slow)
    camera = await new_camera(admin)
    pose = await new_pose(admin, camera.device_row.id)
    alerts = await asyncio.gather(*(my_alert(camera.device, pose_id=pose.id, boxes=[box(LEFT)]) for _ in range(calls)))
    assert len({a.id for a in alerts}) == calls
    assert len({a.event_id for a in alerts}) == 1


async def test_boxed_alert_unhappy_paths(server_factory):
    server = await server_factory(MAX_ALERT_BOXES="3", CAPTURE_TIME_SKEW_SECONDS="30", MAX_CAPTURE_AGE_SECONDS="3600")
    async with Api.connect(server.port) as api:
        admin = await api.login("superadmin", "superadmin-password")
        camera = await new_camera(admin)
        stranger = await new_camera(admin)
        sibling_api, sibling = await another_device(admin, camera)
        sibling_pose = await new_pose(admin, sibling.id)
        foreign_pose = await new_pose(admin, stranger.device_row.id)
        now = datetime.now(UTC)
        cases = [
            ({"boxes": [box((-0.1, 0.0, 0.5, 0.5))]}, {"boxes[0].box.x_min"}),
            ({"boxes": [box((0.6, 0.0, 0.5, 0.5))]}, {"boxes[0].box.x_max"}),
            ({"boxes": [box((0.1, 0.1, 0.5, 0.5), math.nan)]}, {"boxes[0].confidence"}),
            ({"boxes": [box((math.nan, 0.0, 0.5, 0.5))]}, {"boxes[0].box.x_min", "boxes[0].box.x_max"}),
            ({"boxes": [res.DetectionBox(confidence=0.5)]}, {"boxes[0].box.x_max", "boxes[0].box.y_max"}),
            ({"boxes": [box(LEFT)] * 4}, {"boxes"}),
            ({"capture_time": stamp(now + timedelta(minutes=5))}, {"capture_time"}),
            ({"capture_time": stamp(now - timedelta(hours=2))}, {"capture_time"}),
        ]
        for fields, violated in cases:
            call = camera.device.detection.CreateMyAlert(pb.CreateMyAlertRequest(**fields))
            error = await expect_status(call, Code.INVALID_ARGUMENT)
            assert violated_fields(error) == violated, fields
            request = pb.CreateAlertRequest(device_id=camera.device_row.id, **fields)
            await expect_status(admin.detection.CreateAlert(request), Code.INVALID_ARGUMENT)
        # A frame a little in the future (clock skew) is fine.
        assert (await my_alert(camera.device, capture_time=stamp(now + timedelta(seconds=10)))).id > 0
        # A pose of another device (same group or another) is not found.
        for pose_id in (sibling_pose.id, foreign_pose.id, 999_999):
            error = await expect_status(
                camera.device.detection.CreateMyAlert(pb.CreateMyAlertRequest(pose_id=pose_id, boxes=[box(LEFT)])),
                Code.NOT_FOUND,
            )
            assert "pose" in error.details()
        await sibling_api.detection.CreateMyAlert(pb.CreateMyAlertRequest(pose_id=sibling_pose.id, boxes=[box(LEFT)]))
        # Nothing was stored by the refused calls.
        alerts = (await admin.detection.ListAlerts(pb.ListAlertsRequest(group_id=camera.group_id))).alerts
        assert len(alerts) == 2


# --- labels and triage ----------------------------------------------------------------------


async def test_labels_and_triage_queue(admin):
    camera = await new_camera(admin)
    stranger = await new_camera(admin)
    pose = await new_pose(admin, camera.device_row.id)
    older = await my_alert(camera.device, pose_id=pose.id, boxes=[box(LEFT)])
    newer = await my_alert(camera.device, pose_id=pose.id, boxes=[box(RIGHT)])
    foreign = await my_alert(stranger.device)
    queue = await camera.user.detection.ListUnlabeledEvents(pb.ListUnlabeledEventsRequest())
    assert [e.id for e in queue.events] == [newer.event_id, older.event_id] and queue.total_size == 2
    before = datetime.now(UTC) - timedelta(seconds=1)
    labelled = (
        await camera.user.detection.LabelEvent(
            pb.LabelEventRequest(event_id=newer.event_id, label=res.EVENT_LABEL_OTHER_SMOKE)
        )
    ).event
    assert labelled.label == res.EVENT_LABEL_OTHER_SMOKE and labelled.is_acknowledged
    assert labelled.labeled_by_user_id == camera.user_id
    assert labelled.label_time.ToDatetime(tzinfo=UTC) >= before
    relabelled = (
        await admin.detection.LabelEvent(
            pb.LabelEventRequest(event_id=newer.event_id, label=res.EVENT_LABEL_WILDFIRE_SMOKE)
        )
    ).event
    assert relabelled.label == res.EVENT_LABEL_WILDFIRE_SMOKE and relabelled.labeled_by_user_id != camera.user_id
    queue = await camera.user.detection.ListUnlabeledEvents(pb.ListUnlabeledEventsRequest())
    assert [e.id for e in queue.events] == [older.event_id]
    by_label = await camera.user.detection.ListEvents(pb.ListEventsRequest(label=res.EVENT_LABEL_WILDFIRE_SMOKE))
    assert [e.id for e in by_label.events] == [newer.event_id] and by_label.total_size == 1
    assert (await camera.user.detection.ListEvents(pb.ListEventsRequest(label=res.EVENT_LABEL_OTHER))).events == []
    assert (await camera.user.detection.ListEvents(pb.ListEventsRequest())).total_size == 2
    # Unhappy paths: no label, another group's event, a device.
    error = await expect_status(
        camera.user.detection.LabelEvent(pb.LabelEventRequest(event_id=older.event_id)), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"label"}
    await expect_status(
        camera.user.detection.LabelEvent(pb.LabelEventRequest(event_id=older.event_id, label=99)), Code.INVALID_ARGUMENT
    )
    await expect_status(
        camera.user.detection.LabelEvent(pb.LabelEventRequest(event_id=foreign.event_id, label=res.EVENT_LABEL_OTHER)),
        Code.NOT_FOUND,
    )
    await expect_status(
        camera.device.detection.LabelEvent(pb.LabelEventRequest(event_id=older.event_id, label=res.EVENT_LABEL_OTHER)),
        Code.PERMISSION_DENIED,
    )
    assert (await get_event(admin, older.event_id)).label == res.EVENT_LABEL_UNSPECIFIED


# --- total_size and camera status ---------------------------------------------------------------


async def test_total_size_counts_every_page(admin):
    camera = await new_camera(admin)
    for _ in range(5):
        await my_alert(camera.device)
    first = await camera.user.detection.ListAlerts(pb.ListAlertsRequest(page_size=2))
    second = await camera.user.detection.ListAlerts(pb.ListAlertsRequest(page_size=2, page_token=first.next_page_token))
    assert first.total_size == second.total_size == 5 and len(second.alerts) == 2
    cut = first.alerts[0].create_time
    assert (await camera.user.detection.ListAlerts(pb.ListAlertsRequest(created_before=cut))).total_size == 4
    assert (await camera.user.setup.ListDevices(setup_pb.ListDevicesRequest())).total_size == 1
    groups = await admin.access.ListGroups(access_pb.ListGroupsRequest())
    assert groups.total_size == len(groups.groups)


async def test_camera_status_online_and_poses(server_factory):
    server = await server_factory(DEVICE_ONLINE_SECONDS="2")
    async with Api.connect(server.port) as api:
        admin = await api.login("superadmin", "superadmin-password")
        camera = await new_camera(admin)
        pose = await new_pose(admin, camera.device_row.id)

        async def status() -> res.Device:
            return (await camera.user.setup.GetDevice(setup_pb.GetDeviceRequest(device_id=camera.device_row.id))).device

        assert not (await status()).online  # never pinged
        await camera.device.setup.Heartbeat(setup_pb.HeartbeatRequest())
        device = await status()
        assert device.HasField("last_ping_time") and [p.id for p in device.poses] == [pose.id]
        listed = (await camera.user.setup.ListDevices(setup_pb.ListDevicesRequest())).devices
        assert [(d.id, len(d.poses)) for d in listed] == [(camera.device_row.id, 1)]
        # Online right after the heartbeat (unless the machine stalled past the window), then offline.
        deadline = asyncio.get_running_loop().time() + 30
        while (await status()).online:
            assert asyncio.get_running_loop().time() < deadline, "still online long after the window"
            await asyncio.sleep(0.2)


async def test_angle_of_view_is_set_with_the_location(admin):
    camera = await new_camera(admin)
    device = (await camera.device.setup.UpdateMyLocation(setup_pb.UpdateMyLocationRequest(angle_of_view=87.5))).device
    assert device.angle_of_view == 87.5
    for bad in (0.0, 361.0, math.nan):
        error = await expect_status(
            camera.device.setup.UpdateMyLocation(setup_pb.UpdateMyLocationRequest(angle_of_view=bad)),
            Code.INVALID_ARGUMENT,
        )
        assert violated_fields(error) == {"angle_of_view"}


# --- SendAlert ---------------------------------------------------------------------------------


def send_requests(
    data: bytes, *, chunk_size: int = 64 * 1024, sha256: str | None = None, size: int | None = None, **alert
):
    header = pb.SendAlertHeader(
        alert=pb.CreateMyAlertRequest(**alert),
        size_bytes=len(data) if size is None else size,
        sha256=hashlib.sha256(data).hexdigest() if sha256 is None else sha256,
    )
    yield pb.SendAlertRequest(header=header)
    for start in range(0, len(data), chunk_size):
        yield pb.SendAlertRequest(chunk=data[start : start + chunk_size])


async def counts(admin: Api, group_id: int) -> tuple[int, int]:
    alerts = await admin.detection.ListAlerts(pb.ListAlertsRequest(group_id=group_id))
    media = await admin.detection.ListMedia(pb.ListMediaRequest(group_id=group_id))
    return alerts.total_size, media.total_size


async def test_send_alert_stores_the_alert_and_its_picture_in_one_call(server, admin):
    camera = await new_camera(admin)
    pose = await new_pose(admin, camera.device_row.id)
    data = tiny_jpeg(200_000)
    request_id = str(uuid.uuid4())
    sent = await camera.device.detection.SendAlert(
        send_requests(data, pose_id=pose.id, boxes=[box(LEFT, 0.7)], request_id=request_id)
    )
    assert sent.alert.media_id == sent.media.id and sent.media.size_bytes == len(data)
    assert sent.media.content_type == "image/jpeg" and sent.alert.pose_id == pose.id
    assert [b.confidence for b in sent.alert.boxes] == [pytest.approx(0.7)]
    # The stored picture is the one sent.
    chunks = [
        m.chunk async for m in camera.user.detection.DownloadMedia(pb.DownloadMediaRequest(media_id=sent.media.id))
    ]
    assert b"".join(chunks) == data
    # A retry after a lost answer gets the same alert and media, and stores nothing more.
    again = await camera.device.detection.SendAlert(
        send_requests(data, pose_id=pose.id, boxes=[box(LEFT, 0.7)], request_id=request_id)
    )
    assert again.alert == sent.alert and again.media == sent.media
    assert await counts(admin, camera.group_id) == (1, 1)


async def test_send_alert_is_all_or_nothing(server, admin):
    camera = await new_camera(admin)
    stranger = await new_camera(admin)
    foreign_pose = await new_pose(admin, stranger.device_row.id)
    data = tiny_jpeg()
    media_dir = server.settings.media_dir
    # A refused alert stores no media and no object.
    await expect_status(camera.device.detection.SendAlert(send_requests(data, pose_id=foreign_pose.id)), Code.NOT_FOUND)
    error = await expect_status(
        camera.device.detection.SendAlert(send_requests(data, boxes=[box((0.5, 0.5, 0.4, 0.6))])), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"boxes[0].box.x_max"}
    # A failed upload (wrong checksum, wrong type, short stream) leaves no media and no alert.
    await expect_status(camera.device.detection.SendAlert(send_requests(data, sha256="0" * 64)), Code.INVALID_ARGUMENT)
    await expect_status(camera.device.detection.SendAlert(send_requests(b"not a picture" * 10)), Code.INVALID_ARGUMENT)
    await expect_status(
        camera.device.detection.SendAlert(send_requests(data, size=len(data) + 10)), Code.INVALID_ARGUMENT
    )
    # Protocol errors.
    await expect_status(
        camera.device.detection.SendAlert(iter([pb.SendAlertRequest(chunk=b"x")])), Code.INVALID_ARGUMENT
    )
    error = await expect_status(
        camera.device.detection.SendAlert(send_requests(data, media_id=5)), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"header.alert.media_id"}
    assert await counts(admin, camera.group_id) == (0, 0)
    assert not any(p.is_file() for p in media_dir.rglob("*")) if media_dir.exists() else True
    # Only devices send.
    await expect_status(camera.user.detection.SendAlert(send_requests(data)), Code.PERMISSION_DENIED)


async def test_send_alert_removes_its_media_when_the_alert_fails_after_the_upload(server, admin, monkeypatch):
    from pyrogrpc.domain.errors import Unavailable

    camera = await new_camera(admin)

    async def database_gone(principal, new, request):
        raise Unavailable("database unavailable")

    monkeypatch.setattr(server.alerts, "create_sent_alert", database_gone)
    await expect_status(camera.device.detection.SendAlert(send_requests(tiny_jpeg())), Code.UNAVAILABLE)
    assert await counts(admin, camera.group_id) == (0, 0)
    media_dir = server.settings.media_dir
    assert not media_dir.exists() or not any(p.is_file() for p in media_dir.rglob("*"))


async def test_concurrent_send_alert_retries_make_one_alert(admin):
    camera = await new_camera(admin)
    data = tiny_jpeg(100_000)

    async def send_until_answered():
        # As the client does: UNAVAILABLE, and RESOURCE_EXHAUSTED while the device already
        # runs its most uploads at once (MAX_UPLOADS_PER_DEVICE), are retried with the same
        # request_id.
        for _ in range(20):
            # Written message by message, as the client does: when the server refuses the
            # stream mid-send, grpc.aio's own request consumer reports INTERNAL instead of the
            # server's status (grpc/grpc#36066); a failed write() leaves the call's status.
            call = camera.device.detection.SendAlert()
            try:
                for message in send_requests(data, request_id="same-frame"):
                    await call.write(message)
                await call.done_writing()
            except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
                pass  # the call has ended: awaiting it gives its status
            try:
                return await call
            except grpc.aio.AioRpcError as error:
                if error.code() not in (Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED):
                    raise
                await asyncio.sleep(0.1)
        raise AssertionError("no answer after 20 attempts")

    answers = await asyncio.gather(*(send_until_answered() for _ in range(4)))
    assert len({a.alert.id for a in answers}) == 1 and len({a.media.id for a in answers}) == 1
    assert answers[0].alert.media_id == answers[0].media.id
    assert await counts(admin, camera.group_id) == (1, 1)
