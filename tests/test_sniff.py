"""Media type sniffing: what UploadMedia accepts, from the first bytes only."""

from __future__ import annotations

import dataclasses

import pytest

from pyrogrpc.domain.media_types import SNIFF_BYTES, SniffedType, sniff_media_type

# Real file headers (first 16 bytes), as written by common encoders.
JPEG_HEAD = bytes.fromhex("ffd8ffe000104a464946000101000001")
PNG_HEAD = bytes.fromhex("89504e470d0a1a0a0000000d49484452")
WEBP_HEAD = b"RIFF\x24\x00\x01\x00WEBPVP8 "
MP4_HEAD = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (JPEG_HEAD, SniffedType("image/jpeg", "jpg", "image")),
        (PNG_HEAD, SniffedType("image/png", "png", "image")),
        (WEBP_HEAD, SniffedType("image/webp", "webp", "image")),
        (MP4_HEAD, SniffedType("video/mp4", "mp4", "video")),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00", SniffedType("video/mp4", "mp4", "video")),
    ],
)
def test_recognised(head: bytes, expected: SniffedType) -> None:
    assert len(head) == SNIFF_BYTES
    assert sniff_media_type(head) == expected
    assert sniff_media_type(head + b"\x00" * 1000) == expected  # extra bytes are ignored
    assert sniff_media_type(bytearray(head)) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"\xff\xd8",  # JPEG cut short
        PNG_HEAD[:7],
        b"RIFF\x24\x00\x01\x00WEB",  # WebP cut short
        b"RIFF\x24\x00\x01\x00WAVEfmt ",  # RIFF but audio
        b"\x00\x00\x00\x20ftyp",  # MP4 box without a brand
        b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",  # HEIC image in an ftyp box, not a video
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff",
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0",
        b"<svg xmlns='http://www.w3.org/2000/svg'>",
        b"\x00ftyp" + b"\x00" * 11,  # ftyp at the wrong offset
    ],
)
def test_rejected(head: bytes) -> None:
    assert sniff_media_type(head) is None


def test_signature_beyond_sniff_bytes_is_ignored() -> None:
    # Callers pass at most SNIFF_BYTES; nothing past them may change the answer.
    assert sniff_media_type(b"\x00" * SNIFF_BYTES + JPEG_HEAD) is None


def test_sniffed_type_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        sniff_media_type(JPEG_HEAD).content_type = "text/html"  # type: ignore[union-attr,misc]
