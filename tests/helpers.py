"""Test helpers: an authenticated client over a real channel, factories, status assertions."""

from __future__ import annotations

import contextlib
import uuid

import grpc
from google.rpc import error_details_pb2, status_pb2
from pyronear.v1 import (
    access_service_pb2 as access_pb,
    access_service_pb2_grpc,
    detection_service_pb2_grpc,
    resources_pb2,
    setup_service_pb2 as setup_pb,
    setup_service_pb2_grpc,
)

USER_PASSWORD = "user-password-1"


class _BoundStub:
    """A generated stub whose calls carry this client's metadata by default."""

    def __init__(self, stub, metadata):
        self._stub = stub
        self._metadata = metadata

    def __getattr__(self, name):
        method = getattr(self._stub, name)

        def call(request, **kwargs):
            kwargs.setdefault("metadata", self._metadata)
            return method(request, **kwargs)

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
        self, group_id: int, *, scope: int = resources_pb2.SCOPE_USER, login: str | None = None,
        password: str = USER_PASSWORD,
    ) -> resources_pb2.User:
        login = login or f"user-{uuid.uuid4().hex[:8]}"
        request = access_pb.CreateUserRequest(login=login, password=password, scope=scope, group_id=group_id)
        return (await self.access.CreateUser(request)).user

    async def new_user(self, group_id: int | None = None, *, scope: int = resources_pb2.SCOPE_USER) -> tuple[Api, resources_pb2.User]:
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
