"""A picture is accepted only if its header parses, and its width and height are stored
(issue 13, item 9); on both databases and both storages, through a real channel.
"""

from __future__ import annotations

import io
import struct
import zlib

import grpc
import pytest
from PIL import Image

from pyrogrpc.domain.image_header import HEADER_LIMIT_BYTES, MAX_IMAGE_PIXELS
from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2
from tests.helpers import (
    TINY_IMAGE_SIZE,
    expect_status,
    tiny_jpeg,
    tiny_png,
    upload_media,
    upload_requests,
    violated_fields,
)
from tests.test_upload import (  # noqa: F401  (media_server, media_admin: fixtures)
    create_my_media,
    get_media,
    media_admin,
    media_server,
    new_camera,
    stored_objects,
    tiny_mp4,
)

Code = grpc.StatusCode


def _picture(fmt: str, size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 30)).save(buffer, fmt)
    return buffer.getvalue()


def _png_declaring(width: int, height: int) -> bytes:
    """A PNG header (valid CRC) declaring a size, with a tiny IDAT: what a decompression bomb looks like."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", bytes(64))
    )


def _jpeg_with_comment_before_frame(comment_bytes: int) -> bytes:
    """A real JPEG with COM segments of `comment_bytes` in all right after SOI: its size (SOF)
    comes only after them, as behind a big EXIF block."""
    data = _picture("JPEG", (320, 200))
    segments = b""
    while comment_bytes > 0:
        piece = min(comment_bytes, 65533)
        segments += b"\xff\xfe" + struct.pack(">H", piece + 2) + bytes([0x41]) * piece
        comment_bytes -= piece
    return data[:2] + segments + data[2:]


async def test_pictures_get_their_width_and_height(media_server, media_admin):
    camera = await new_camera(media_admin)
    cases = [
        (tiny_jpeg(), TINY_IMAGE_SIZE),
        (tiny_png(), TINY_IMAGE_SIZE),
        (_picture("JPEG", (640, 360)), (640, 360)),
        (_picture("PNG", (33, 77)), (33, 77)),
        (_picture("WEBP", (300, 200)), (300, 200)),
        # The size comes after 200 KB of other segments: past the first bytes read, still found.
        (_jpeg_with_comment_before_frame(200_000), (320, 200)),
    ]
    for data, (width, height) in cases:
        uploaded = await upload_media(camera.device, data, chunk_size=16 * 1024)
        assert (uploaded.width, uploaded.height) == (width, height), uploaded
        assert await get_media(camera.user, uploaded.id) == uploaded


async def test_video_has_no_dimensions(server, admin):
    camera = await new_camera(admin)
    video = await upload_media(camera.device, tiny_mp4(), media_type=resources_pb2.MEDIA_TYPE_VIDEO)
    assert not video.HasField("width") and not video.HasField("height")


@pytest.mark.parametrize(
    "name",
    [
        "magic bytes only",
        "jpeg magic then junk",
        "png magic then junk",
        "truncated jpeg header",
        "header past the limit",
        "bomb",
    ],
)
async def test_unparsable_pictures_are_invalid_argument_and_store_nothing(media_server, media_admin, name):
    camera = await new_camera(media_admin)
    media = await create_my_media(camera.device)
    data, words = {
        "magic bytes only": (b"\xff\xd8\xff", "not a readable image/jpeg"),
        "jpeg magic then junk": (b"\xff\xd8\xff\xe0" + bytes(5000), "not a readable image/jpeg"),
        "png magic then junk": (b"\x89PNG\r\n\x1a\n" + bytes(5000), "not a readable image/png"),
        "truncated jpeg header": (tiny_jpeg(0)[:40], "not a readable image/jpeg"),
        "header past the limit": (_jpeg_with_comment_before_frame(HEADER_LIMIT_BYTES + 1000), "within its first"),
        "bomb": (_png_declaring(100_000, 100_000), f"more than {MAX_IMAGE_PIXELS} pixels"),
    }[name]
    error = await expect_status(
        camera.device.detection.UploadMedia(upload_requests(media.id, data), timeout=30), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"chunk"} and words in error.details(), error.details()
    assert await stored_objects(media_server) == []
    assert not (await get_media(camera.user, media.id)).HasField("bucket_key")
    # The media is still uploadable with a real picture.
    uploaded = (await camera.device.detection.UploadMedia(upload_requests(media.id, tiny_jpeg()), timeout=30)).media
    assert (uploaded.width, uploaded.height) == TINY_IMAGE_SIZE


async def test_list_media_carries_dimensions(server, admin):
    camera = await new_camera(admin)
    uploaded = await upload_media(camera.device, tiny_png())
    listed = (await camera.user.detection.ListMedia(pb.ListMediaRequest())).media
    assert [(m.id, m.width, m.height) for m in listed] == [(uploaded.id, *TINY_IMAGE_SIZE)]
