"""UploadMedia through a real channel, on the local folder and on S3 (moto over HTTP).

Every failure must leave no object (nor staged file, nor pending multipart upload) and an
un-uploaded media; the storage is listed behind the server's back to prove it.
Also holds the media test support (storage-parametrized server, cameras) used by test_media.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import grpc
import pytest
import pytest_asyncio

from pyrogrpc.server import PyroServer
from pyronear.v1 import access_service_pb2, resources_pb2
from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1.detection_service_pb2_grpc import DetectionServiceStub
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.fixtures_s3 import moto_s3_endpoint, s3_env  # noqa: F401  (moto_s3_endpoint: shared fixture)
from tests.helpers import Api, expect_status, tiny_jpeg, tiny_png, upload_media, upload_requests, violated_fields

Code = grpc.StatusCode
KIB = 1024
MIB = 1024 * KIB
MEDIA_FOLDER = "pyro"


# --- support shared with test_media.py --------------------------------------------------


async def start_media_server(request, server_factory, kind: str, **env: str) -> PyroServer:
    """A server storing media in a local folder ("local") or a fresh moto bucket ("s3")."""
    if kind == "s3":
        env = {**s3_env(request.getfixturevalue("moto_s3_endpoint")), **env}
    server = await server_factory(BUCKET_MEDIA_FOLDER=MEDIA_FOLDER, **env)
    if kind == "s3":
        await server.storage.ensure_bucket()
    return server


@pytest_asyncio.fixture(params=["local", "s3"])
async def media_server(request, server_factory) -> PyroServer:
    return await start_media_server(request, server_factory, request.param)


@pytest_asyncio.fixture
async def media_admin(media_server):
    async with Api.connect(media_server.port) as client:
        yield await client.login(ADMIN_LOGIN, ADMIN_PASSWORD)


@dataclass
class Camera:
    """A group with a user and a device owned by that user, both logged in."""

    group_id: int
    user: Api
    device: Api
    device_id: int


async def new_camera(admin: Api, group_id: int | None = None) -> Camera:
    user_api, user = await admin.new_user(group_id)
    device_api, device = await admin.new_device(user.id)
    return Camera(user.group_id, user_api, device_api, device.id)


def _s3_client(server: PyroServer):
    s3 = server.settings.s3
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        region_name=s3.region,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
    )


def _stored_sync(server: PyroServer) -> list[str]:
    if server.settings.s3 is not None:
        client, bucket = _s3_client(server), server.settings.s3.bucket_name
        keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
        pending = [f"pending:{u['Key']}" for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
        return sorted(keys + pending)
    root = server.settings.media_dir
    # Staged files under .incoming count too: an aborted upload must not leave them.
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def stored_objects(server: PyroServer) -> list[str]:
    """Every object, staged file and pending multipart upload in the server's media storage."""
    return await asyncio.to_thread(_stored_sync, server)


async def eventually(predicate, timeout: float = 10.0):
    """Poll an async predicate until it returns a truthy value (server-side cleanup is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.05)


async def get_media(api: Api, media_id: int) -> resources_pb2.Media:
    return (await api.detection.GetMedia(pb.GetMediaRequest(media_id=media_id))).media


async def create_my_media(device: Api, media_type=resources_pb2.MEDIA_TYPE_IMAGE) -> resources_pb2.Media:
    return (await device.detection.CreateMyMedia(pb.CreateMyMediaRequest(type=media_type))).media


def tiny_mp4(payload_size: int = 256) -> bytes:
    return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + os.urandom(payload_size)


def _header(media_id: int, data: bytes, **fields) -> pb.UploadMediaRequest:
    values = {"media_id": media_id, "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), **fields}
    return pb.UploadMediaRequest(header=pb.UploadMediaHeader(**values))


async def _upload(device: Api, messages, timeout: float = 10.0):
    return await device.detection.UploadMedia(messages, timeout=timeout)


# --- happy path ----------------------------------------------------------------------


async def test_upload_in_several_chunks_sets_the_media_and_stores_the_object(media_server, media_admin):
    camera = await new_camera(media_admin)
    data = tiny_jpeg(10_000)
    sha = hashlib.sha256(data).hexdigest()
    media = await create_my_media(camera.device)
    assert not media.HasField("bucket_key") and not media.HasField("size_bytes")

    uploaded = (await _upload(camera.device, upload_requests(media.id, data, chunk_size=3000))).media  # 4 chunks

    assert uploaded.id == media.id and uploaded.device_id == camera.device_id and uploaded.group_id == camera.group_id
    assert re.fullmatch(rf"{MEDIA_FOLDER}/\d{{14}}-{media.id}-[0-9a-f]{{8}}\.jpg", uploaded.bucket_key), (
        uploaded.bucket_key
    )
    assert (uploaded.size_bytes, uploaded.sha256, uploaded.content_type) == (len(data), sha, "image/jpeg")
    assert await get_media(camera.user, media.id) == uploaded
    assert await stored_objects(media_server) == [uploaded.bucket_key]
    stored = b"".join([chunk async for chunk in media_server.storage.read(uploaded.bucket_key)])
    assert stored == data


async def test_video_media_takes_mp4_and_png_is_an_image(server, admin):
    camera = await new_camera(admin)
    video = await upload_media(camera.device, tiny_mp4(), media_type=resources_pb2.MEDIA_TYPE_VIDEO)
    assert video.content_type == "video/mp4" and video.bucket_key.endswith(".mp4")
    image = await upload_media(camera.device, tiny_png())
    assert image.content_type == "image/png" and image.bucket_key.endswith(".png")


async def test_admin_uploads_media_of_any_device(server, admin):
    camera = await new_camera(admin)
    media = (
        await admin.detection.CreateMedia(
            pb.CreateMediaRequest(device_id=camera.device_id, type=resources_pb2.MEDIA_TYPE_IMAGE)
        )
    ).media
    uploaded = (await _upload(admin, upload_requests(media.id, tiny_jpeg()))).media
    assert uploaded.HasField("bucket_key") and uploaded.group_id == camera.group_id


# --- content checks: nothing stored, the media stays un-uploaded, a good upload still works --


async def test_rejected_content_leaves_no_object_and_no_half_set_media(media_server, media_admin):
    camera = await new_camera(media_admin)
    media = await create_my_media(camera.device)
    data = tiny_jpeg(5000)
    bad_cases = [
        (
            "sha256 mismatch",
            upload_requests(media.id, data, sha256=hashlib.sha256(b"other").hexdigest()),
            "header.sha256",
        ),
        ("more bytes than announced", upload_requests(media.id, data, size_bytes=len(data) - 1), "header.size_bytes"),
        ("fewer bytes than announced", upload_requests(media.id, data, size_bytes=len(data) + 1), "header.size_bytes"),
        ("not an image", upload_requests(media.id, b"GIF89a" + bytes(100)), "chunk"),
        ("video for an image media", upload_requests(media.id, tiny_mp4()), "chunk"),
    ]
    for name, messages, field in bad_cases:
        error = await expect_status(_upload(camera.device, messages), Code.INVALID_ARGUMENT)
        assert violated_fields(error) == {field}, name
        assert await stored_objects(media_server) == [], name
        assert not (await get_media(camera.user, media.id)).HasField("bucket_key"), name

    uploaded = (await _upload(camera.device, upload_requests(media.id, data, chunk_size=1000))).media
    assert uploaded.size_bytes == len(data)
    assert await stored_objects(media_server) == [uploaded.bucket_key]


async def test_protocol_errors_are_invalid_argument(server, admin):
    camera = await new_camera(admin)
    media = await create_my_media(camera.device)
    data = tiny_jpeg()
    header = _header(media.id, data)
    chunk = pb.UploadMediaRequest(chunk=data)
    cases = {
        "no message at all": ([], "header"),
        "chunk before the header": ([chunk, header], "header"),
        "header twice": ([header, header, chunk], "header"),
        "header then nothing": ([header], "chunk"),
        "empty message after the header": ([header, pb.UploadMediaRequest(), chunk], "header"),
    }
    for name, (messages, field) in cases.items():
        error = await expect_status(_upload(camera.device, iter(messages)), Code.INVALID_ARGUMENT)
        assert violated_fields(error) == {field}, name
    assert await stored_objects(server) == []


async def test_header_fields_are_checked_together_and_sha256_case_is_free(server, admin):
    camera = await new_camera(admin)
    bad = pb.UploadMediaHeader(media_id=0, size_bytes=0, sha256="not-a-sha", request_id="r" * 129)
    error = await expect_status(
        _upload(camera.device, iter([pb.UploadMediaRequest(header=bad)])), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"header.media_id", "header.size_bytes", "header.sha256", "header.request_id"}

    # Hex case does not matter; the media keeps the lowercase form.
    media = await create_my_media(camera.device)
    data = tiny_jpeg()
    sha = hashlib.sha256(data).hexdigest()
    uploaded = (await _upload(camera.device, upload_requests(media.id, data, sha256=sha.upper()))).media
    assert uploaded.sha256 == sha


# --- size limit ----------------------------------------------------------------------


async def _stall_forever(first, *chunks):
    """A request stream that never ends after its first messages: the server must answer on its own."""
    yield first
    for chunk in chunks:
        yield chunk
    await asyncio.Event().wait()


def _endless_upload(port: int, token: str, first, chunk) -> grpc.RpcError:
    """UploadMedia of `first` then `chunk` forever, with the sync client (call it in a thread).
    grpc.aio's client may report INTERNAL ('Failed "execute_batch"') instead of the server's
    status when one of its writes races the end of the call (grpc/grpc#36066); the sync
    client reports the server's status."""

    def messages():
        yield first
        while True:
            yield chunk

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        try:
            DetectionServiceStub(channel).UploadMedia(
                messages(), metadata=(("authorization", f"Bearer {token}"),), timeout=5
            )
        except grpc.RpcError as error:
            return error
    raise AssertionError("the endless upload succeeded")


async def test_oversized_header_is_refused_before_any_chunk(request, server_factory):
    server = await start_media_server(request, server_factory, "local", MAX_UPLOAD_BYTES="4096")
    async with Api.connect(server.port) as client:
        camera = await new_camera(await client.login(ADMIN_LOGIN, ADMIN_PASSWORD))
        media = await create_my_media(camera.device)
        header = pb.UploadMediaRequest(header=pb.UploadMediaHeader(media_id=media.id, size_bytes=4097, sha256="a" * 64))
        # No chunk ever comes: a server waiting for them would hit the deadline instead.
        error = await expect_status(_upload(camera.device, _stall_forever(header), timeout=5), Code.INVALID_ARGUMENT)
        assert violated_fields(error) == {"header.size_bytes"} and "4096" in error.details()


async def test_oversized_stream_is_cut_off(request, server_factory):
    server = await start_media_server(request, server_factory, "local", MAX_UPLOAD_BYTES="4096")
    async with Api.connect(server.port) as client:
        camera = await new_camera(await client.login(ADMIN_LOGIN, ADMIN_PASSWORD))
        media = await create_my_media(camera.device)
        data = tiny_jpeg(4000)
        # Announces an allowed size, then never stops sending: the server must stop reading.
        error = await asyncio.to_thread(
            _endless_upload,
            server.port,
            camera.device.token,
            _header(media.id, data),
            pb.UploadMediaRequest(chunk=data[:1024]),
        )
        assert error.code() == Code.INVALID_ARGUMENT, error
        assert violated_fields(error) == {"header.size_bytes"}
        assert await stored_objects(server) == []
        assert not (await get_media(camera.user, media.id)).HasField("bucket_key")


# --- cancellation --------------------------------------------------------------------


async def _staged_bytes(server: PyroServer) -> int:
    """Bytes the server has received so far: the staged file (local) or the uploaded parts (S3)."""
    if server.settings.s3 is None:
        return sum(p.stat().st_size for p in (server.settings.media_dir / ".incoming").glob("*"))

    def pending_parts() -> int:
        client, bucket = _s3_client(server), server.settings.s3.bucket_name
        total = 0
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            parts = client.list_parts(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]).get("Parts", [])
            total += sum(part["Size"] for part in parts)
        return total

    return await asyncio.to_thread(pending_parts)


async def test_cancelled_upload_leaves_nothing(media_server, media_admin):
    camera = await new_camera(media_admin)
    media = await create_my_media(camera.device)
    # S3 buffers one part (8 MiB) before anything reaches the bucket: send more than that.
    size = 9 * MIB if media_server.settings.s3 else 256 * KIB
    data = tiny_jpeg(size)
    chunks = [pb.UploadMediaRequest(chunk=data[i : i + 64 * KIB]) for i in range(0, size, 64 * KIB)]
    call = camera.device.detection.UploadMedia(_stall_forever(_header(media.id, data + b"more to come"), *chunks))

    async def staged():
        return await _staged_bytes(media_server) >= min(size, 8 * MIB)

    assert await eventually(staged), "the server never staged the bytes sent"
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call

    async def nothing_left():
        return await stored_objects(media_server) == []

    assert await eventually(nothing_left), await stored_objects(media_server)
    assert not (await get_media(camera.user, media.id)).HasField("bucket_key")
    # The media can still be uploaded afterwards.
    uploaded = (await _upload(camera.device, upload_requests(media.id, tiny_jpeg()))).media
    assert await stored_objects(media_server) == [uploaded.bucket_key]


# --- re-upload and idempotency ---------------------------------------------------------


async def test_reupload_is_failed_precondition_unless_same_request_id(server, admin):
    camera = await new_camera(admin)
    media = await create_my_media(camera.device)
    data = tiny_jpeg()
    first = (await _upload(camera.device, upload_requests(media.id, data, request_id="upload-1"))).media

    again = (await _upload(camera.device, upload_requests(media.id, data, request_id="upload-1"))).media
    assert again == first
    # The answer comes right after the header: the retry need not resend the bytes.
    header_only = _header(media.id, data, request_id="upload-1")
    assert (await _upload(camera.device, _stall_forever(header_only), timeout=5)).media == first

    await expect_status(_upload(camera.device, upload_requests(media.id, data)), Code.FAILED_PRECONDITION)
    await expect_status(
        _upload(camera.device, upload_requests(media.id, tiny_jpeg(), request_id="upload-2")), Code.FAILED_PRECONDITION
    )
    assert await get_media(camera.user, media.id) == first
    assert await stored_objects(server) == [first.bucket_key]


async def test_concurrent_uploads_of_one_media_store_one_object(server, admin):
    camera = await new_camera(admin)
    media = await create_my_media(camera.device)
    contents = [tiny_jpeg(300 * KIB), tiny_jpeg(300 * KIB)]
    calls = [_upload(camera.device, upload_requests(media.id, data, chunk_size=16 * KIB)) for data in contents]
    results = await asyncio.gather(*calls, return_exceptions=True)

    winners = [r.media for r in results if not isinstance(r, Exception)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].code() == Code.FAILED_PRECONDITION
    assert await get_media(camera.user, media.id) == winners[0]
    assert await stored_objects(server) == [winners[0].bucket_key]


async def test_concurrent_uploads_of_identical_content_keep_the_winners_object(server, admin):
    """Two uploads of the same bytes to one media: one wins, the loser removes its own object
    (keys are unique per upload) and never the winner's."""
    camera = await new_camera(admin)
    media = await create_my_media(camera.device)
    data = tiny_jpeg(300 * KIB)
    calls = [_upload(camera.device, upload_requests(media.id, data, chunk_size=16 * KIB)) for _ in range(2)]
    results = await asyncio.gather(*calls, return_exceptions=True)

    winners = [r.media for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1, results
    assert [r.code() for r in results if isinstance(r, Exception)] == [Code.FAILED_PRECONDITION]
    assert await stored_objects(server) == [winners[0].bucket_key]
    downloaded = [m async for m in camera.user.detection.DownloadMedia(pb.DownloadMediaRequest(media_id=media.id))]
    assert b"".join(m.chunk for m in downloaded) == data


async def test_sixteen_cameras_upload_identical_content_at_once(media_server, media_admin):
    """Issue 13 item 10: equal content in the same second used to collide on its storage key
    (UNAVAILABLE "an identical upload was stored at the same moment")."""
    data = tiny_jpeg(100 * KIB)
    cameras = [await new_camera(media_admin) for _ in range(16)]
    medias = [await create_my_media(camera.device) for camera in cameras]
    results = await asyncio.gather(
        *(
            _upload(camera.device, upload_requests(media.id, data), timeout=60)
            for camera, media in zip(cameras, medias, strict=True)
        )
    )
    keys = [result.media.bucket_key for result in results]
    assert len(set(keys)) == 16 and all(result.media.sha256 == hashlib.sha256(data).hexdigest() for result in results)
    assert await stored_objects(media_server) == sorted(keys)


async def test_upload_media_helper_retried_with_same_request_id_creates_nothing(server, admin):
    camera = await new_camera(admin)
    data = tiny_jpeg()
    first = await upload_media(camera.device, data, request_id="cam-retry-1")
    second = await upload_media(camera.device, data, request_id="cam-retry-1")
    assert second == first
    listed = (await camera.user.detection.ListMedia(pb.ListMediaRequest())).media
    assert [m.id for m in listed] == [first.id]


async def test_identical_content_twice_gets_distinct_keys(server, admin):
    camera = await new_camera(admin)
    data = tiny_jpeg()
    first = await upload_media(camera.device, data)
    second = await upload_media(camera.device, data)
    assert first.bucket_key != second.bucket_key and first.sha256 == second.sha256
    assert sorted(await stored_objects(server)) == sorted([first.bucket_key, second.bucket_key])


# --- who may upload ------------------------------------------------------------------


async def test_device_cannot_upload_another_devices_media(server, admin):
    camera = await new_camera(admin)
    media = await create_my_media(camera.device)
    sibling, _ = await admin.new_device(
        (await camera.user.access.GetMyUser(access_service_pb2.GetMyUserRequest())).user.id
    )  # same group
    stranger = await new_camera(admin)  # another group
    for other in (sibling, stranger.device):
        error = await expect_status(_upload(other, upload_requests(media.id, tiny_jpeg())), Code.NOT_FOUND)
        assert "media" in error.details()
    await expect_status(_upload(camera.device, upload_requests(10**9, tiny_jpeg())), Code.NOT_FOUND)
    await expect_status(
        _upload(camera.user, upload_requests(media.id, tiny_jpeg())), Code.PERMISSION_DENIED
    )  # users never
    assert not (await get_media(camera.user, media.id)).HasField("bucket_key")
    assert await stored_objects(server) == []


# --- storage down ----------------------------------------------------------------------


async def test_storage_down_is_unavailable_and_media_stays_unuploaded(request, server_factory):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens there once the socket is closed
    server = await server_factory(**s3_env(f"http://127.0.0.1:{closed_port}"))
    async with Api.connect(server.port) as client:
        camera = await new_camera(await client.login(ADMIN_LOGIN, ADMIN_PASSWORD))
        media = await create_my_media(camera.device)
        error = await expect_status(
            _upload(camera.device, upload_requests(media.id, tiny_jpeg()), timeout=30), Code.UNAVAILABLE
        )
        assert "storage" in error.details()
        assert not (await get_media(camera.user, media.id)).HasField("bucket_key")


# --- memory ------------------------------------------------------------------------------


def _vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing from /proc/self/status")


def _big_chunks(count: int, chunk_size: int = 64 * KIB):
    """`count` distinct chunks of a JPEG, generated one at a time (never the whole file)."""
    for i in range(count):
        block = hashlib.sha256(i.to_bytes(4, "big")).digest() * (chunk_size // 32)
        yield (tiny_jpeg(0)[:-2] + block)[:chunk_size] if i == 0 else block


async def test_large_upload_keeps_server_memory_bounded(request, server_factory, base_env):
    if "postgresql" in base_env["DATABASE_URL"]:
        pytest.skip("memory is a property of the upload path, not of the database: measured once, on SQLite")
    server = await start_media_server(request, server_factory, "local", MAX_UPLOAD_BYTES=str(64 * MIB))
    async with Api.connect(server.port) as client:
        camera = await new_camera(await client.login(ADMIN_LOGIN, ADMIN_PASSWORD))
        await _upload_40_mib(camera)


async def _upload_40_mib(camera: Camera) -> None:
    media = await create_my_media(camera.device)
    count = 640  # 40 MiB in 64 KiB chunks
    digest = hashlib.sha256()
    for chunk in _big_chunks(count):
        digest.update(chunk)

    def messages():
        header = pb.UploadMediaHeader(media_id=media.id, size_bytes=count * 64 * KIB, sha256=digest.hexdigest())
        yield pb.UploadMediaRequest(header=header)
        for chunk in _big_chunks(count):
            yield pb.UploadMediaRequest(chunk=chunk)

    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    rss_before = _vm_kib("VmRSS")
    uploaded = (await _upload(camera.device, messages(), timeout=60)).media
    growth_mib = (_vm_kib("VmHWM") - rss_before) / 1024
    assert uploaded.size_bytes == 40 * MIB
    assert growth_mib < 24, f"peak RSS grew by {growth_mib:.1f} MiB for a 40 MiB upload"
