"""Bounds on uploads in progress (issue 13, item 5): a cap per device and in all
(RESOURCE_EXHAUSTED, ErrorInfo reason TOO_MANY_UPLOADS) and an idle timeout that cuts a
stalled stream (DEADLINE_EXCEEDED, reason UPLOAD_STALLED) leaving nothing behind; on both
databases and both storages, through a real channel.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
import pytest_asyncio
from google.rpc import error_details_pb2

from pyrogrpc.domain.upload_limits import UploadSlots
from pyrogrpc.server import PyroServer
from pyronear.v1 import detection_service_pb2 as pb
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.helpers import Api, expect_status, rich_status, tiny_jpeg, upload_requests
from tests.test_upload import (
    MIB,
    _header,
    _staged_bytes,
    _stall_forever,
    create_my_media,
    eventually,
    get_media,
    new_camera,
    start_media_server,
    stored_objects,
)

Code = grpc.StatusCode


def error_reason(error: grpc.aio.AioRpcError) -> str:
    status = rich_status(error)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


def _slots(server: PyroServer) -> UploadSlots:
    return server.upload_slots


async def _running(server: PyroServer, count: int) -> bool:
    async def reached():
        return _slots(server).running == count

    return await eventually(reached, timeout=30)


def _stalled_upload(device: Api, media_id: int) -> grpc.aio.StreamUnaryCall:
    data = tiny_jpeg(10_000)
    return device.detection.UploadMedia(
        _stall_forever(_header(media_id, data + b"more"), pb.UploadMediaRequest(chunk=data))
    )


async def _cancel(calls) -> None:
    for call in calls:
        call.cancel()
    await asyncio.gather(*calls, return_exceptions=True)


# --- caps ------------------------------------------------------------------------------


async def test_third_concurrent_upload_of_one_device_is_resource_exhausted(server, admin):
    camera = await new_camera(admin)
    other = await new_camera(admin)
    medias = [await create_my_media(camera.device) for _ in range(3)]
    stalled = [_stalled_upload(camera.device, media.id) for media in medias[:2]]
    try:
        assert await _running(server, 2), "the two uploads never started"
        error = await expect_status(
            camera.device.detection.UploadMedia(upload_requests(medias[2].id, tiny_jpeg()), timeout=10),
            Code.RESOURCE_EXHAUSTED,
        )
        assert error_reason(error) == "TOO_MANY_UPLOADS" and "2 uploads per caller" in error.details()
        # Another device is not held back by this one's cap.
        uploaded = (
            await other.device.detection.UploadMedia(
                upload_requests((await create_my_media(other.device)).id, tiny_jpeg()), timeout=10
            )
        ).media
        assert uploaded.HasField("bucket_key")
    finally:
        await _cancel(stalled)
    assert await _running(server, 0)
    # A slot freed by the end of an upload is usable again.
    assert (
        await camera.device.detection.UploadMedia(upload_requests(medias[2].id, tiny_jpeg()), timeout=10)
    ).media.HasField("bucket_key")


async def test_server_wide_cap_is_resource_exhausted(server_factory):
    server = await server_factory(MAX_UPLOADS_TOTAL="2")
    async with Api.connect(server.port) as api:
        admin = await api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        cameras = [await new_camera(admin) for _ in range(3)]
        medias = [await create_my_media(camera.device) for camera in cameras]
        stalled = [
            _stalled_upload(camera.device, media.id) for camera, media in zip(cameras[:2], medias[:2], strict=True)
        ]
        try:
            assert await _running(server, 2)
            error = await expect_status(
                cameras[2].device.detection.UploadMedia(upload_requests(medias[2].id, tiny_jpeg()), timeout=10),
                Code.RESOURCE_EXHAUSTED,
            )
            assert error_reason(error) == "TOO_MANY_UPLOADS" and "maximum of 2 uploads" in error.details()
        finally:
            await _cancel(stalled)
        assert await _running(server, 0)
        assert not (await get_media(cameras[2].user, medias[2].id)).HasField("bucket_key")


def test_caps_are_read_from_the_environment(base_env):
    from pyrogrpc.config import ConfigError, Settings

    settings = Settings.from_env(
        {**base_env, "MAX_UPLOADS_PER_DEVICE": "3", "MAX_UPLOADS_TOTAL": "7", "UPLOAD_IDLE_SECONDS": "9"}, env_file=None
    )
    assert (settings.max_uploads_per_device, settings.max_uploads_total, settings.upload_idle_seconds) == (3, 7, 9)
    defaults = Settings.from_env(base_env, env_file=None)
    assert (defaults.max_uploads_per_device, defaults.max_uploads_total, defaults.upload_idle_seconds) == (2, 32, 30)
    with pytest.raises(ConfigError, match="MAX_UPLOADS_PER_DEVICE"):
        Settings.from_env({**base_env, "MAX_UPLOADS_PER_DEVICE": "0"}, env_file=None)


# --- stalled streams -------------------------------------------------------------------


@pytest_asyncio.fixture(params=["local", "s3"])
async def impatient_server(request, server_factory) -> PyroServer:
    """A server on either storage that cuts an upload after 1 s without data."""
    return await start_media_server(request, server_factory, request.param, UPLOAD_IDLE_SECONDS="1")


async def test_stalled_upload_is_cut_and_leaves_nothing(impatient_server):
    server = impatient_server
    async with Api.connect(server.port) as api:
        camera = await new_camera(await api.login(ADMIN_LOGIN, ADMIN_PASSWORD))
        media = await create_my_media(camera.device)
        # On S3 more than one part (8 MiB): a multipart upload is pending when the stream stalls.
        size = 9 * MIB if server.settings.s3 else 256 * 1024
        data = tiny_jpeg(size)
        chunks = [pb.UploadMediaRequest(chunk=data[i : i + 64 * 1024]) for i in range(0, size, 64 * 1024)]
        # The client's own deadline is a long way off: the server must cut the stream first.
        call = camera.device.detection.UploadMedia(
            _stall_forever(_header(media.id, data + b"never sent"), *chunks), timeout=60
        )
        started = time.monotonic()
        error = await expect_status(call, Code.DEADLINE_EXCEEDED)
        assert error_reason(error) == "UPLOAD_STALLED" and "no data received for 1 s" in error.details()
        assert time.monotonic() - started < 60

        async def nothing_left():
            return await stored_objects(server) == [] and await _staged_bytes(server) == 0

        assert await eventually(nothing_left, timeout=30), await stored_objects(server)
        assert not (await get_media(camera.user, media.id)).HasField("bucket_key")
        assert _slots(server).running == 0
        uploaded = (await camera.device.detection.UploadMedia(upload_requests(media.id, tiny_jpeg()), timeout=10)).media
        assert await stored_objects(server) == [uploaded.bucket_key]


async def test_slow_but_steady_upload_is_not_cut(server_factory):
    """The timeout is between messages, not on the whole upload."""
    server = await server_factory(UPLOAD_IDLE_SECONDS="2")
    async with Api.connect(server.port) as api:
        camera = await new_camera(await api.login(ADMIN_LOGIN, ADMIN_PASSWORD))
        media = await create_my_media(camera.device)
        data = tiny_jpeg(4000)
        messages = list(upload_requests(media.id, data, chunk_size=400))  # 12 messages
        started = time.monotonic()

        async def steady():
            for message in messages:  # each message well within the idle timeout
                yield message
                await asyncio.sleep(0.3)

        uploaded = (await camera.device.detection.UploadMedia(steady(), timeout=60)).media
        assert uploaded.size_bytes == len(data)
        assert time.monotonic() - started > 2  # longer than the idle timeout in all, never idle that long
