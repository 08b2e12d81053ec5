"""Media rows and content through a real channel: create, get, list, download, URL, delete.

Content RPCs run on the local folder and on S3 (moto); the upload protocol itself is in
test_upload.py, which also holds the storage-parametrized server used here.
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from urllib.parse import urlsplit

import grpc
from google.protobuf import timestamp_pb2

from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.fixtures_s3 import moto_s3_endpoint  # noqa: F401  (shared fixture)
from tests.helpers import Api, expect_status, tiny_jpeg, upload_media, violated_fields
from tests.test_upload import (  # noqa: F401  (media_server, media_admin: shared fixtures)
    create_my_media,
    get_media,
    media_admin,
    media_server,
    new_camera,
    start_media_server,
    stored_objects,
)

Code = grpc.StatusCode
IMAGE = resources_pb2.MEDIA_TYPE_IMAGE
VIDEO = resources_pb2.MEDIA_TYPE_VIDEO


async def list_media(api: Api, **fields) -> list[resources_pb2.Media]:
    return list((await api.detection.ListMedia(pb.ListMediaRequest(**fields))).media)


async def download(api: Api, media_id: int) -> list[pb.DownloadMediaResponse]:
    return [message async for message in api.detection.DownloadMedia(pb.DownloadMediaRequest(media_id=media_id))]


# --- create --------------------------------------------------------------------------


async def test_create_my_media_is_idempotent_per_request_id(server, admin):
    camera = await new_camera(admin)
    first = (await camera.device.detection.CreateMyMedia(pb.CreateMyMediaRequest(type=VIDEO, request_id="r-1"))).media
    assert first.device_id == camera.device_id and first.group_id == camera.group_id and first.type == VIDEO
    assert not first.HasField("bucket_key") and first.create_time.seconds > 0
    retry = (await camera.device.detection.CreateMyMedia(pb.CreateMyMediaRequest(type=VIDEO, request_id="r-1"))).media
    other = (await camera.device.detection.CreateMyMedia(pb.CreateMyMediaRequest(type=IMAGE, request_id="r-2"))).media
    plain = await create_my_media(camera.device)
    assert retry == first and len({first.id, other.id, plain.id}) == 3
    assert [m.id for m in await list_media(camera.user)] == [plain.id, other.id, first.id]


async def test_create_my_media_checks_its_fields(server, admin):
    camera = await new_camera(admin)
    error = await expect_status(camera.device.detection.CreateMyMedia(pb.CreateMyMediaRequest()), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"type"}
    too_long = pb.CreateMyMediaRequest(type=IMAGE, request_id="x" * 129)
    error = await expect_status(camera.device.detection.CreateMyMedia(too_long), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"request_id"}


async def test_create_media_for_a_device_joins_its_group(server, admin):
    camera = await new_camera(admin)
    media = (await admin.detection.CreateMedia(pb.CreateMediaRequest(device_id=camera.device_id, type=IMAGE))).media
    assert (media.device_id, media.group_id, media.type) == (camera.device_id, camera.group_id, IMAGE)
    assert await get_media(camera.user, media.id) == media

    await expect_status(admin.detection.CreateMedia(pb.CreateMediaRequest(device_id=10**9, type=IMAGE)), Code.NOT_FOUND)
    error = await expect_status(admin.detection.CreateMedia(pb.CreateMediaRequest(type=IMAGE)), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"device_id"}
    error = await expect_status(
        admin.detection.CreateMedia(pb.CreateMediaRequest(device_id=camera.device_id, type=7)), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"type"}
    await expect_status(
        camera.user.detection.CreateMedia(pb.CreateMediaRequest(device_id=camera.device_id, type=IMAGE)),
        Code.PERMISSION_DENIED,
    )


# --- get and list ----------------------------------------------------------------------


async def test_get_media_of_another_group_is_not_found(server, admin):
    mine, theirs = await new_camera(admin), await new_camera(admin)
    media = await create_my_media(theirs.device)
    await expect_status(mine.user.detection.GetMedia(pb.GetMediaRequest(media_id=media.id)), Code.NOT_FOUND)
    await expect_status(mine.user.detection.GetMedia(pb.GetMediaRequest(media_id=10**9)), Code.NOT_FOUND)
    assert await get_media(admin, media.id) == media == await get_media(theirs.user, media.id)


async def test_list_media_pages_newest_first_within_the_group(server, admin):
    camera, other = await new_camera(admin), await new_camera(admin)
    created = [await create_my_media(camera.device) for _ in range(5)]
    foreign = await create_my_media(other.device)

    seen, token = [], ""
    while True:
        response = await camera.user.detection.ListMedia(pb.ListMediaRequest(page_size=2, page_token=token))
        assert len(response.media) <= 2
        seen += [m.id for m in response.media]
        token = response.next_page_token
        if not token:
            break
    assert seen == [m.id for m in reversed(created)]

    everyone = [m.id for m in await list_media(admin)]
    assert foreign.id in everyone and set(seen) <= set(everyone)
    assert [m.id for m in await list_media(admin, group_id=other.group_id)] == [foreign.id]
    # A user's group_id filter can narrow its view, never widen it.
    assert await list_media(camera.user, group_id=other.group_id) == []
    error = await expect_status(
        camera.user.detection.ListMedia(pb.ListMediaRequest(page_token="bogus")), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"page_token"}


async def test_list_media_by_creation_time(server, admin):
    camera = await new_camera(admin)
    older = await create_my_media(camera.device)
    await asyncio.sleep(0.01)
    newer = await create_my_media(camera.device)
    cut = timestamp_pb2.Timestamp()
    cut.CopyFrom(newer.create_time)
    assert [m.id for m in await list_media(camera.user, created_after=cut)] == [newer.id]
    assert [m.id for m in await list_media(camera.user, created_before=cut)] == [older.id]
    error = await expect_status(
        camera.user.detection.ListMedia(pb.ListMediaRequest(created_after=cut, created_before=cut)),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"created_after"}


# --- download ------------------------------------------------------------------------------


async def test_download_returns_the_uploaded_bytes(media_server, media_admin):
    camera, other = await new_camera(media_admin), await new_camera(media_admin)
    data = tiny_jpeg(200 * 1024)  # several 64 KiB chunks
    media = await upload_media(camera.device, data, chunk_size=50_000)

    messages = await download(camera.user, media.id)
    assert messages[0].media == media and messages[0].chunk
    assert all(not m.HasField("media") for m in messages[1:])
    assert all(0 < len(m.chunk) <= 64 * 1024 for m in messages)
    assert len(messages) == 4 and b"".join(m.chunk for m in messages) == data
    assert b"".join(m.chunk for m in await download(media_admin, media.id)) == data

    await expect_status(other.user.detection.DownloadMedia(pb.DownloadMediaRequest(media_id=media.id)), Code.NOT_FOUND)
    pending = await create_my_media(camera.device)
    error = await expect_status(
        camera.user.detection.DownloadMedia(pb.DownloadMediaRequest(media_id=pending.id)), Code.FAILED_PRECONDITION
    )
    assert "not uploaded" in error.details()

    # The object vanished behind the server's back: NOT_FOUND, not an internal error.
    await media_server.storage.delete(media.bucket_key)
    await expect_status(camera.user.detection.DownloadMedia(pb.DownloadMediaRequest(media_id=media.id)), Code.NOT_FOUND)


# --- URLs ----------------------------------------------------------------------------------


async def test_media_url_fetches_the_object_on_s3_and_is_refused_on_local(media_server, media_admin):
    camera, other = await new_camera(media_admin), await new_camera(media_admin)
    data = tiny_jpeg()
    media = await upload_media(camera.device, data)
    request = pb.GetMediaUrlRequest(media_id=media.id)
    await expect_status(other.user.detection.GetMediaUrl(request), Code.NOT_FOUND)
    pending = await create_my_media(camera.device)
    await expect_status(
        camera.user.detection.GetMediaUrl(pb.GetMediaUrlRequest(media_id=pending.id)), Code.FAILED_PRECONDITION
    )

    if media_server.settings.s3 is None:
        error = await expect_status(camera.user.detection.GetMediaUrl(request), Code.FAILED_PRECONDITION)
        assert "DownloadMedia" in error.details()
        return
    before = time.time()
    response = await camera.user.detection.GetMediaUrl(request)
    assert before + 3600 - 5 <= response.expire_time.seconds <= time.time() + 3600 + 5
    assert await asyncio.to_thread(_fetch, response.url) == data


def _fetch(url: str) -> bytes:
    assert urlsplit(url).hostname in ("127.0.0.1", "localhost"), url  # loopback only
    with urllib.request.urlopen(url, timeout=10) as reply:
        return reply.read()


async def test_media_url_goes_through_the_s3_proxy_url(request, server_factory, moto_s3_endpoint):
    port = urlsplit(moto_s3_endpoint).port
    server = await start_media_server(
        request, server_factory, "s3", S3_PROXY_URL=f"http://localhost:{port}", MEDIA_URL_EXPIRE_SECONDS="60"
    )
    async with Api.connect(server.port) as client:
        camera = await new_camera(await client.login(ADMIN_LOGIN, ADMIN_PASSWORD))
        data = tiny_jpeg()
        media = await upload_media(camera.device, data)
        response = await camera.user.detection.GetMediaUrl(pb.GetMediaUrlRequest(media_id=media.id))
        assert urlsplit(response.url).netloc == f"localhost:{port}"
        assert abs(response.expire_time.seconds - (time.time() + 60)) <= 5
        assert await asyncio.to_thread(_fetch, response.url) == data


# --- delete --------------------------------------------------------------------------------


async def test_delete_media_removes_the_object(media_server, media_admin):
    camera = await new_camera(media_admin)
    kept = await upload_media(camera.device, tiny_jpeg())
    doomed = await upload_media(camera.device, tiny_jpeg())
    pending = await create_my_media(camera.device)

    await media_admin.detection.DeleteMedia(pb.DeleteMediaRequest(media_id=doomed.id))
    await media_admin.detection.DeleteMedia(pb.DeleteMediaRequest(media_id=pending.id))
    assert await stored_objects(media_server) == [kept.bucket_key]
    for media_id in (doomed.id, pending.id):
        await expect_status(camera.user.detection.GetMedia(pb.GetMediaRequest(media_id=media_id)), Code.NOT_FOUND)
    await expect_status(media_admin.detection.DeleteMedia(pb.DeleteMediaRequest(media_id=doomed.id)), Code.NOT_FOUND)
    await expect_status(
        camera.user.detection.DeleteMedia(pb.DeleteMediaRequest(media_id=kept.id)), Code.PERMISSION_DENIED
    )


async def test_delete_media_still_referenced_by_an_alert_is_failed_precondition(server, admin):
    camera = await new_camera(admin)
    media = await upload_media(camera.device, tiny_jpeg())
    alert = (
        await camera.device.detection.CreateMyAlert(
            pb.CreateMyAlertRequest(media_id=media.id, azimuth=90.0, lat=44.0, lon=4.0)
        )
    ).alert

    error = await expect_status(
        admin.detection.DeleteMedia(pb.DeleteMediaRequest(media_id=media.id)), Code.FAILED_PRECONDITION
    )
    assert "alert" in error.details()
    assert await get_media(camera.user, media.id) == media
    assert await stored_objects(server) == [media.bucket_key]

    await admin.detection.DeleteAlert(pb.DeleteAlertRequest(alert_id=alert.id))
    await admin.detection.DeleteMedia(pb.DeleteMediaRequest(media_id=media.id))
    assert await stored_objects(server) == []
