"""The storage interface shared by every media backend (local folder, S3).

Use cases and servicers code against `MediaStorage` and `ObjectWriter` only, so
the same upload/download logic and the same tests run on every backend. The
writer protocol is what makes uploads safe: bytes go to a hidden staging area
(temp file, multipart upload) and only `commit()` makes them visible under the
key; any failure or cancellation ends in `abort()`, which leaves nothing behind.
"""

from __future__ import annotations

import abc
import asyncio
import re
import secrets
from collections.abc import AsyncGenerator, Awaitable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

from ..domain.ports import ObjectNotFound, PresignNotSupported, StorageError, StorageMissing, StorageUnavailable

__all__ = [
    "MediaStorage",
    "ObjectNotFound",
    "ObjectWriter",
    "PresignNotSupported",
    "StorageError",
    "StorageMissing",
    "StorageUnavailable",
]

T = TypeVar("T")

_EXTENSION = re.compile(r"[a-z0-9]{1,10}")


class ObjectWriter(abc.ABC):
    """Streams one object into storage; nothing is visible before `commit()`.

    Calls must not overlap (one upload = one sequential writer). Backends
    implement `_write`, `_commit` and `_abort`; this class holds the state
    machine so every backend refuses the same misuse the same way.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self._state = "open"  # open -> committing -> committed | failed | aborted
        # The blocking call currently running in a thread. If the awaiting task
        # is cancelled the thread keeps going, so abort() must wait for it before
        # cleaning up, or it could race a part upload or a rename.
        self._inflight: asyncio.Future[Any] | None = None

    @property
    def committed(self) -> bool:
        return self._state == "committed"

    async def write(self, data: bytes) -> None:
        """Append bytes. Memory stays bounded whatever the size of `data`."""
        self._require_open()
        if not data:
            return
        try:
            await self._write(data)
        except BaseException:
            # The staged bytes are now in an unknown state: only abort() is left.
            self._state = "failed"
            raise

    async def commit(self) -> None:
        """Make the object visible under its key, atomically."""
        self._require_open()
        self._state = "committing"
        await self._commit()
        self._state = "committed"

    async def abort(self) -> None:
        """Discard everything written. Idempotent, never raises a StorageError.

        A commit that failed or was cancelled may still have landed (a rename or
        a CompleteMultipartUpload that finished after we stopped waiting); the
        backend then removes the object so that only a commit that returned
        leaves an object behind.
        """
        if self._state in ("committed", "aborted"):
            return
        commit_attempted = self._state == "committing"
        self._state = "aborted"
        # Shielded: a cancellation arriving now (e.g. gRPC cancelling the handler of a
        # client that went away) must not stop the clean-up half-way, since the state
        # already says "aborted" and no later abort() would redo it. Kept on self so the
        # task is not garbage-collected while it runs.
        self._clean_up = asyncio.ensure_future(self._abort_after_inflight(commit_attempted))
        await asyncio.shield(self._clean_up)

    async def _abort_after_inflight(self, commit_attempted: bool) -> None:
        fut = self._inflight
        if fut is not None:
            await asyncio.wait([fut])
            if not fut.cancelled():
                fut.exception()  # already surfaced (or dropped) by the caller; silence asyncio
        await self._abort(commit_attempted)

    async def __aenter__(self) -> ObjectWriter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Also on a clean exit without commit: an uncommitted writer must not
        # leave a temp file or a pending multipart upload behind.
        if not self.committed:
            await self.abort()

    async def _track(self, blocking: Awaitable[T]) -> T:
        """Await a thread-backed call, remembering it for abort() (see __init__)."""
        fut = asyncio.ensure_future(blocking)
        self._inflight = fut
        return await asyncio.shield(fut)

    def _require_open(self) -> None:
        if self._state != "open":
            raise StorageError(f"writer for {self.key!r} is {self._state}")

    @abc.abstractmethod
    async def _write(self, data: bytes) -> None: ...

    @abc.abstractmethod
    async def _commit(self) -> None: ...

    @abc.abstractmethod
    async def _abort(self, commit_attempted: bool) -> None:
        """Remove staged data; if `commit_attempted`, also any object the commit wrote."""


class MediaStorage(abc.ABC):
    """A flat key -> bytes store for media objects."""

    def __init__(self, media_folder: str = "") -> None:
        self.media_folder = media_folder.strip("/")

    def make_key(self, media_id: int, extension: str, now: datetime | None = None) -> str:
        """`[media_folder/]YYYYmmddHHMMSS-<media_id>-<random8>.<ext>`, timestamp in UTC.

        Unique by construction: no two media share an id, and the random suffix separates
        concurrent uploads of one media (only one of them sets the row). So no lookup of a
        free key is needed and identical content never collides. Keys stored before this
        format (`...-<sha8>.<ext>`) stay valid: rows keep the key they were given.
        """
        if media_id <= 0:
            raise ValueError("media_id must be positive")
        ext = extension.lstrip(".").lower()
        if not _EXTENSION.fullmatch(ext):
            raise ValueError(f"invalid extension {extension!r}")
        now = now or datetime.now(UTC)
        # A naive datetime is taken as UTC, an aware one is converted.
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
        name = f"{now:%Y%m%d%H%M%S}-{media_id}-{secrets.token_hex(4)}.{ext}"
        return f"{self.media_folder}/{name}" if self.media_folder else name

    @abc.abstractmethod
    async def open_writer(self, key: str, content_type: str) -> ObjectWriter: ...

    @abc.abstractmethod
    def read(self, key: str, chunk_size: int = 64 * 1024) -> AsyncGenerator[bytes, None]:
        """Async generator of chunks of at most `chunk_size` bytes.

        ObjectNotFound is raised by the first iteration, not by the call.
        """

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Delete the object; a missing object is not an error."""

    @abc.abstractmethod
    async def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    async def presigned_url(self, key: str, expires_in: timedelta) -> str: ...

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise StorageUnavailable when the backend cannot be used."""

    async def prepare(self) -> None:
        """Check the storage at start: StorageMissing when its bucket does not exist (and is
        not to be created), StorageUnavailable when it cannot be reached now."""
        await self.ping()

    @abc.abstractmethod
    async def sweep_staged(self, older_than: timedelta) -> int:
        """Remove staged uploads (temp files, pending multipart uploads) started more than
        `older_than` ago: debris of a process killed mid-upload. Returns how many."""

    @abc.abstractmethod
    async def close(self) -> None: ...
