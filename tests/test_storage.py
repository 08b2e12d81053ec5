"""The media storage contract, run against every backend.

Each behaviour test runs on the local folder and on S3 (moto over real HTTP);
backend-specific tests (key escaping, presigned URLs, outages) follow.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import socket
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
import pytest_asyncio

from pyrogrpc.storage import (
    LocalStorage,
    MediaStorage,
    ObjectNotFound,
    PresignNotSupported,
    S3Storage,
    StorageError,
    StorageUnavailable,
)
from tests.fixtures_s3 import moto_s3_endpoint, start_moto  # noqa: F401

pytestmark = pytest.mark.asyncio

MIB = 1024 * 1024
PART = 5 * MIB  # S3's minimum part size: the smallest multipart test possible
SHA = hashlib.sha256(b"media").hexdigest()


def s3_storage(endpoint: str, bucket: str | None = None, **kwargs: object) -> S3Storage:
    return S3Storage(
        bucket=bucket or f"media-{uuid.uuid4().hex[:16]}",
        endpoint_url=endpoint,
        region="us-east-1",
        access_key="testing",
        secret_key="testing",
        part_size=PART,
        **kwargs,  # type: ignore[arg-type]
    )


def raw_s3(endpoint: str):  # type: ignore[no-untyped-def]
    """A plain boto3 client to look behind the storage's back."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@dataclass
class Backend:
    storage: MediaStorage
    leftovers: Callable[[], list[object]]  # staged data not yet committed or aborted


@pytest_asyncio.fixture(params=["local", "s3"])
async def backend(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    moto_s3_endpoint: str,
) -> AsyncIterator[Backend]:
    if request.param == "local":
        local = LocalStorage(tmp_path / "media")
        incoming = local.root / ".incoming"
        yield Backend(local, lambda: sorted(incoming.iterdir()) if incoming.exists() else [])
        await local.close()
        return
    s3 = s3_storage(moto_s3_endpoint)
    await s3.ensure_bucket()
    raw = raw_s3(moto_s3_endpoint)
    yield Backend(s3, lambda: raw.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []))
    await s3.close()


async def read_all(storage: MediaStorage, key: str, chunk_size: int = 64 * 1024) -> bytes:
    return b"".join([chunk async for chunk in storage.read(key, chunk_size)])


async def test_small_object_roundtrip(backend: Backend) -> None:
    st = backend.storage
    key = st.make_key(1, "jpg")
    writer = await st.open_writer(key, "image/jpeg")
    for piece in (b"\xff\xd8\xff", b"hello ", b"world" * 10):
        await writer.write(piece)
    assert not await st.exists(key), "nothing may be visible before commit"
    await writer.commit()

    data = b"\xff\xd8\xffhello " + b"world" * 10
    assert await st.exists(key)
    assert await read_all(st, key) == data
    chunks = [c async for c in st.read(key, chunk_size=7)]
    assert b"".join(chunks) == data
    assert all(len(c) == 7 for c in chunks[:-1]) and 0 < len(chunks[-1]) <= 7
    assert backend.leftovers() == []


async def test_multipart_roundtrip(backend: Backend) -> None:
    st = backend.storage
    data = os.urandom(11 * MIB)
    key = st.make_key(2, "mp4")
    writer = await st.open_writer(key, "video/mp4")
    for i in range(0, len(data), MIB):
        await writer.write(data[i : i + MIB])
    await writer.commit()

    assert await read_all(st, key, chunk_size=MIB) == data
    assert backend.leftovers() == []
    if isinstance(st, S3Storage):
        # A multipart ETag ends in -<number of parts>: 5 + 5 + 1 MiB.
        etag = raw_s3(st._client.meta.endpoint_url).head_object(Bucket=st.bucket, Key=key)["ETag"]
        assert etag.strip('"').endswith("-3")


async def test_abort_leaves_nothing(backend: Backend) -> None:
    st = backend.storage
    key = st.make_key(1, "jpg")
    writer = await st.open_writer(key, "image/jpeg")
    await writer.write(os.urandom(6 * MIB))  # past one part: S3 has a multipart upload open
    assert backend.leftovers() != []
    await writer.abort()
    await writer.abort()  # idempotent

    assert not await st.exists(key)
    assert backend.leftovers() == []
    with pytest.raises(StorageError):
        await writer.write(b"more")
    with pytest.raises(StorageError):
        await writer.commit()


async def test_exception_in_context_aborts(backend: Backend) -> None:
    st = backend.storage
    key = st.make_key(1, "png")
    with pytest.raises(RuntimeError, match="checksum"):
        async with await st.open_writer(key, "image/png") as writer:
            await writer.write(os.urandom(6 * MIB))
            raise RuntimeError("checksum mismatch")
    assert not await st.exists(key)
    assert backend.leftovers() == []


async def test_context_commit_keeps_object(backend: Backend) -> None:
    st = backend.storage
    key = st.make_key(1, "png")
    async with await st.open_writer(key, "image/png") as writer:
        await writer.write(b"\x89PNG")
        await writer.commit()
    assert await read_all(st, key) == b"\x89PNG"


async def test_cancelled_upload_leaves_nothing(backend: Backend) -> None:
    st = backend.storage
    key = st.make_key(1, "mp4")
    past_first_part = asyncio.Event()

    async def upload() -> None:
        async with await st.open_writer(key, "video/mp4") as writer:
            for i in range(1000):
                await writer.write(os.urandom(MIB))
                if i == 6:
                    past_first_part.set()

    task = asyncio.create_task(upload())
    await asyncio.wait_for(past_first_part.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await st.exists(key)
    assert backend.leftovers() == []


async def test_interrupted_commit_is_undone_by_abort(backend: Backend) -> None:
    st = backend.storage
    key = st.make_key(1, "jpg")
    writer = await st.open_writer(key, "image/jpeg")
    await writer.write(b"\xff\xd8\xff payload")
    commit = asyncio.create_task(writer.commit())
    await asyncio.sleep(0)  # the commit is now running in a thread
    commit.cancel()
    with pytest.raises(asyncio.CancelledError):
        await commit
    # The blocking commit was not stopped by the cancellation and lands anyway...
    for _ in range(100):
        if await st.exists(key):
            break
        await asyncio.sleep(0.05)
    assert await st.exists(key)
    # ...and abort removes it, since the caller never saw the commit succeed.
    await writer.abort()
    assert not await st.exists(key)
    assert backend.leftovers() == []


async def test_delete(backend: Backend) -> None:
    st = backend.storage
    key = st.make_key(1, "webp")
    async with await st.open_writer(key, "image/webp") as writer:
        await writer.write(b"RIFF")
        await writer.commit()
    await st.delete(key)
    assert not await st.exists(key)
    await st.delete(key)  # missing is fine
    with pytest.raises(ObjectNotFound):
        await read_all(st, key)


async def test_read_missing(backend: Backend) -> None:
    with pytest.raises(ObjectNotFound):
        await read_all(backend.storage, "20240101000000-deadbeef.jpg")
    assert not await backend.storage.exists("20240101000000-deadbeef.jpg")


async def test_ping_healthy(backend: Backend) -> None:
    await backend.storage.ping()


@pytest.mark.parametrize("folder", ["", "alerts", "/alerts/"])
async def test_make_key(backend: Backend, folder: str) -> None:
    st = backend.storage
    st.media_folder = folder.strip("/")  # same normalisation as the constructors
    prefix = "alerts/" if folder else ""
    when = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert re.fullmatch(rf"{prefix}20240506070809-42-[0-9a-f]{{8}}\.jpg", st.make_key(42, "jpg", now=when))
    paris = datetime(2024, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2)))
    assert re.fullmatch(rf"{prefix}20240506070809-42-[0-9a-f]{{8}}\.jpg", st.make_key(42, ".JPG", now=paris))
    assert st.make_key(42, "mp4")[len(prefix) : len(prefix) + 8] == datetime.now(UTC).strftime("%Y%m%d")
    # Unique by construction: the same media and second never give the same key twice.
    assert len({st.make_key(42, "jpg", now=when) for _ in range(100)}) == 100
    with pytest.raises(ValueError):
        st.make_key(0, "jpg")
    with pytest.raises(ValueError):
        st.make_key(42, "j/pg")


async def test_media_folder_from_constructor(tmp_path: Path) -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    local = LocalStorage(tmp_path, media_folder="/media/")
    assert re.fullmatch(r"media/20240102030405-7-[0-9a-f]{8}\.png", local.make_key(7, "png", now=when))
    s3 = s3_storage("http://127.0.0.1:9", media_folder="media")
    assert re.fullmatch(r"media/20240102030405-7-[0-9a-f]{8}\.png", s3.make_key(7, "png", now=when))


# --- local folder ---------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["../x.jpg", "/etc/passwd", "a/../../x.jpg", "a/../b.jpg", ".incoming/x.jpg", "", ".", "link/x.jpg"]
)
async def test_local_rejects_keys_outside_root(tmp_path: Path, key: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    st = LocalStorage(tmp_path / "media")
    st.root.mkdir()
    (st.root / "link").symlink_to(outside)
    with pytest.raises(ValueError):
        await st.open_writer(key, "image/jpeg")
    with pytest.raises(ValueError):
        await read_all(st, key)
    with pytest.raises(ValueError):
        await st.delete(key)
    with pytest.raises(ValueError):
        await st.exists(key)
    assert list(outside.iterdir()) == []


async def test_local_staging_is_private(tmp_path: Path) -> None:
    st = LocalStorage(tmp_path)
    writer = await st.open_writer("a/b/c.jpg", "image/jpeg")
    assert (tmp_path / ".incoming").stat().st_mode & 0o777 == 0o700
    await writer.write(b"x")
    await writer.commit()
    assert (tmp_path / "a/b/c.jpg").read_bytes() == b"x"  # parent folders created


async def test_local_presign_not_supported(tmp_path: Path) -> None:
    with pytest.raises(PresignNotSupported):
        await LocalStorage(tmp_path).presigned_url("x.jpg", timedelta(minutes=5))


async def test_local_ping_unusable_root(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(StorageUnavailable):
        await LocalStorage(tmp_path / "file").ping()


# --- S3 -------------------------------------------------------------------

_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


async def _s3_with_object(endpoint: str, data: bytes, **kwargs: object) -> tuple[S3Storage, str]:
    st = s3_storage(endpoint, **kwargs)
    await st.ensure_bucket()
    key = st.make_key(1, "jpg")
    async with await st.open_writer(key, "image/jpeg") as writer:
        await writer.write(data)
        await writer.commit()
    return st, key


async def test_s3_presigned_url_fetches_object(moto_s3_endpoint: str) -> None:
    st, key = await _s3_with_object(moto_s3_endpoint, b"\xff\xd8\xff jpeg bytes")
    url = await st.presigned_url(key, timedelta(minutes=5))
    assert "X-Amz-Expires=300" in url
    with _no_proxy.open(url, timeout=10) as resp:
        assert resp.read() == b"\xff\xd8\xff jpeg bytes"
        assert resp.headers["Content-Type"] == "image/jpeg"
    with pytest.raises(ValueError):
        await st.presigned_url(key, timedelta(days=8))
    await st.close()


async def test_s3_proxy_url_rewrites_host(moto_s3_endpoint: str) -> None:
    port = urlsplit(moto_s3_endpoint).port
    st, key = await _s3_with_object(moto_s3_endpoint, b"proxied", proxy_url=f"http://localhost:{port}")
    url = await st.presigned_url(key, timedelta(minutes=5))
    parts = urlsplit(url)
    assert parts.netloc == f"localhost:{port}"
    assert parts.path == f"/{st.bucket}/{key}" and "X-Amz-Signature=" in parts.query
    with _no_proxy.open(url, timeout=10) as resp:  # path and query survived the rewrite
        assert resp.read() == b"proxied"

    public = s3_storage(moto_s3_endpoint, bucket=st.bucket, proxy_url="https://media.example.org/s3/")
    parts = urlsplit(await public.presigned_url(key, timedelta(hours=1)))
    assert (parts.scheme, parts.netloc) == ("https", "media.example.org")
    assert parts.path == f"/s3/{st.bucket}/{key}" and "X-Amz-Signature=" in parts.query
    await st.close()
    await public.close()


async def test_s3_writer_memory_is_bounded(moto_s3_endpoint: str) -> None:
    st = s3_storage(moto_s3_endpoint)
    await st.ensure_bucket()
    key = st.make_key(1, "mp4")
    chunk = os.urandom(64 * 1024)
    writer = await st.open_writer(key, "video/mp4")
    for _ in range(40 * MIB // len(chunk)):
        await writer.write(chunk)
        assert writer.buffered_bytes < PART  # full parts leave right away
    await writer.commit()
    assert writer.max_buffered_bytes == PART  # one full part at a time, never more
    digest = hashlib.sha256()
    async for piece in st.read(key):
        digest.update(piece)
    assert digest.digest() == hashlib.sha256(chunk * (40 * MIB // len(chunk))).digest()
    await st.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _assert_unavailable(st: S3Storage, key: str) -> None:
    """Every operation fails fast with StorageUnavailable."""
    start = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await st.ping()
    with pytest.raises(StorageUnavailable):
        await read_all(st, key)
    with pytest.raises(StorageUnavailable):
        await st.exists(key)
    small = await st.open_writer(key, "image/jpeg")
    await small.write(b"small")  # buffered only, the failure comes with commit
    with pytest.raises(StorageUnavailable):
        await small.commit()
    await small.abort()  # best effort, does not raise
    big = await st.open_writer(key, "video/mp4")
    with pytest.raises(StorageUnavailable):
        await big.write(os.urandom(PART))
    await big.abort()
    assert time.monotonic() - start < 10


async def test_s3_endpoint_down() -> None:
    st = s3_storage(f"http://127.0.0.1:{_closed_port()}")
    await _assert_unavailable(st, st.make_key(1, "jpg"))
    await st.close()


async def test_s3_missing_bucket_unavailable(moto_s3_endpoint: str) -> None:
    # A missing bucket is a misconfiguration: the health check must report it.
    missing = s3_storage(moto_s3_endpoint, bucket="no-such-bucket-here")
    with pytest.raises(StorageUnavailable):
        await missing.ping()
    with pytest.raises(StorageUnavailable):
        await read_all(missing, "x.jpg")  # NoSuchBucket, not NoSuchKey
    small = await missing.open_writer(missing.make_key(1, "jpg"), "image/jpeg")
    await small.write(b"small")  # a picture's PutObject (obstore): NoSuchBucket is an outage too
    with pytest.raises(StorageUnavailable):
        await small.commit()
    await small.abort()
    await missing.close()


async def test_s3_storage_for_aws_needs_no_endpoint_region_nor_keys() -> None:
    """On AWS the endpoint, region and keys may all come from the environment."""
    st = S3Storage(bucket="media", endpoint_url=None, region=None, access_key=None, secret_key=None)
    await st.close()


async def test_s3_small_commit_after_close_is_unavailable(moto_s3_endpoint: str) -> None:
    """A server stopping closes the storage: a picture committed after that is refused, never sent."""
    st = s3_storage(moto_s3_endpoint)
    await st.ensure_bucket()
    key = st.make_key(1, "jpg")
    writer = await st.open_writer(key, "image/jpeg")
    await writer.write(b"\xff\xd8\xff late")
    await st.close()
    with pytest.raises(StorageUnavailable):
        await writer.commit()
    await writer.abort()
    assert raw_s3(moto_s3_endpoint).list_objects_v2(Bucket=st.bucket).get("KeyCount") == 0


async def test_s3_server_stopped_midway() -> None:
    server, endpoint = start_moto()  # our own server: stopping the shared one would break other tests
    try:
        st, key = await _s3_with_object(endpoint, b"before the outage")
        writer = await st.open_writer(st.make_key(1, "mp4"), "video/mp4")
        await writer.write(os.urandom(6 * MIB))  # multipart upload started, one part sent
    finally:
        server.stop()
    start = time.monotonic()
    with pytest.raises(StorageUnavailable):
        await writer.write(os.urandom(5 * MIB))
    await writer.abort()
    assert time.monotonic() - start < 10
    await _assert_unavailable(st, key)
    await st.close()
