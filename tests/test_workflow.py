"""The seed's whole workflow end to end through the real channel, as its actors do it:
admin creates a group and a user; the user registers a camera; the camera logs in, uploads
a picture and raises an alert; the user lists alerts, acknowledges the event and downloads
the picture. On SQLite with the local media folder, and on PostgreSQL with S3 (moto).
"""

from __future__ import annotations

import uuid

import grpc
import httpx
import pytest

from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.fixtures_s3 import moto_s3_endpoint  # noqa: F401  (shared fixture)
from tests.helpers import USER_PASSWORD, Api, expect_status, tiny_jpeg, upload_media


@pytest.fixture
async def workflow_server(request, database_url, server_factory):
    """SQLite runs embedded with a local media folder; PostgreSQL runs with S3 on moto."""
    if database_url.startswith("sqlite"):
        return await server_factory(), "local"
    endpoint = request.getfixturevalue("moto_s3_endpoint")
    server = await server_factory(
        S3_ENDPOINT_URL=endpoint,
        S3_ACCESS_KEY="testing",
        S3_SECRET_KEY="testing",
        S3_REGION="us-east-1",
        BUCKET_NAME=f"workflow-{uuid.uuid4().hex[:12]}",
        S3_CREATE_BUCKET="true",  # a fresh bucket per test
    )
    return server, "s3"


async def test_detection_workflow(workflow_server):
    server, storage = workflow_server
    async with Api.connect(server.port) as anonymous:
        admin = await anonymous.login(ADMIN_LOGIN, ADMIN_PASSWORD)

        # The admin creates a group and a user in it.
        group = await admin.create_group("brigade-ardeche")
        user_row = await admin.create_user(group.id)
        user = await anonymous.login(user_row.login, USER_PASSWORD)

        # The user registers its camera, which then logs in with its own credentials.
        register = setup_pb.RegisterDeviceRequest(
            login="cam-ardeche-1", password="camera-password-1", lat=44.7, lon=4.6, azimuth=270.0
        )
        device_row = (await user.setup.RegisterDevice(register)).device
        assert device_row.group_id == group.id and device_row.owner_id == user_row.id
        device = await anonymous.login("cam-ardeche-1", "camera-password-1")

        # The camera uploads a picture and raises an alert with it.
        picture = tiny_jpeg(4096)
        media = await upload_media(device, picture)
        assert media.size_bytes == len(picture) and media.content_type == "image/jpeg" and media.HasField("bucket_key")
        create = pb.CreateMyAlertRequest(media_id=media.id, localization="[[0.1,0.1,0.2,0.2,0.8]]")
        alert = (await device.detection.CreateMyAlert(create)).alert
        assert (
            alert.group_id == group.id
            and alert.media_id == media.id
            and (alert.lat, alert.lon, alert.azimuth) == (44.7, 4.6, 270.0)
        )

        # The user sees the alert and its unacknowledged event, and acknowledges it.
        assert list((await user.detection.ListAlerts(pb.ListAlertsRequest())).alerts) == [alert]
        assert [a.id for a in (await user.detection.ListOngoingAlerts(pb.ListOngoingAlertsRequest())).alerts] == [
            alert.id
        ]
        pending = (await user.detection.ListUnacknowledgedEvents(pb.ListUnacknowledgedEventsRequest())).events
        assert [event.id for event in pending] == [alert.event_id]
        event = (await user.detection.AcknowledgeEvent(pb.AcknowledgeEventRequest(event_id=alert.event_id))).event
        assert event.is_acknowledged
        assert (await user.detection.ListUnacknowledgedEvents(pb.ListUnacknowledgedEventsRequest())).events == []

        # The user downloads the picture of the alert.
        messages = [
            message async for message in user.detection.DownloadMedia(pb.DownloadMediaRequest(media_id=alert.media_id))
        ]
        assert messages[0].media.id == media.id
        assert b"".join(message.chunk for message in messages) == picture

        # With S3 it can also fetch it straight from the bucket; the local folder has no URL.
        url_request = pb.GetMediaUrlRequest(media_id=media.id)
        if storage == "s3":
            url = (await user.detection.GetMediaUrl(url_request)).url
            async with httpx.AsyncClient() as http:
                assert (await http.get(url)).content == picture
        else:
            await expect_status(user.detection.GetMediaUrl(url_request), grpc.StatusCode.FAILED_PRECONDITION)

        # Another group's user sees none of it.
        outsider, _ = await admin.new_user()
        assert (await outsider.detection.ListAlerts(pb.ListAlertsRequest())).alerts == []
        await expect_status(
            outsider.detection.DownloadMedia(pb.DownloadMediaRequest(media_id=media.id)), grpc.StatusCode.NOT_FOUND
        )
        assert event.type == resources_pb2.EVENT_TYPE_WILDFIRE
