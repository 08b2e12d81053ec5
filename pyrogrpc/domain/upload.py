"""UploadMedia: stream a media's content into storage so that it lands whole or not at all.

Protocol. The servicer turns the gRPC stream into two arguments: `UploadHeader` (the first
message) and an async iterator of the content's bytes (every later message), then calls
`MediaUploader.upload(principal, header, chunks)`. This module never sees protobuf.

1. The header alone is checked: media_id set, 0 < size_bytes <= the server limit (an
   announced size over the limit is refused before any byte is read), sha256 64 hex chars.
2. The media is looked up (unless its caller has just created it: SendAlert): the caller's
   group only, and a device only its own media (another device's media is NOT_FOUND, as
   another group's: existence is not leaked).
   An uploaded media answers at once: the request_id of the upload that succeeded replays
   it as it is (if the header is the same, else REQUEST_ID_REUSED), anything else is
   FAILED_PRECONDITION.
3. The first bytes are sniffed (JPEG/PNG/WebP for image media, MP4 for video media); the
   header's content_type is not trusted. A picture's header must also parse (Pillow, no
   decoding) within its first MiB: its width and height are stored with the media.
4. The bytes stream into a storage writer (staged, invisible) while being counted and
   hashed: memory stays at one chunk (one S3 part), and reading stops as soon as more bytes
   arrive than announced. Then size and sha256 must equal the header's.
5. The object is committed (it has no row pointing at it yet, so nobody sees it), then ONE
   statement, atomic on its own, sets bucket_key, size_bytes, sha256, content_type and
   upload_request_id only if the media is still not uploaded (a concurrent upload may have
   won: our object is then deleted; keys are unique per upload, see MediaStorage.make_key). No
   transaction is held while the object travels to storage, and the step costs one round
   trip instead of three (BEGIN, UPDATE, COMMIT). It runs to its end even if the client
   cancels meanwhile, so the row and the object always agree.

Any failure or cancellation before step 5 aborts the writer: no object, no half-set row.
If the row update of step 5 fails, the committed object is deleted again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import TypeVar

from .errors import DomainError, FailedPrecondition, InvalidArgument, NotFound
from .idempotency import check_same_request, request_digest
from .image_header import FIRST_TRY_BYTES, HEADER_LIMIT_BYTES, ImageRefused, ImageSize, image_size
from .media_types import SNIFF_BYTES, SniffedType, sniff_media_type
from .ports import MediaStore, ObjectWriter, Record, StorageError, UnitOfWorkFactory
from .principal import Principal, Scope
from .upload_limits import UploadSlots, idle_bounded
from .validation import Violations, check_request_id

T = TypeVar("T")
logger = logging.getLogger("pyrogrpc.upload")

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class UploadHeader:
    media_id: int
    size_bytes: int
    sha256: str
    content_type: str | None = None  # informative only: the content is sniffed
    request_id: str = ""


class MediaUploader:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        storage: MediaStore,
        max_upload_bytes: int,
        *,
        single_statement_uow: UnitOfWorkFactory | None = None,
        slots: UploadSlots | None = None,
        idle_seconds: float = 30.0,
    ):
        self._uow = uow
        self._single = single_statement_uow or uow  # reads of one statement (see db/session.py)
        self._storage = storage
        self._max_bytes = max_upload_bytes
        self._slots = slots or UploadSlots(per_caller=2, total=32)
        self._idle_seconds = idle_seconds

    async def upload(
        self, principal: Principal, header: UploadHeader, chunks: AsyncIterable[bytes], *, created: Record | None = None
    ) -> Record:
        """`created`: the media row, when the caller has just created it (SendAlert): step 2's
        lookup is then skipped."""
        header = self._checked(header)
        # Bounded: each upload in progress holds buffers and a staged object (see upload_limits).
        with self._slots.taken(principal.access_id):
            return await self._upload(principal, header, idle_bounded(aiter(chunks), self._idle_seconds), created)

    async def _upload(
        self, principal: Principal, header: UploadHeader, chunks: AsyncIterator[bytes], created: Record | None
    ) -> Record:
        assert created is None or created.id == header.media_id
        media = created if created is not None else await self._target(principal, header.media_id)
        if media.bucket_key is not None:
            return _replayed(media, header)
        head, ended = await _read_at_least(chunks, b"", SNIFF_BYTES)
        if not head:
            raise InvalidArgument("the upload has no content: send the bytes as chunk messages", field="chunk")
        sniffed = _sniffed(head, media)
        head, dimensions = await _image_header(chunks, head, ended, sniffed, header.size_bytes)
        key = self._storage.make_key(media.id, sniffed.extension)
        async with await self._storage.open_writer(key, sniffed.content_type) as writer:
            # Leaving this block without a commit (error, cancellation) aborts the writer.
            await self._receive(writer, header, head, chunks)
            return await _uninterrupted(self._commit(writer, header, sniffed, media.id, dimensions))

    # --- steps -------------------------------------------------------------------------

    def _checked(self, header: UploadHeader) -> UploadHeader:
        v = Violations()
        v.check(header.media_id > 0, "header.media_id", "is required")
        v.check(header.size_bytes > 0, "header.size_bytes", "must be positive (empty uploads are refused)")
        v.check(
            header.size_bytes <= self._max_bytes,
            "header.size_bytes",
            f"exceeds the server limit of {self._max_bytes} bytes",
        )
        v.check(bool(_SHA256_HEX.fullmatch(header.sha256)), "header.sha256", "must be 64 hexadecimal characters")
        check_request_id(v, header.request_id, field="header.request_id")
        v.raise_if_any()
        return UploadHeader(
            header.media_id, header.size_bytes, header.sha256.lower(), header.content_type, header.request_id
        )

    async def _target(self, principal: Principal, media_id: int) -> Record:
        async with self._single() as uow:
            if principal.scope is Scope.DEVICE:
                # One statement: another device's media, even in the same group, is not found.
                media = await uow.media.get_of_device(media_id, principal.access_id)
            else:
                media = await uow.media.get_row(media_id, group_id=principal.group_filter)
        if media is None:
            raise NotFound("media", media_id)
        return media

    async def _receive(
        self, writer: ObjectWriter, header: UploadHeader, head: bytes, chunks: AsyncIterator[bytes]
    ) -> None:
        digest = hashlib.sha256()
        received = 0
        data = head
        while True:
            received += len(data)
            # size_bytes <= the server limit (checked in _checked), so this also stops at the limit.
            if received > header.size_bytes:
                raise InvalidArgument(
                    f"more bytes were sent than the announced {header.size_bytes}", field="header.size_bytes"
                )
            digest.update(data)
            await writer.write(data)
            next_data = await anext(chunks, None)
            if next_data is None:
                break
            data = next_data
        if received != header.size_bytes:
            raise InvalidArgument(
                f"announced {header.size_bytes} bytes, received {received}", field="header.size_bytes"
            )
        if digest.hexdigest() != header.sha256:
            raise InvalidArgument("does not match the SHA-256 of the received content", field="header.sha256")

    async def _commit(
        self,
        writer: ObjectWriter,
        header: UploadHeader,
        sniffed: SniffedType,
        media_id: int,
        dimensions: ImageSize | None,
    ) -> Record:
        await writer.commit()  # fails: the writer's owner aborts it, no row was touched
        try:
            async with self._single() as uow:
                # "Not uploaded yet" is re-checked by the update itself: of two concurrent
                # uploads, exactly one sets the row.
                media = await uow.media.set_content(
                    media_id,
                    bucket_key=writer.key,
                    size_bytes=header.size_bytes,
                    sha256=header.sha256,
                    content_type=sniffed.content_type,
                    upload_request_id=header.request_id or None,
                    upload_request_digest=_request_digest(header) if header.request_id else None,
                    width=dimensions.width if dimensions else None,
                    height=dimensions.height if dimensions else None,
                )
                await uow.commit()  # a no-op in autocommit; SQLite's unit is a transaction
        except Exception as error:
            stored = await self._settle(writer.key, media_id, error)
            if stored is None:
                raise
            return stored
        if media is not None:
            return media
        return await self._lost_race(writer.key, media_id, header)

    async def _lost_race(self, key: str, media_id: int, header: UploadHeader) -> Record:
        """The row was set by a concurrent upload (or deleted) before ours."""
        media = await self._row_keeping_its_object(key, media_id)
        if media is None:
            raise NotFound("media", media_id)  # deleted while its content was coming
        return _replayed(media, header)

    async def _settle(self, key: str, media_id: int, error: Exception) -> Record | None:
        """The object is committed but the row update failed: the row if the update landed
        after all (only its answer was lost), else None, our object removed."""
        try:
            stored = await self._row_keeping_its_object(key, media_id)
        except DomainError:
            # Database still unreachable: the row cannot have our key without the update.
            await self._remove(key)
            return None
        return stored if stored is not None and stored.bucket_key == key else None

    async def _row_keeping_its_object(self, key: str, media_id: int) -> Record | None:
        """The media's row; our committed object `key` is removed unless that row holds it
        (our own update, whose answer was lost)."""
        async with self._single() as uow:
            media = await uow.media.get_row(media_id)
        if media is None or media.bucket_key != key:
            await self._remove(key)
        return media

    async def _remove(self, key: str) -> None:
        try:
            await self._storage.delete(key)
        except StorageError as error:
            logger.warning("could not remove %s after a failed upload: %s", key, error)


def _replayed(media: Record, header: UploadHeader) -> Record:
    """An uploaded media: the first result for a retry of the upload that stored it (same
    request_id, same header), refused otherwise, before any byte is read."""
    if header.request_id and media.upload_request_id == header.request_id:
        check_same_request(media.upload_request_digest, _request_digest(header), "UploadMedia")
        return media
    raise FailedPrecondition(f"media {media.id} is already uploaded")


def _request_digest(header: UploadHeader) -> str:
    """What identifies an upload's content: the header without its request_id."""
    return request_digest(
        {
            "media_id": header.media_id,
            "size_bytes": header.size_bytes,
            "sha256": header.sha256,
            "content_type": header.content_type,
        }
    )


async def _read_at_least(chunks: AsyncIterator[bytes], head: bytes, want: int) -> tuple[bytes, bool]:
    """`head` extended to at least `want` bytes, and whether the content ended before."""
    parts = [head]
    length = len(head)
    while length < want:
        chunk = await anext(chunks, None)
        if chunk is None:
            return b"".join(parts), True
        parts.append(chunk)
        length += len(chunk)
    return b"".join(parts), False


async def _image_header(
    chunks: AsyncIterator[bytes], head: bytes, ended: bool, sniffed: SniffedType, size_bytes: int
) -> tuple[bytes, ImageSize | None]:
    """For a picture: its size, read from the first bytes, and those bytes (more of them than
    sniffed; they still have to be written). Videos keep the sniffing alone."""
    if sniffed.kind != "image":
        return head, None
    # Never read past the announced size (+1, so that "too many bytes" is still detected).
    want = min(FIRST_TRY_BYTES, size_bytes + 1)
    while True:
        head, ended = await _read_at_least(chunks, head, want) if not ended else (head, True)
        try:
            dimensions = image_size(head, sniffed)
        except ImageRefused as refused:
            raise InvalidArgument(str(refused), field="chunk") from None
        if dimensions is not None:
            return head, dimensions
        if ended or len(head) >= min(HEADER_LIMIT_BYTES, size_bytes + 1):
            # Pillow reads a WebP whole to know its size: larger ones cannot be checked.
            whole = " (a WebP picture is parsed whole: at most that size)" if sniffed.extension == "webp" else ""
            raise InvalidArgument(
                f"the content is not a readable {sniffed.content_type} picture: its header (width, height) "
                f"does not parse within its first {min(len(head), HEADER_LIMIT_BYTES)} bytes{whole}",
                field="chunk",
            )
        want = min(len(head) * 2, HEADER_LIMIT_BYTES, size_bytes + 1)


def _sniffed(head: bytes, media: Record) -> SniffedType:
    sniffed = sniff_media_type(head)
    if sniffed is None:
        raise InvalidArgument("the content is not a JPEG, PNG, WebP or MP4 file", field="chunk")
    if sniffed.kind != media.type:
        raise InvalidArgument(
            f"media {media.id} is of type {media.type}, the content is {sniffed.content_type}", field="chunk"
        )
    return sniffed


async def _uninterrupted(step: Awaitable[T]) -> T:
    """Run `step` to its end even if the caller is cancelled meanwhile; the cancellation is re-raised after."""
    task = asyncio.ensure_future(step)
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        if not task.cancelled():
            task.exception()  # handled by the step itself (e.g. our object removed); the caller is gone
        raise asyncio.CancelledError
    return task.result()
