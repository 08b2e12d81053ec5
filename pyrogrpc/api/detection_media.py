"""DetectionService RPCs of one area (media: CreateMedia, CreateMyMedia, UploadMedia, DownloadMedia, GetMediaUrl, GetMedia, ListMedia, DeleteMedia), mixed into DetectionServicer."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from pyronear.v1 import detection_service_pb2 as pb
from pyronear.v1 import resources_pb2

from ..domain.errors import InvalidArgument
from ..domain.media import MediaService
from ..domain.send_alert import DetectionSender, PictureHeader
from ..domain.upload import UploadHeader
from .auth import current_principal
from .convert import (
    enum_from_proto,
    optional,
    page_request,
    page_response,
    to_proto,
    to_timestamp,
)
from .detection_alerts import alert_to_proto, new_alert_from_proto


def _media_proto(row) -> resources_pb2.Media:
    return to_proto(resources_pb2.Media, row)


def _media_type(number: int) -> str:
    media_type = enum_from_proto(resources_pb2.MediaType.DESCRIPTOR, number, "type")
    assert media_type is not None  # required: UNSPECIFIED raised InvalidArgument
    return media_type


def _upload_header(header: pb.UploadMediaHeader) -> UploadHeader:
    return UploadHeader(
        media_id=header.media_id,
        size_bytes=header.size_bytes,
        sha256=header.sha256,
        content_type=optional(header, "content_type"),
        request_id=header.request_id,
    )


async def _chunks(messages: AsyncIterator[pb.UploadMediaRequest]) -> AsyncIterator[bytes]:
    """The bytes of the messages after the header; anything but a chunk is a protocol error."""
    async for message in messages:
        if message.WhichOneof("data") != "chunk":
            raise InvalidArgument(
                "only the first message may be a header; every later one must be a chunk", field="header"
            )
        yield message.chunk


class MediaRpcs:
    _media: MediaService
    _sender: DetectionSender

    async def CreateMedia(self, request, context):
        media = await self._media.create_media(request.device_id, _media_type(request.type))
        return pb.CreateMediaResponse(media=_media_proto(media))

    async def CreateMyMedia(self, request, context):
        media = await self._media.create_my_media(current_principal(), _media_type(request.type), request.request_id)
        return pb.CreateMyMediaResponse(media=_media_proto(media))

    async def UploadMedia(self, request_iterator, context):
        messages = aiter(request_iterator)
        first = await anext(messages, None)
        if first is None or first.WhichOneof("data") != "header":
            raise InvalidArgument("the first message must be a header", field="header")
        media = await self._media.upload(current_principal(), _upload_header(first.header), _chunks(messages))
        return pb.UploadMediaResponse(media=_media_proto(media))

    async def DownloadMedia(self, request, context):
        media, chunks = await self._media.download(current_principal(), request.media_id)
        # The first message carries the media (and the first chunk), the others only bytes.
        message = pb.DownloadMediaResponse(media=_media_proto(media))
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                message.chunk = chunk
                yield message
                message = pb.DownloadMediaResponse()
        if message.HasField("media"):
            yield message  # empty object: the media alone

    async def GetMediaUrl(self, request, context):
        url, expire_time = await self._media.get_media_url(current_principal(), request.media_id)
        return pb.GetMediaUrlResponse(url=url, expire_time=to_timestamp(expire_time))

    async def GetMedia(self, request, context):
        media = await self._media.get_media(current_principal(), request.media_id)
        return pb.GetMediaResponse(media=_media_proto(media))

    async def ListMedia(self, request, context):
        page = await self._media.list_media(
            current_principal(), page_request(request, with_dates=True), optional(request, "group_id")
        )
        return page_response(pb.ListMediaResponse, "media", page, _media_proto)

    async def SendAlert(self, request_iterator, context):
        messages = aiter(request_iterator)
        first = await anext(messages, None)
        if first is None or first.WhichOneof("data") != "header":
            raise InvalidArgument("the first message must be a header", field="header")
        header = first.header
        picture = PictureHeader(header.size_bytes, header.sha256, optional(header, "content_type"))
        alert, media = await self._sender.send(
            current_principal(), new_alert_from_proto(header.alert), picture, _chunks(messages)
        )
        return pb.SendAlertResponse(alert=alert_to_proto(alert), media=_media_proto(media))

    async def DeleteMedia(self, request, context):
        await self._media.delete_media(request.media_id)
        return pb.DeleteMediaResponse()
