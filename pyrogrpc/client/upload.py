"""The UploadMedia request stream, built from a file or bytes.

Protocol (see detection_service.proto): a header with media_id, size_bytes, sha256
and request_id, then the content in 64 KiB chunks. The header needs the size and the
sha256 before the first byte is sent, so a file is read twice in chunks: once to hash
it (off the event loop), once while streaming; it is never held whole in memory.
A restarted upload re-opens the file and sends the same header, so the server either
accepts it afresh (the failed attempt left nothing) or, when the first attempt did
succeed, recognises the request_id and returns the first result.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pyronear.v1 import detection_service_pb2 as detection_pb

CHUNK_SIZE = 64 * 1024

# progress(sent_bytes, total_bytes); starts again at 0 when an upload is restarted.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class MediaSource:
    """What to upload, with the size and sha256 the header announces."""

    size: int
    sha256: str
    path: Path | None = None
    data: bytes | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> MediaSource:
        return cls(size=len(data), sha256=hashlib.sha256(data).hexdigest(), data=bytes(data))

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> MediaSource:
        """Blocking: hashes the file in chunks (use `load_source` from async code)."""
        path = Path(path)
        digest, size = hashlib.sha256(), 0
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
        return cls(size=size, sha256=digest.hexdigest(), path=path)

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            for offset in range(0, self.size, CHUNK_SIZE):
                yield self.data[offset : offset + CHUNK_SIZE]
            return
        assert self.path is not None
        # Local 64 KiB reads are short enough not to stall the event loop.
        with self.path.open("rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                yield chunk


async def load_source(image: str | os.PathLike | bytes | MediaSource) -> MediaSource:
    if isinstance(image, MediaSource):
        return image
    if isinstance(image, (bytes, bytearray, memoryview)):
        return MediaSource.from_bytes(bytes(image))
    return await asyncio.to_thread(MediaSource.from_path, image)


async def upload_requests(
    source: MediaSource, media_id: int, request_id: str, progress: Progress | None = None
) -> AsyncIterator[detection_pb.UploadMediaRequest]:
    header = detection_pb.UploadMediaHeader(
        media_id=media_id, size_bytes=source.size, sha256=source.sha256, request_id=request_id
    )
    yield detection_pb.UploadMediaRequest(header=header)
    sent = 0
    if progress:
        progress(0, source.size)
    for chunk in source.chunks():
        yield detection_pb.UploadMediaRequest(chunk=chunk)
        sent += len(chunk)
        if progress:
            progress(sent, source.size)


async def send_alert_requests(
    source: MediaSource, alert: detection_pb.CreateMyAlertRequest, progress: Progress | None = None
) -> AsyncIterator[detection_pb.SendAlertRequest]:
    """The SendAlert request stream: the alert and the picture's header, then its chunks."""
    header = detection_pb.SendAlertHeader(alert=alert, size_bytes=source.size, sha256=source.sha256)
    yield detection_pb.SendAlertRequest(header=header)
    sent = 0
    if progress:
        progress(0, source.size)
    for chunk in source.chunks():
        yield detection_pb.SendAlertRequest(chunk=chunk)
        sent += len(chunk)
        if progress:
            progress(sent, source.size)
