"""SendAlert: one call per detection, the alert and its picture, all or nothing.

Protocol. The servicer turns the client stream into a `NewAlert` (the first message's
alert), a `PictureHeader` (its size, sha256 and content type) and an async iterator of the
picture's bytes (every later message), then calls `DetectionSender.send`.

1. Replay: a request_id that already made an alert answers with that alert and its media,
   before any byte is read.
2. Every check of the alert that needs no media runs first (boxes, capture time, pose of
   the device, event, position): a refused alert stores nothing.
3. A media row is created and the picture streamed into it by the UploadMedia machinery
   (domain/upload.py: sniffed, size and sha256 checked, staged then committed). A failed
   or cancelled upload leaves no object; its media row is deleted again.
4. The alert is created with that media (CreateMyAlert's use case, idempotent under
   operation "SendAlert"). If that fails, the media and its object are deleted again, so
   a failed call leaves neither media nor alert. A concurrent retry with the same
   request_id that won the race returns its alert; our media is then removed.

Between 3 and 4 the media row exists without its alert for the time of one statement; a
process killed exactly there leaves that media behind (as a CreateMyMedia+UploadMedia
camera would), never an alert without its picture.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from .alerts import alert_request
from .errors import InvalidArgument
from .principal import Principal

if TYPE_CHECKING:  # the use cases it composes; imported for types only
    from .alerts import AlertService, NewAlert
    from .media import MediaService

logger = logging.getLogger("pyrogrpc.send_alert")
OPERATION = "SendAlert"


@dataclass(frozen=True)
class PictureHeader:
    size_bytes: int
    sha256: str
    content_type: str | None = None


class DetectionSender:
    def __init__(self, alerts: AlertService, media: MediaService):
        self._alerts = alerts
        self._media = media

    async def send(
        self, principal: Principal, new: NewAlert, picture: PictureHeader, chunks: AsyncIterable[bytes]
    ) -> tuple[Any, Any]:
        """(alert, media) of the detection."""
        if new.media_id is not None:
            raise InvalidArgument("must be unset: the picture is the one streamed", field="header.alert.media_id")
        # A retry repeats the alert and the picture's header; each attempt's media id is new.
        request = alert_request(new, without=("media_id",), picture=asdict(picture))
        replayed = await self._alerts.replay(principal, OPERATION, new.request_id, request)
        if replayed is not None:
            assert replayed.media_id is not None  # a sent alert always has its picture
            return replayed, await self._media.get_media(principal, replayed.media_id)
        await self._alerts.preflight(principal, new)
        media = await self._media.create_my_media(principal, "image", "")
        try:
            media = await self._media.upload_content(
                principal, media, picture.size_bytes, picture.sha256, picture.content_type, chunks
            )
            alert = await self._alerts.create_sent_alert(principal, replace(new, media_id=media.id), request)
        except BaseException:
            await asyncio.shield(self._discard(media.id))
            raise
        if alert.media_id != media.id:  # a concurrent retry of this request_id won
            await asyncio.shield(self._discard(media.id))
            assert alert.media_id is not None  # a sent alert always has its picture
            return alert, await self._media.get_media(principal, alert.media_id)
        return alert, media

    async def _discard(self, media_id: int) -> None:
        try:
            await self._media.delete_media(media_id)
        except Exception:
            logger.exception("SendAlert could not remove media %s after a failure", media_id)
