"""Test helpers: an authenticated client over a real channel, factories, status assertions."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import subprocess
import time
import uuid

import grpc
import psycopg
from google.rpc import error_details_pb2, status_pb2

from pyronear.v1 import (
    access_service_pb2 as access_pb,
)
from pyronear.v1 import (
    access_service_pb2_grpc,
    detection_service_pb2_grpc,
    resources_pb2,
    setup_service_pb2_grpc,
)
from pyronear.v1 import (
    setup_service_pb2 as setup_pb,
)

USER_PASSWORD = "user-password-1"
ADMIN_LOGIN = "superadmin"
ADMIN_PASSWORD = "superadmin-password"
# Drawn per run: a secret written in the repository is refused by the server (config.py).
JWT_SECRET = secrets.token_hex(32)


def server_env(database_url: str, data_dir: str, **extra: str) -> dict[str, str]:
    """Environment of a test server: fast bcrypt, free loopback port, known superadmin."""
    return {
        "DATABASE_URL": database_url,
        "PYROGRPC_DATA_DIR": data_dir,
        "JWT_SECRET": JWT_SECRET,
        "BCRYPT_ROUNDS": "4",
        "GRPC_HOST": "127.0.0.1",
        "GRPC_PORT": "0",
        "METRICS_PORT": "0",  # off: tests that scrape pass a free port
        "HTTP_PORT": "0",  # no HTTP listener unless a test asks for one (tests/test_http.py)
        "SUPERADMIN_LOGIN": ADMIN_LOGIN,
        "SUPERADMIN_PASSWORD": ADMIN_PASSWORD,
        **extra,
    }


class _BoundStub:
    """A generated stub whose calls carry this client's metadata by default."""

    def __init__(self, stub, metadata):
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, name):
        method = getattr(self._stub, name)

        def call(*request, **kwargs):  # no request: a client stream written with call.write()
            kwargs.setdefault("metadata", self._metadata)
            return method(*request, **kwargs)

        return call


class Api:
    """Stubs of the three services on one channel, with an optional bearer token."""

    def __init__(self, channel: grpc.aio.Channel, token: str | None = None, *, port: int | None = None):
        self.channel = channel
        self.token = token
        self.port = port
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.access = _BoundStub(access_service_pb2_grpc.AccessServiceStub(channel), metadata)
        self.setup = _BoundStub(setup_service_pb2_grpc.SetupServiceStub(channel), metadata)
        self.detection = _BoundStub(detection_service_pb2_grpc.DetectionServiceStub(channel), metadata)

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(cls, port: int):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield cls(channel, port=port)

    def with_token(self, token: str | None) -> Api:
        return Api(self.channel, token, port=self.port)

    async def login(self, login: str, password: str) -> Api:
        response = await self.access.Login(access_pb.LoginRequest(login=login, password=password), metadata=())
        return self.with_token(response.access_token)

    # --- factories (call them on an admin client) --------------------------------------

    async def create_group(self, name: str | None = None) -> resources_pb2.Group:
        name = name or f"group-{uuid.uuid4().hex[:8]}"
        return (await self.access.CreateGroup(access_pb.CreateGroupRequest(name=name))).group

    async def create_user(
        self,
        group_id: int,
        *,
        scope: int = resources_pb2.SCOPE_USER,
        login: str | None = None,
        password: str = USER_PASSWORD,
    ) -> resources_pb2.User:
        login = login or f"user-{uuid.uuid4().hex[:8]}"
        request = access_pb.CreateUserRequest(login=login, password=password, scope=scope, group_id=group_id)
        return (await self.access.CreateUser(request)).user

    async def new_user(
        self, group_id: int | None = None, *, scope: int = resources_pb2.SCOPE_USER
    ) -> tuple[Api, resources_pb2.User]:
        """Create a user (in a new group unless given) and return a client logged in as it."""
        if group_id is None:
            group_id = (await self.create_group()).id
        user = await self.create_user(group_id, scope=scope)
        return await self.login(user.login, USER_PASSWORD), user

    async def new_device(self, owner_id: int, **fields) -> tuple[Api, resources_pb2.Device]:
        """Create a device owned by `owner_id` and return a client logged in as it."""
        login = f"cam-{uuid.uuid4().hex[:8]}"
        request = setup_pb.CreateDeviceRequest(login=login, password=USER_PASSWORD, owner_id=owner_id, **fields)
        device = (await self.setup.CreateDevice(request)).device
        return await self.login(login, USER_PASSWORD), device


@contextlib.asynccontextmanager
async def user_on_two_replicas(server_factory, access_recheck_seconds: float):
    """Two servers on one database. Yields the admin client of the first, a new user's row,
    and that user's client on the second, which re-reads accounts every `access_recheck_seconds`."""
    changer = await server_factory()
    replica = await server_factory(access_recheck_seconds=access_recheck_seconds)
    async with Api.connect(changer.port) as changer_api, Api.connect(replica.port) as replica_api:
        admin = await changer_api.login(ADMIN_LOGIN, ADMIN_PASSWORD)
        user_api, user = await admin.new_user()
        yield admin, user, replica_api.with_token(user_api.token)


async def expect_status(call, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    """Await a unary call (or drain a stream) and assert it fails with `code`."""
    try:
        result = call if not hasattr(call, "__aiter__") else None
        if result is not None:
            await result
        else:
            async for _ in call:
                pass
    except grpc.aio.AioRpcError as error:
        assert error.code() == code, f"expected {code.name}, got {error.code().name}: {error.details()}"
        return error
    raise AssertionError(f"expected {code.name}, the call succeeded")


async def eventually(check, *, timeout: float = 30.0, interval: float = 0.05):
    """Await `check()` until it returns a truthy value (returned) or `timeout` seconds pass
    (AssertionError). A condition polled with a generous deadline, never a fixed sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() >= deadline:
            raise AssertionError(f"condition not met within {timeout:g} s")
        await asyncio.sleep(interval)


def rich_status(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            return status_pb2.Status.FromString(value)
    return None


def violated_fields(error: grpc.aio.AioRpcError) -> set[str]:
    """Field names of the google.rpc.BadRequest detail of an INVALID_ARGUMENT error."""
    status = rich_status(error)
    fields: set[str] = set()
    for detail in status.details if status else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            fields.update(v.field for v in bad_request.field_violations)
    return fields


# --- media (issue 5): upload helpers and tiny files with real magic bytes -----------------

import hashlib  # noqa: E402  (appended section)
import io  # noqa: E402
import os  # noqa: E402
import zlib  # noqa: E402

from pyronear.v1 import detection_service_pb2 as detection_pb  # noqa: E402

TINY_IMAGE_SIZE = (64, 48)  # width, height of tiny_jpeg() and tiny_png()


def _jpeg_header() -> bytes:
    """A real 64x48 JPEG up to its start-of-scan segment: everything Pillow reads to open it."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", TINY_IMAGE_SIZE, (200, 80, 20)).save(buffer, "JPEG")
    data = buffer.getvalue()
    sos = data.index(b"\xff\xda")
    return data[: sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")]


_JPEG_HEADER = _jpeg_header()


def tiny_jpeg(payload_size: int = 256) -> bytes:
    """A JPEG whose header parses (64x48, TINY_IMAGE_SIZE), then `payload_size` random bytes of
    scan data (never decoded by the server), so each call differs."""
    return _JPEG_HEADER + os.urandom(payload_size) + b"\xff\xd9"


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def tiny_png(payload_size: int = 256) -> bytes:
    """A PNG whose header parses (signature, IHDR of 64x48), then an IDAT chunk of random bytes."""
    width, height = TINY_IMAGE_SIZE
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", os.urandom(payload_size))


def upload_requests(
    media_id: int,
    data: bytes,
    *,
    chunk_size: int = 64 * 1024,
    request_id: str = "",
    size_bytes: int | None = None,
    sha256: str | None = None,
):
    """The UploadMedia request stream for `data`: header, then chunks (size/sha256 overridable)."""
    header = detection_pb.UploadMediaHeader(
        media_id=media_id,
        size_bytes=len(data) if size_bytes is None else size_bytes,
        sha256=hashlib.sha256(data).hexdigest() if sha256 is None else sha256,
        request_id=request_id,
    )
    yield detection_pb.UploadMediaRequest(header=header)
    for start in range(0, len(data), chunk_size):
        yield detection_pb.UploadMediaRequest(chunk=data[start : start + chunk_size])


async def upload_media(
    device_api: Api,
    data: bytes,
    *,
    media_type: int = resources_pb2.MEDIA_TYPE_IMAGE,
    chunk_size: int = 64 * 1024,
    request_id: str = "",
) -> resources_pb2.Media:
    """CreateMyMedia + UploadMedia as the device; returns the uploaded media.

    `request_id` goes to both calls, so calling this twice with the same id is a retry:
    it returns the same media and creates nothing.
    """
    create = detection_pb.CreateMyMediaRequest(type=media_type, request_id=request_id)
    media = (await device_api.detection.CreateMyMedia(create)).media
    requests = upload_requests(media.id, data, chunk_size=chunk_size, request_id=request_id)
    return (await device_api.detection.UploadMedia(requests)).media


# --- faults (issue 8): a TCP proxy the test can cut ----------------------------------------


class TcpProxy:
    """A loopback TCP proxy the test can cut, standing in for a PostgreSQL (or an S3) that goes away.

    `cut()` closes the listener and every open connection; `start()` listens again on the
    same port. `target_port` may be changed between connections (a new upstream server).
    `response_delay` (seconds) holds back every piece of the upstream's answers (a slow
    server); `connections` counts the connections accepted.
    """

    def __init__(self, target_port: int, *, response_delay: float = 0.0):
        self.target_port = target_port
        self.response_delay = response_delay
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        self._server.close()
        await self._server.wait_closed()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _handle(self, reader, writer):
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})

        async def pump(source, sink, delay=0.0):
            with contextlib.suppress(Exception):
                while data := await source.read(65536):
                    if delay:
                        await asyncio.sleep(delay)
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer, self.response_delay))


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Block until a server subprocess accepts connections on `port` (polled); fails when it
    exits first or does not listen within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)


# Every other connection to one database, killed (a restarted server, seen from the pools).
TERMINATE_BACKENDS = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
)


def terminate_backends(admin_url: str, database_url: str) -> int:
    """Kill every connection to `database_url`'s database; how many there were."""
    with psycopg.connect(admin_url, autocommit=True) as killer:
        return len(killer.execute(TERMINATE_BACKENDS, (database_url.rsplit("/", 1)[1],)).fetchall())


async def call_outcomes(make_call, times: int) -> list[str]:
    """`await make_call()` `times` times in a row: "OK" or the status code's name for each."""
    outcomes = []
    for _ in range(times):
        try:
            await make_call()
            outcomes.append("OK")
        except grpc.aio.AioRpcError as error:
            outcomes.append(error.code().name)
    return outcomes
