"""Use cases of DetectionService for media: rows, content upload and download, URLs.

A media row is created first (not uploaded), then its content arrives through UploadMedia
(`upload.py`). Group isolation: a non-admin caller sees its group's media only; another
group's media is NOT_FOUND.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterable
from datetime import UTC, datetime, timedelta

from .clock import utcnow
from .errors import FailedPrecondition, MediaPurged, NotFound
from .idempotency import create_once
from .paging import Page, PageRequest
from .ports import MediaStore, ObjectNotFound, PresignNotSupported, UnitOfWork, UnitOfWorkFactory
from .principal import Principal
from .records import MediaRecord
from .rows import existing, visible
from .upload import MediaUploader, UploadHeader
from .upload_limits import UploadSlots
from .validation import Violations, check_request_id

DOWNLOAD_CHUNK_BYTES = 64 * 1024


class MediaService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        storage: MediaStore,
        *,
        max_upload_bytes: int,
        url_lifetime: timedelta,
        single_statement_uow: UnitOfWorkFactory | None = None,
        upload_slots: UploadSlots | None = None,
        upload_idle_seconds: float = 30.0,
        retention_days: int = 0,
    ):
        self._uow = uow
        self._retention_days = retention_days  # named in the error about a purged media
        self._single = single_statement_uow or uow  # units of ONE statement (see db/session.py)
        self._storage = storage
        self._url_lifetime = url_lifetime
        self._uploader = MediaUploader(
            uow,
            storage,
            max_upload_bytes,
            single_statement_uow=self._single,
            slots=upload_slots,
            idle_seconds=upload_idle_seconds,
        )

    # --- rows --------------------------------------------------------------------------

    async def create_media(self, device_id: int, media_type: str) -> MediaRecord:
        v = Violations()
        v.check(device_id > 0, "device_id", "is required")
        v.raise_if_any()
        async with self._uow() as uow:
            device = await existing(uow.devices, "device", device_id)
            media = await uow.media.create(device_id=device.id, group_id=device.group_id, type=media_type)
            await uow.commit()
        return media

    async def create_my_media(self, principal: Principal, media_type: str, request_id: str) -> MediaRecord:
        v = Violations()
        check_request_id(v, request_id)
        v.raise_if_any()

        async def create(uow: UnitOfWork) -> MediaRecord:
            # One statement finds the caller's device and inserts the media (a read-only row).
            media = await uow.media.add_for_device(principal.access_id, media_type, utcnow())
            if media is None:
                raise NotFound("device")  # the token outlived its device
            return media

        # Without a request_id the create is one statement; with one, it also reads and writes the key.
        media, _ = await create_once(
            self._uow if request_id else self._single,
            principal,
            "CreateMyMedia",
            request_id,
            {"type": media_type},
            create,
            lambda uow, media_id: uow.media.get(media_id),
        )
        return media

    async def get_media(self, principal: Principal, media_id: int) -> MediaRecord:
        async with self._uow() as uow:
            return await visible(uow.media, "media", media_id, principal)

    async def list_media(
        self, principal: Principal, page: PageRequest, group_id: int | None = None
    ) -> Page[MediaRecord]:
        async with self._uow() as uow:
            return await uow.media.list_media(page, group_id=principal.group_filter, only_group_id=group_id)

    async def delete_media(self, media_id: int) -> None:
        async with self._uow() as uow:
            media = await existing(uow.media, "media", media_id, for_update=True)
            try:
                await uow.media.delete(media)  # flushed: alerts still pointing at it fail here
            except FailedPrecondition:
                raise FailedPrecondition(f"media {media_id} is still referenced by alerts: delete them first") from None
            # The object goes before the commit: storage down leaves both row and object (retry
            # later) rather than a row whose content is gone or an object nobody can reach.
            if media.bucket_key is not None:
                await self._storage.delete(media.bucket_key)
            await uow.commit()

    # --- content -----------------------------------------------------------------------

    async def upload(self, principal: Principal, header: UploadHeader, chunks: AsyncIterable[bytes]) -> MediaRecord:
        return await self._uploader.upload(principal, header, chunks)

    async def upload_content(
        self,
        principal: Principal,
        created: MediaRecord,
        size_bytes: int,
        sha256: str,
        content_type: str | None,
        chunks: AsyncIterable[bytes],
    ) -> MediaRecord:
        """upload() of a media the caller has just created, for callers that hold the header's
        values, not an UploadHeader (SendAlert): the media is not looked up again."""
        header = UploadHeader(created.id, size_bytes, sha256, content_type)
        return await self._uploader.upload(principal, header, chunks, created=created)

    async def download(self, principal: Principal, media_id: int) -> tuple[MediaRecord, AsyncGenerator[bytes, None]]:
        """The media and its content in chunks of 64 KiB (close the iterator if you stop early)."""
        media, key = await self._uploaded(principal, media_id)
        return media, self._content(media.id, key)

    async def get_media_url(self, principal: Principal, media_id: int) -> tuple[str, datetime]:
        _, key = await self._uploaded(principal, media_id)
        expire_time = datetime.now(UTC) + self._url_lifetime
        try:
            url = await self._storage.presigned_url(key, self._url_lifetime)
        except PresignNotSupported:
            raise FailedPrecondition("media URLs need S3 storage; use DownloadMedia") from None
        return url, expire_time

    async def _uploaded(self, principal: Principal, media_id: int) -> tuple[MediaRecord, str]:
        """The media, if the caller may see it and it is uploaded, and its storage key."""
        async with self._uow() as uow:
            media = await visible(uow.media, "media", media_id, principal)
        if media.purge_time is not None:
            raise MediaPurged(media_id, self._retention_days)
        if media.bucket_key is None:
            raise FailedPrecondition(f"media {media_id} is not uploaded yet")
        return media, media.bucket_key

    async def _content(self, media_id: int, key: str) -> AsyncGenerator[bytes, None]:
        async with contextlib.aclosing(self._storage.read(key, DOWNLOAD_CHUNK_BYTES)) as chunks:
            try:
                async for chunk in chunks:
                    yield chunk
            except ObjectNotFound:
                raise NotFound("stored content of media", media_id) from None
