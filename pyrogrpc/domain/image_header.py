"""Read an uploaded picture's width and height from its header, without decoding it.

Magic bytes alone accept three bytes `\\xff\\xd8\\xff` as a JPEG; a picture is accepted only
if Pillow parses its header (Image.open reads headers lazily: no pixel is decoded). The
header must lie within the first `HEADER_LIMIT_BYTES` of the content, which holds for
every camera picture (JPEG: markers up to the start of scan, EXIF included; PNG: IHDR
first). Pictures over `MAX_IMAGE_PIXELS` are refused: decoding them later (thumbnails,
detection) would cost gigabytes (a decompression bomb is a small file declaring a huge size).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image

from .media_types import JPEG, PNG, WEBP, SniffedType

HEADER_LIMIT_BYTES = 1024 * 1024
FIRST_TRY_BYTES = 64 * 1024  # usually the whole header: one parse in the common case
MAX_IMAGE_PIXELS = 64_000_000  # 8000 x 8000; cameras send 2-20 megapixels

_PILLOW_FORMATS = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP"}


class ImageRefused(ValueError):
    """The content is not a picture we accept; the message is safe to show the client."""


@dataclass(frozen=True)
class ImageSize:
    width: int
    height: int


def image_size(head: bytes, sniffed: SniffedType) -> ImageSize | None:
    """The size read from `head` (the first bytes of the content), or None when the header
    could not be parsed from these bytes (more bytes may help, or the content is broken).
    ImageRefused when the header parses but the picture is unacceptable."""
    fmt = _PILLOW_FORMATS.get(sniffed)
    if fmt is None:
        raise ValueError(f"not an image type: {sniffed.content_type}")
    try:
        with warnings.catch_warnings():
            # Pillow warns (DecompressionBombWarning) or raises above its own limit; ours is lower.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(head), formats=[fmt]) as picture:
                width, height = picture.size
    except Image.DecompressionBombError:
        raise ImageRefused(f"the picture has more than {MAX_IMAGE_PIXELS} pixels") from None
    except Exception:  # noqa: BLE001 - Pillow raises many types on truncated or broken headers
        return None
    if width <= 0 or height <= 0:
        raise ImageRefused(f"the picture header declares {width}x{height} pixels")
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageRefused(f"the picture is {width}x{height}, more than {MAX_IMAGE_PIXELS} pixels")
    return ImageSize(width, height)
