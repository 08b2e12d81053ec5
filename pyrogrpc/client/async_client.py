"""`AsyncPyroClient`: typed asyncio client over the generated stubs.

One channel (keepalive + retry service config, see channel.py), one token keeper
(login and refresh, see tokens.py). Camera calls (`heartbeat`, `send_alert`) and the
few admin/user calls the CLI needs are methods; anything else goes through
`call(client.setup.GetDevice, request)`, which adds the token and re-logs in once on
UNAUTHENTICATED.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pyronear.v1 import (
    access_service_pb2 as access_pb,
    access_service_pb2_grpc,
    detection_service_pb2 as detection_pb,
    detection_service_pb2_grpc,
    resources_pb2,
    setup_service_pb2 as setup_pb,
    setup_service_pb2_grpc,
)

from .channel import DEFAULT_SERVER, open_channel
from .tokens import TokenKeeper
from .upload import MediaSource, Progress, load_source, send_alert_requests, upload_requests
from .watch import watch_alerts

T = TypeVar("T")
_CLIENT_TIMEOUT: Any = object()  # "use the client's timeout"

DEFAULT_TIMEOUT = 30.0
UPLOAD_ATTEMPTS = 5


def detection_box(x_min: float, y_min: float, x_max: float, y_max: float, confidence: float) -> resources_pb2.DetectionBox:
    box = resources_pb2.NormalizedBox(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max)
    return resources_pb2.DetectionBox(box=box, confidence=confidence)


class ServerUnreachable(ConnectionError):
    """No connection to the server could be made in time."""


def _enum(enum_type, prefix: str, value: int | str) -> int:
    if isinstance(value, int):
        return value
    return enum_type.Value(f"{prefix}_{value.upper()}")


class AsyncPyroClient:
    """Client of one pyrogrpc server. Use `async with AsyncPyroClient(...) as client:`.

    Credentials are optional until a call needs a token; with them the client logs in
    on first use and again shortly before the token expires.
    """

    def __init__(
        self,
        server: str = DEFAULT_SERVER,
        *,
        login: str | None = None,
        password: str | None = None,
        token: str | None = None,
        secure: bool = False,
        root_certificates: bytes | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        upload_attempts: int = UPLOAD_ATTEMPTS,
    ):
        self.server = server
        self.channel = open_channel(server, secure=secure, root_certificates=root_certificates)
        self.timeout = timeout
        self.upload_attempts = upload_attempts
        self.last_media: resources_pb2.Media | None = None  # the picture of the last send_alert
        self.masks: dict[int, list[resources_pb2.NormalizedBox]] = {}  # see fetch_masks
        self.tokens = TokenKeeper(self.channel, login, password, token=token, timeout=timeout)
        self.access = access_service_pb2_grpc.AccessServiceStub(self.channel)
        self.setup = setup_service_pb2_grpc.SetupServiceStub(self.channel)
        self.detection = detection_service_pb2_grpc.DetectionServiceStub(self.channel)
        self.health_stub = health_pb2_grpc.HealthStub(self.channel)

    async def __aenter__(self) -> AsyncPyroClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close()

    async def wait_ready(self, timeout: float) -> None:
        """Connect now; `ServerUnreachable` if the server cannot be reached within `timeout` s."""
        try:
            await asyncio.wait_for(self.channel.channel_ready(), timeout)
        except asyncio.TimeoutError:
            raise ServerUnreachable(f"cannot reach the server at {self.server} (waited {timeout:g} s)") from None

    # --- calls ---------------------------------------------------------------------

    async def call(self, rpc: Callable[..., Awaitable[T]], request: Any, *, timeout: float | None = _CLIENT_TIMEOUT) -> T:
        """Call a stub method with the bearer token; log in again once on UNAUTHENTICATED.

        `request` may be a zero-argument callable building it, for request streams that
        must be rebuilt when the call is repeated.
        """
        timeout = self.timeout if timeout is _CLIENT_TIMEOUT else timeout
        build = request if callable(request) else (lambda: request)
        metadata = await self.tokens.metadata()
        try:
            return await rpc(build(), metadata=metadata, timeout=timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise
            if not await self.tokens.refresh_after_refusal(metadata[0][1].removeprefix("Bearer ")):
                raise
        return await rpc(build(), metadata=await self.tokens.metadata(), timeout=timeout)

    async def login(self, login: str | None = None, password: str | None = None) -> access_pb.LoginResponse:
        """Log in now (with new credentials if given, kept for later refreshes)."""
        if login is not None or password is not None:
            self.tokens.set_credentials(login or "", password or "")
        return await self.tokens.login()

    async def health(self, service: str = "") -> int:
        """The server's health status for `service` ("" = the whole server); no token needed."""
        request = health_pb2.HealthCheckRequest(service=service)
        return (await self.health_stub.Check(request, timeout=self.timeout)).status

    # --- accounts and devices (users, admins) --------------------------------------

    async def get_my_user(self) -> resources_pb2.User:
        return (await self.call(self.access.GetMyUser, access_pb.GetMyUserRequest())).user

    async def create_group(self, name: str) -> resources_pb2.Group:
        return (await self.call(self.access.CreateGroup, access_pb.CreateGroupRequest(name=name))).group

    async def list_groups(self) -> AsyncIterator[resources_pb2.Group]:
        token = ""
        while True:
            page = await self.call(self.access.ListGroups, access_pb.ListGroupsRequest(page_size=1000, page_token=token))
            for group in page.groups:
                yield group
            if not (token := page.next_page_token):
                return

    async def create_user(self, login: str, password: str, group_id: int, scope: int | str = "user") -> resources_pb2.User:
        request = access_pb.CreateUserRequest(
            login=login, password=password, group_id=group_id, scope=_enum(resources_pb2.Scope, "SCOPE", scope)
        )
        return (await self.call(self.access.CreateUser, request)).user

    async def register_device(self, login: str, password: str, **fields: Any) -> resources_pb2.Device:
        """Register a camera owned by the caller; `fields`: specs, lat, lon, azimuth, ... (proto names)."""
        fields = {name: value for name, value in fields.items() if value is not None}
        request = setup_pb.RegisterDeviceRequest(login=login, password=password, **fields)
        return (await self.call(self.setup.RegisterDevice, request)).device

    # --- camera calls (devices) -----------------------------------------------------

    async def heartbeat(self) -> resources_pb2.Device:
        return (await self.call(self.setup.Heartbeat, setup_pb.HeartbeatRequest())).device

    async def create_my_media(self, media_type: int | str = "image", request_id: str = "") -> resources_pb2.Media:
        request = detection_pb.CreateMyMediaRequest(
            type=_enum(resources_pb2.MediaType, "MEDIA_TYPE", media_type), request_id=request_id
        )
        return (await self.call(self.detection.CreateMyMedia, request)).media

    async def upload_media(
        self,
        media_id: int,
        content: str | os.PathLike | bytes | MediaSource,
        *,
        request_id: str | None = None,
        progress: Progress | None = None,
    ) -> resources_pb2.Media:
        """Stream `content` (a path or bytes) into a media; restarted on UNAVAILABLE.

        Always sent with a request_id (a new UUID unless given), so a restart after a
        lost response returns the first result instead of FAILED_PRECONDITION.
        """
        source = await load_source(content)
        request_id = request_id or str(uuid.uuid4())
        delay = 0.5
        for attempt in range(1, self.upload_attempts + 1):
            try:
                # No deadline: a large upload on a slow link may take long; keepalive
                # pings detect a dead link instead.
                response = await self.call(
                    self.detection.UploadMedia,
                    lambda: upload_requests(source, media_id, request_id, progress),
                    timeout=None,
                )
                return response.media
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == self.upload_attempts:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")

    async def create_my_alert(
        self,
        media_id: int | None = None,
        *,
        azimuth: float | None = None,
        lat: float | None = None,
        lon: float | None = None,
        localization: str = "",
        event_id: int | None = None,
        request_id: str = "",
    ) -> resources_pb2.Alert:
        fields = {"media_id": media_id, "azimuth": azimuth, "lat": lat, "lon": lon, "event_id": event_id}
        request = detection_pb.CreateMyAlertRequest(
            localization=localization, request_id=request_id, **{k: v for k, v in fields.items() if v is not None}
        )
        return (await self.call(self.detection.CreateMyAlert, request)).alert

    async def send_alert(
        self,
        image: str | os.PathLike | bytes,
        azimuth: float | None = None,
        lat: float | None = None,
        lon: float | None = None,
        localization: str = "",
        request_id: str | None = None,
        *,
        event_id: int | None = None,
        boxes: Sequence[tuple[float, float, float, float, float]] = (),
        pose_id: int | None = None,
        capture_time: datetime | None = None,
        progress: Progress | None = None,
    ) -> resources_pb2.Alert:
        """The whole camera workflow in one SendAlert call: the alert and its picture.

        `boxes`: (x_min, y_min, x_max, y_max, confidence) normalized to the image;
        `capture_time`: when the frame was taken (timezone-aware; default now). Always
        sent with a request_id (a new UUID unless given) and restarted on UNAVAILABLE, so a
        retry after a lost answer returns the same alert; calling `send_alert` again with
        the same `request_id` does the same. The stored picture's media is kept in
        `last_media`.
        """
        source = await load_source(image)  # before any RPC: a missing file creates nothing
        alert = detection_pb.CreateMyAlertRequest(
            localization=localization,
            request_id=request_id or str(uuid.uuid4()),
            boxes=[detection_box(*values) for values in boxes],
            **{k: v for k, v in {"azimuth": azimuth, "lat": lat, "lon": lon, "event_id": event_id, "pose_id": pose_id}.items()
               if v is not None},
        )
        if capture_time is not None:
            alert.capture_time.FromDatetime(capture_time)
        delay = 0.5
        for attempt in range(1, self.upload_attempts + 1):
            try:
                # No deadline: a large picture on a slow link may take long; keepalive pings
                # detect a dead link instead.
                response = await self.call(
                    self.detection.SendAlert, lambda: send_alert_requests(source, alert, progress), timeout=None
                )
                self.last_media = response.media
                return response.alert
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE or attempt == self.upload_attempts:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")

    async def list_my_poses(self) -> list[resources_pb2.Pose]:
        return list((await self.call(self.setup.ListMyPoses, setup_pb.ListMyPosesRequest())).poses)

    async def fetch_masks(self) -> dict[int, list[resources_pb2.NormalizedBox]]:
        """The occlusion masks of the camera's poses, {pose_id: [box, ...]} (every pose has a
        key), kept in `masks`: a camera may skip detections the server would discard anyway."""
        poses = await self.list_my_poses()
        response = await self.call(self.setup.ListMyOcclusionMasks, setup_pb.ListMyOcclusionMasksRequest())
        masks: dict[int, list[resources_pb2.NormalizedBox]] = {pose.id: [] for pose in poses}
        for mask in response.occlusion_masks:
            masks.setdefault(mask.pose_id, []).append(mask.box)
        self.masks = masks
        return masks

    # --- alerts (users, admins) -----------------------------------------------------

    def watch_alerts(self, after_alert_id: int | None = None, **options: Any) -> AsyncIterator[resources_pb2.Alert]:
        """Alerts as they are created, resuming by itself after disconnects (see watch.py).

        `after_alert_id`: None for new alerts only, 0 for every visible alert first.
        """
        return watch_alerts(self, after_alert_id=after_alert_id, **options)
