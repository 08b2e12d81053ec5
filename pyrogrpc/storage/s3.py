"""Media stored in an S3-compatible bucket (AWS, MinIO, Garage, moto).

boto3 is blocking, so every boto3 call runs in a bounded thread pool: the event loop
never waits on the network, and a burst of uploads cannot open more than
`max_workers` connections. Uploads stage at most one part (`part_size`) in an
anonymous temporary file (not in memory): small objects go in one PutObject,
larger ones as a multipart upload that stays invisible until
CompleteMultipartUpload.

The PutObject of an object small enough to be held in memory (a camera's picture,
<= PENDING_BYTES) goes through obstore (Rust object_store: async, signing and HTTP in
Rust) instead: 1.0-1.9 ms of CPU per 100 KB PUT against 4.0-4.5 ms for boto3 in a
thread, same run (docs/performance.md, issue 19). Everything else stays on boto3.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import tempfile
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar
from urllib.parse import urlsplit, urlunsplit

import boto3
import obstore
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from obstore.exceptions import BaseError as ObstoreError
from obstore.exceptions import InvalidPathError
from obstore.store import S3Store
from urllib3.exceptions import HTTPError as URLLib3Error

if TYPE_CHECKING:
    from obstore.store import S3Config

from pyrogrpc.storage.base import (
    MediaStorage,
    ObjectNotFound,
    ObjectWriter,
    StorageError,
    StorageMissing,
    StorageUnavailable,
)

T = TypeVar("T")
log = logging.getLogger(__name__)

MIN_PART_SIZE = 5 * 1024 * 1024  # S3 rejects smaller parts (except the last one)
PENDING_BYTES = 256 * 1024  # bytes of an upload held in memory before they go to its part file
MAX_PRESIGN = timedelta(days=7)  # SigV4 presigned URLs cannot live longer
_NOT_FOUND = {"NoSuchKey", "NotFound", "404"}
# Errors that are our own bug, not an outage: report them as plain StorageError.
_CALLER_BUG = {
    "EntityTooSmall",
    "InvalidArgument",
    "InvalidBucketName",
    "InvalidPart",
    "InvalidPartOrder",
    "MalformedXML",
}


def _translated(fn: Callable[[], T]) -> T:
    """Run a boto3 call, turning its exceptions into StorageError subclasses."""
    try:
        return fn()
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _NOT_FOUND:
            raise ObjectNotFound(str(exc)) from exc
        if code in _CALLER_BUG:
            raise StorageError(str(exc)) from exc
        # Auth, missing bucket, throttling, 5xx: the storage is not usable now.
        raise StorageUnavailable(str(exc)) from exc
    except (BotoCoreError, URLLib3Error, OSError) as exc:
        # Connection refused/timeouts, missing credentials, a body cut mid-read.
        raise StorageUnavailable(f"S3 unreachable: {exc}") from exc


async def _put_translated(store: S3Store, key: str, data: bytes, content_type: str) -> None:
    """One PutObject through obstore, its exceptions turned into StorageError subclasses."""
    try:
        await obstore.put_async(store, key, data, attributes={"Content-Type": content_type}, use_multipart=False)
    except InvalidPathError as exc:
        raise StorageError(str(exc)) from exc
    except (ObstoreError, OSError) as exc:
        # Connection refused, timeouts, auth, missing bucket, 5xx: the storage is not usable now.
        raise StorageUnavailable(f"S3 PutObject failed: {exc}") from exc


def _error_code(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(cause, ClientError):
        return str(cause.response.get("Error", {}).get("Code", ""))
    return ""


_KEY_TIME = re.compile(r"(\d{14})-")


def _started(upload: dict[str, Any]) -> datetime:
    """When a pending multipart upload started: the later of S3's Initiated and the time in
    our key (`YYYYmmddHHMMSS-...`, see MediaStorage.make_key). Both, because some S3 servers
    report no real Initiated (moto answers a fixed date in 2010): taking the later one never
    sweeps an upload younger than the age."""
    started: datetime = upload["Initiated"]
    match = _KEY_TIME.match(upload["Key"].rsplit("/", 1)[-1])
    if match:
        with contextlib.suppress(ValueError):
            started = max(started, datetime.strptime(match.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC))
    return started


class _S3Writer(ObjectWriter):
    """Stages the current part in an anonymous temporary file, not in memory: a part is
    5-8 MiB, and many slow uploads holding one each in RAM could exhaust the server (issue 13,
    item 5). The file has no name (unlinked at creation), so even a kill -9 leaves nothing;
    boto3 streams it from disk."""

    def __init__(self, storage: S3Storage, key: str, content_type: str) -> None:
        super().__init__(key)
        self._s3 = storage
        self._content_type = content_type
        self._part: BinaryIO | None = None  # opened on the first flush
        self._part_bytes = 0  # staged in the file and in `_pending`
        # Chunks gathered before one write to the file: a thread hop per 64 KiB chunk cost
        # ~30% of S3 upload throughput; 256 KiB keeps 30 stalled uploads under 8 MB of RAM.
        self._pending = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self.max_buffered_bytes = 0  # high-water mark of the staged part, for tests and metrics

    @property
    def buffered_bytes(self) -> int:
        return self._part_bytes

    async def _call(self, method: str, **kwargs: Any) -> Any:
        return await self._track(self._s3._run(method, **kwargs))

    def _append_sync(self, data: bytes) -> None:
        if self._part is None:
            self._part = tempfile.TemporaryFile(prefix="pyrogrpc-part-")  # noqa: SIM115 - the writer closes it
        self._part.write(data)

    async def _flush(self) -> None:
        if self._pending:
            data, self._pending = bytes(self._pending), bytearray()
            await self._track(asyncio.to_thread(_translated, functools.partial(self._append_sync, data)))

    async def _write(self, data: bytes) -> None:
        part_size = self._s3.part_size
        view = memoryview(data)
        while view:
            piece, view = view[: part_size - self._part_bytes], view[part_size - self._part_bytes :]
            self._pending += piece
            self._part_bytes += len(piece)
            self.max_buffered_bytes = max(self.max_buffered_bytes, self._part_bytes)
            if len(self._pending) >= PENDING_BYTES:
                await self._flush()
            if self._part_bytes == part_size:
                await self._upload_part()

    async def _send_staged(self, method: str, **kwargs: Any) -> Any:
        """client.<method>(Body=<the staged part>, ...) in ONE pool call that first moves the
        pending bytes to the part file: a cancelled caller cannot stop between the two."""

        def call() -> Any:
            if self._pending:
                data, self._pending = bytes(self._pending), bytearray()
                self._append_sync(data)
            if self._part is None:
                self._part = tempfile.TemporaryFile(prefix="pyrogrpc-part-")  # noqa: SIM115 - the writer closes it
            self._part.seek(0)
            return getattr(self._s3._client, method)(Body=self._part, **kwargs)

        return await self._track(self._s3._submit(call))

    def _reset_part(self) -> None:
        assert self._part is not None
        self._part.seek(0)
        self._part.truncate()
        self._part_bytes = 0

    def _create_upload(self) -> None:
        resp = self._s3._client.create_multipart_upload(
            Bucket=self._s3.bucket, Key=self.key, ContentType=self._content_type
        )
        # Set from the thread: if our await was cancelled, abort() still learns
        # the upload id and can abort it instead of leaving it pending.
        self._upload_id = resp["UploadId"]

    async def _upload_part(self) -> None:
        if self._upload_id is None:
            await self._track(self._s3._submit(self._create_upload))
        number = len(self._parts) + 1
        resp = await self._send_staged(
            "upload_part",
            Bucket=self._s3.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            PartNumber=number,
        )
        self._reset_part()
        self._parts.append({"PartNumber": number, "ETag": resp["ETag"]})

    async def _commit(self) -> None:
        if self._upload_id is None and self._part is None:
            # All bytes in memory (<= PENDING_BYTES): one PutObject through obstore.
            data, self._pending = bytes(self._pending), bytearray()
            await self._track(self._s3._put_small(self.key, data, self._content_type))
            return
        if self._upload_id is None:
            await self._send_staged(
                "put_object",
                Bucket=self._s3.bucket,
                Key=self.key,
                ContentType=self._content_type,
            )
            self._close_part()
            return
        if self._part_bytes:
            await self._upload_part()
        self._close_part()
        await self._call(
            "complete_multipart_upload",
            Bucket=self._s3.bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )

    def _close_part(self) -> None:
        self._pending = bytearray()
        if self._part is not None:
            self._part.close()
            self._part = None

    async def _abort(self, commit_attempted: bool) -> None:
        self._close_part()  # after any thread that used it: abort() waits for those first
        # Best effort: the storage may be the reason we abort. A bucket lifecycle
        # rule (AbortIncompleteMultipartUpload) should catch what is left.
        if self._upload_id is not None:
            try:
                await self._s3._run(
                    "abort_multipart_upload",
                    Bucket=self._s3.bucket,
                    Key=self.key,
                    UploadId=self._upload_id,
                )
            except StorageError as exc:
                if _error_code(exc) != "NoSuchUpload":
                    log.warning("could not abort multipart upload of %s: %s", self.key, exc)
        if commit_attempted:
            # The interrupted PutObject/CompleteMultipartUpload may have landed.
            try:
                await self._s3._run("delete_object", Bucket=self._s3.bucket, Key=self.key)
            except StorageError as exc:
                log.warning("could not remove %s after a failed commit: %s", self.key, exc)


class S3Storage(MediaStorage):
    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None,
        region: str | None,
        access_key: str | None,
        secret_key: str | None,
        media_folder: str = "",
        proxy_url: str = "",
        part_size: int = 8 * 1024 * 1024,
        max_workers: int = 8,
        create_bucket: bool = False,
    ) -> None:
        super().__init__(media_folder)
        self.create_bucket = create_bucket
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3 minimum)")
        self.bucket = bucket
        self.part_size = part_size
        self.proxy_url = proxy_url.rstrip("/")
        self._region = region
        config = Config(
            # Fail fast on a dead endpoint: callers map this to UNAVAILABLE and
            # retry themselves; a long botocore back-off would only hold a thread.
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=max_workers,
            signature_version="s3v4",
            # No CRC32 of every body on top of SigV4's SHA-256 of it (botocore >= 1.36 adds one
            # by default; ~7% of a 100 KB PutObject's CPU): the upload's SHA-256 is checked already.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # Path style keeps the bucket in the URL path, so the proxy rewrite
            # of presigned URLs (which swaps the host) keeps pointing at it.
            s3={"addressing_style": "path" if endpoint_url or proxy_url else "auto"},
        )
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=config,
        )
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="s3")
        self._closed = False
        # The small PutObjects (see the module's docstring), with boto3's settings above. What
        # is not given (AWS's endpoint, region, keys) obstore finds as boto3 does: environment,
        # instance metadata.
        options: S3Config = {"virtual_hosted_style_request": not (endpoint_url or proxy_url)}
        if endpoint_url:
            options["endpoint"] = endpoint_url
        if region:
            options["region"] = region
        if access_key and secret_key:
            options["access_key_id"], options["secret_access_key"] = access_key, secret_key
        self._store = S3Store(
            bucket,
            config=options,
            client_options={
                "allow_http": bool(endpoint_url and endpoint_url.startswith("http://")),
                "connect_timeout": timedelta(seconds=5),
                "timeout": timedelta(seconds=30),
            },
            retry_config={"max_retries": 1, "retry_timeout": timedelta(seconds=10)},
        )

    def _put_small(self, key: str, data: bytes, content_type: str) -> asyncio.Future[None]:
        """PutObject of `data` (held in memory) through obstore; the future raises StorageError."""
        if self._closed:
            closed = asyncio.get_running_loop().create_future()
            closed.set_exception(StorageUnavailable("the media storage is closed"))
            return closed
        return asyncio.ensure_future(_put_translated(self._store, key, data, content_type))

    def _submit(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Run a blocking fn in the pool; the future raises StorageError."""
        loop = asyncio.get_running_loop()
        try:
            return loop.run_in_executor(self._executor, _translated, fn)
        except RuntimeError:  # the pool is shut down: close() was called
            closed = loop.create_future()
            closed.set_exception(StorageUnavailable("the media storage is closed"))
            return closed

    def _run(self, method: str, **kwargs: Any) -> asyncio.Future[Any]:
        """client.<method>(**kwargs) in the pool."""
        return self._submit(functools.partial(getattr(self._client, method), **kwargs))

    async def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist yet (tests, embedded set-ups)."""
        try:
            await self._run("head_bucket", Bucket=self.bucket)
            return
        except ObjectNotFound:
            pass
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self._region and self._region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
        try:
            await self._run("create_bucket", **kwargs)
        except StorageError as exc:
            # Lost a race with another creator: the bucket is there, which is all we want.
            if _error_code(exc) != "BucketAlreadyOwnedByYou":
                raise

    async def open_writer(self, key: str, content_type: str) -> ObjectWriter:
        if not key:
            raise ValueError("empty storage key")
        return _S3Writer(self, key, content_type)

    async def read(self, key: str, chunk_size: int = 64 * 1024) -> AsyncGenerator[bytes, None]:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        resp = await self._run("get_object", Bucket=self.bucket, Key=key)
        body = resp["Body"]
        try:
            while True:
                chunk = await self._submit(functools.partial(body.read, chunk_size))
                if not chunk:
                    break
                yield chunk
        finally:
            # Stopping early drops the connection rather than draining the body.
            body.close()

    async def delete(self, key: str) -> None:
        await self._run("delete_object", Bucket=self.bucket, Key=key)

    async def exists(self, key: str) -> bool:
        try:
            await self._run("head_object", Bucket=self.bucket, Key=key)
        except ObjectNotFound:
            return False
        return True

    async def presigned_url(self, key: str, expires_in: timedelta) -> str:
        if not timedelta(seconds=1) <= expires_in <= MAX_PRESIGN:
            raise ValueError(f"expires_in must be between 1 s and {MAX_PRESIGN}")
        # Signing is local, but may have to fetch credentials (instance metadata).
        url: str = await self._run(
            "generate_presigned_url",
            ClientMethod="get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=int(expires_in.total_seconds()),
        )
        return self._proxied(url) if self.proxy_url else url

    def _proxied(self, url: str) -> str:
        """Swap scheme and host for S3_PROXY_URL's, keeping path and signed query."""
        proxy = urlsplit(self.proxy_url)
        orig = urlsplit(url)
        return urlunsplit((proxy.scheme, proxy.netloc, proxy.path + orig.path, orig.query, ""))

    async def ping(self) -> None:
        try:
            if self.create_bucket:  # told to create it: also when it was deleted meanwhile
                await self.ensure_bucket()
            else:
                await self._run("head_bucket", Bucket=self.bucket)
        except ObjectNotFound as exc:
            raise StorageUnavailable(f"bucket {self.bucket!r} does not exist") from exc
        except StorageError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def prepare(self) -> None:
        if self.create_bucket:
            await self.ensure_bucket()
            return
        try:
            await self._run("head_bucket", Bucket=self.bucket)
        except ObjectNotFound as exc:
            raise StorageMissing(f"bucket {self.bucket!r} does not exist") from exc

    def _sweep_sync(self, older_than: timedelta) -> int:
        cutoff = datetime.now(UTC) - older_than
        prefix = f"{self.media_folder}/" if self.media_folder else ""
        swept = 0
        for page in self._client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                if _started(upload) >= cutoff:
                    continue  # may be a live upload, of this replica or another
                try:
                    self._client.abort_multipart_upload(
                        Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    swept += 1
                except ClientError as exc:
                    if str(exc.response.get("Error", {}).get("Code", "")) != "NoSuchUpload":  # gone meanwhile
                        raise
        return swept

    async def sweep_staged(self, older_than: timedelta) -> int:
        return await self._submit(functools.partial(self._sweep_sync, older_than))

    async def close(self) -> None:
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._client.close()
