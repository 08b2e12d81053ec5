"""Recognise an uploaded media file from its first bytes.

Uploads are accepted by what they are, not by what the client claims: the
content type and the key's extension both come from these magic numbers, so a
mislabelled or hostile file is refused before it reaches storage.
"""

from __future__ import annotations

from dataclasses import dataclass

SNIFF_BYTES = 16  # enough for every signature below

# ISO-BMFF brands that are still images (HEIF/AVIF), not MP4 video, despite the "ftyp" box.
_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif", b"avis"}


@dataclass(frozen=True)
class SniffedType:
    content_type: str
    extension: str
    kind: str  # "image" or "video"


JPEG = SniffedType("image/jpeg", "jpg", "image")
PNG = SniffedType("image/png", "png", "image")
WEBP = SniffedType("image/webp", "webp", "image")
MP4 = SniffedType("video/mp4", "mp4", "video")


def sniff_media_type(head: bytes) -> SniffedType | None:
    """The media type of a file starting with `head`, or None if not accepted."""
    head = bytes(head[:SNIFF_BYTES])
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] not in _IMAGE_BRANDS:
        return MP4
    return None
