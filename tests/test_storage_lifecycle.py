"""Media storage at start and while serving (issue 13, items 11 and 12).

- A missing bucket stops the start (exit 2 naming BUCKET_NAME) unless S3_CREATE_BUCKET=true.
- Health reports NOT_SERVING while the storage is unreachable or its bucket is gone, SERVING
  again once it is back: through the real gRPC health service.
- Staged uploads left by a killed process (files in media/.incoming/, pending S3 multipart
  uploads) are swept at start and periodically once older than UPLOAD_SWEEP_AGE_SECONDS;
  younger ones stay (they may be live uploads of another replica).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from pyrogrpc.config import ConfigError, Settings
from pyrogrpc.server import PyroServer
from pyronear.v1 import detection_service_pb2 as pb
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.fixtures_s3 import s3_env
from tests.helpers import Api, TcpProxy, tiny_jpeg
from tests.test_upload import _header, _stall_forever, create_my_media, eventually, new_camera

ROOT = Path(__file__).resolve().parents[1]
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
HOUR = 3600


def _s3(endpoint: str):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )


async def _health(port: int) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        return (await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)).status


async def _health_becomes(port: int, status: int, timeout: float = 30.0) -> bool:
    async def reached():
        return await _health(port) == status

    return await eventually(reached, timeout=timeout)


# --- item 12: the bucket at start --------------------------------------------------------


async def test_missing_bucket_refuses_to_start(base_env, moto_s3_endpoint):
    env = {**base_env, **s3_env(moto_s3_endpoint), "S3_CREATE_BUCKET": "false"}
    server = PyroServer(Settings.from_env(env, env_file=None))
    with pytest.raises(ConfigError, match="BUCKET_NAME") as refused:
        await server.start()
    assert env["BUCKET_NAME"] in str(refused.value) and "S3_CREATE_BUCKET=true" in str(refused.value)
    await server.engine.dispose()


def test_serve_exits_2_naming_bucket_name_when_the_bucket_is_missing(base_env, moto_s3_endpoint):
    env = {**os.environ, **base_env, **s3_env(moto_s3_endpoint), "S3_CREATE_BUCKET": "false"}
    done = subprocess.run(
        [sys.executable, "-m", "pyrogrpc", "--env-file", "/dev/null", "serve"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "BUCKET_NAME" in done.stderr and env["BUCKET_NAME"] in done.stderr


async def test_create_bucket_setting_creates_it_at_start(server_factory, moto_s3_endpoint):
    env = s3_env(moto_s3_endpoint)  # S3_CREATE_BUCKET=true
    server = await server_factory(**env)
    assert _s3(moto_s3_endpoint).head_bucket(Bucket=env["BUCKET_NAME"])["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert await _health(server.port) == SERVING


# --- item 12: health follows the storage ----------------------------------------------------


async def test_health_is_not_serving_while_the_bucket_is_gone(server_factory, moto_s3_endpoint):
    bucket = f"health-{uuid.uuid4().hex[:8]}"
    _s3(moto_s3_endpoint).create_bucket(Bucket=bucket)
    server = await server_factory(
        health_interval_seconds=0.2, **{**s3_env(moto_s3_endpoint, bucket), "S3_CREATE_BUCKET": "false"}
    )
    assert await _health(server.port) == SERVING
    _s3(moto_s3_endpoint).delete_bucket(Bucket=bucket)
    assert await _health_becomes(server.port, NOT_SERVING), "health still SERVING without a bucket"
    _s3(moto_s3_endpoint).create_bucket(Bucket=bucket)
    assert await _health_becomes(server.port, SERVING), "health did not come back with the bucket"


async def test_health_is_not_serving_while_s3_is_unreachable(server_factory, moto_s3_endpoint):
    proxy = TcpProxy(int(moto_s3_endpoint.rsplit(":", 1)[1]))
    await proxy.start()
    try:
        server = await server_factory(health_interval_seconds=0.2, **s3_env(f"http://127.0.0.1:{proxy.port}"))
        assert await _health(server.port) == SERVING
        await proxy.cut()
        assert await _health_becomes(server.port, NOT_SERVING), "health still SERVING with S3 unreachable"
        await proxy.start()
        assert await _health_becomes(server.port, SERVING)
    finally:
        await proxy.cut()


async def test_unreachable_storage_at_start_starts_not_serving(server_factory):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    server = await server_factory(**s3_env(f"http://127.0.0.1:{closed_port}"))
    assert await _health(server.port) == NOT_SERVING


# --- item 11: sweeping staged uploads ----------------------------------------------------------


def _incoming(data_dir: str) -> Path:
    path = Path(data_dir) / "media" / ".incoming"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def test_stale_staged_files_are_swept_at_start_and_recent_ones_stay(base_env, server_factory):
    incoming = _incoming(base_env["PYROGRPC_DATA_DIR"])
    stale, recent = incoming / "tmp-stale.part", incoming / "tmp-recent.part"
    stale.write_bytes(b"\xff\xd8\xff" + bytes(1000))
    recent.write_bytes(b"\xff\xd8\xff" + bytes(1000))
    two_hours_ago = time.time() - 2 * HOUR
    os.utime(stale, (two_hours_ago, two_hours_ago))
    await server_factory(UPLOAD_SWEEP_AGE_SECONDS=str(HOUR))

    async def swept():
        return not stale.exists()

    assert await eventually(swept, timeout=30), "the stale staged file is still there"
    assert recent.exists(), "a recent staged file (maybe a live upload) was removed"


async def test_staged_files_are_swept_periodically(base_env, server_factory):
    incoming = _incoming(base_env["PYROGRPC_DATA_DIR"])
    await server_factory(UPLOAD_SWEEP_AGE_SECONDS=str(HOUR), UPLOAD_SWEEP_INTERVAL_SECONDS="1")
    stale = incoming / "tmp-later.part"  # appears after the sweep at start
    stale.write_bytes(b"x")
    two_hours_ago = time.time() - 2 * HOUR
    os.utime(stale, (two_hours_ago, two_hours_ago))

    async def swept():
        return not stale.exists()

    assert await eventually(swept, timeout=30), "the periodic sweep never ran"


async def test_stale_multipart_uploads_are_aborted_and_recent_ones_stay(server_factory, moto_s3_endpoint):
    bucket = f"sweep-{uuid.uuid4().hex[:8]}"
    s3 = _s3(moto_s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    # Keys as the server makes them (`YYYYmmddHHMMSS-<media id>-<random>.<ext>`): their time says
    # when the upload started (moto reports no real Initiated time, real S3 does).
    stale_key = f"pyro/{time.strftime('%Y%m%d%H%M%S', time.gmtime(time.time() - 2 * HOUR))}-1-0123abcd.jpg"
    recent_key = f"pyro/{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-2-4567cdef.jpg"
    stale = s3.create_multipart_upload(Bucket=bucket, Key=stale_key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=stale_key, UploadId=stale, PartNumber=1, Body=b"x" * 1000)
    recent = s3.create_multipart_upload(Bucket=bucket, Key=recent_key)["UploadId"]
    await server_factory(
        BUCKET_MEDIA_FOLDER="pyro",
        UPLOAD_SWEEP_AGE_SECONDS=str(HOUR),
        **{**s3_env(moto_s3_endpoint, bucket), "S3_CREATE_BUCKET": "false"},
    )

    async def pending() -> set[str]:
        uploads = (await asyncio.to_thread(s3.list_multipart_uploads, Bucket=bucket)).get("Uploads", [])
        return {upload["UploadId"] for upload in uploads}

    async def swept():
        return stale not in await pending()

    assert await eventually(swept, timeout=30), "the stale multipart upload is still pending"
    assert recent in await pending(), "a recent multipart upload (maybe a live one) was aborted"
    s3.abort_multipart_upload(Bucket=bucket, Key=recent_key, UploadId=recent)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(base_env: dict[str, str], port: int, **extra: str) -> subprocess.Popen:
    env = {**os.environ, **base_env, "GRPC_PORT": str(port), **extra}
    return subprocess.Popen(
        [sys.executable, "-m", "pyrogrpc", "--env-file", "/dev/null", "--log-level", "WARNING", "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _serving(port: int, process: subprocess.Popen) -> bool:
    async def up():
        assert process.poll() is None, f"pyrogrpc serve exited with {process.returncode}"
        try:
            return await _health(port) == SERVING
        except grpc.aio.AioRpcError:
            return False

    return await eventually(up, timeout=60)


async def test_kill_9_mid_upload_then_restart_sweeps_the_staged_file(base_env):
    """A real `pyrogrpc serve` killed with SIGKILL while an upload is staged: its temp file
    stays behind; the next start (with a sweep age below the file's age) removes it."""
    port = _free_port()
    first = _serve(base_env, port)
    try:
        assert await _serving(port, first)
        async with Api.connect(port) as api:
            camera = await new_camera(await api.login(ADMIN_LOGIN, ADMIN_PASSWORD))
            media = await create_my_media(camera.device)
            data = tiny_jpeg(200_000)
            call = camera.device.detection.UploadMedia(
                _stall_forever(_header(media.id, data + b"more"), pb.UploadMediaRequest(chunk=data))
            )
            incoming = Path(base_env["PYROGRPC_DATA_DIR"]) / "media" / ".incoming"

            async def staged():
                return incoming.is_dir() and any(path.stat().st_size >= len(data) for path in incoming.iterdir())

            assert await eventually(staged, timeout=30), "the upload was never staged"
            first.send_signal(signal.SIGKILL)
            first.wait(30)
            call.cancel()
        left = list(incoming.iterdir())
        assert left, "nothing was left behind by the killed server (the test proves nothing)"
        # The debris is "old": older than the sweep age of the next start.
        old = time.time() - 2 * HOUR
        for path in left:
            os.utime(path, (old, old))
        second = _serve(base_env, port, UPLOAD_SWEEP_AGE_SECONDS=str(HOUR))
        try:
            assert await _serving(port, second)

            async def swept():
                return list(incoming.iterdir()) == []

            assert await eventually(swept, timeout=30), list(incoming.iterdir())
        finally:
            second.terminate()
            second.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(30)
