"""`AsyncPyroClient`: typed asyncio client over the generated stubs.

One channel (keepalive + retry of idempotent calls, see channel.py), one token keeper
(login and refresh, see tokens.py). Every RPC a user or a camera calls has a method
(plus the admin calls an operator needs daily: groups, users, devices); lists are async
pagers (`async for alert in client.list_alerts(created_after=...)`), which fetch the
next page as the loop reaches it. Failures raise the typed exceptions of errors.py.
Anything else goes through `call(client.setup.GetWebhook, request)`, which adds the token,
fills in an empty request_id and logs in again once on UNAUTHENTICATED.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

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
    detection_service_pb2 as detection_pb,
)
from pyronear.v1 import (
    setup_service_pb2 as setup_pb,
)

from .channel import BACKOFF, DEFAULT_SERVER, REQUEST_ID_CREATES, open_channel
from .errors import PyroError, typed_error
from .tokens import TokenKeeper
from .upload import MediaSource, Progress, load_source, send_alert_requests, upload_requests
from .watch import watch_alerts, watch_incidents

T = TypeVar("T")
M = TypeVar("M", bound=Message)
_CLIENT_TIMEOUT: Any = object()  # "use the client's timeout"

DEFAULT_TIMEOUT = 30.0
UPLOAD_ATTEMPTS = 5


def detection_box(
    x_min: float, y_min: float, x_max: float, y_max: float, confidence: float
) -> resources_pb2.DetectionBox:
    box = resources_pb2.NormalizedBox(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max)
    return resources_pb2.DetectionBox(box=box, confidence=confidence)


class ServerUnreachable(ConnectionError):
    """No connection to the server could be made in time."""


def _enum(enum_type: Any, prefix: str, value: int | str) -> Any:  # a generated enum ValueType
    if isinstance(value, int):
        return value
    return enum_type.Value(f"{prefix}_{value.upper()}")


def _timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    return stamp


def event_label(label: int | str) -> int:
    """An EventLabel value from its number or short name ("wildfire_smoke", "other-smoke", ...)."""
    if isinstance(label, str):
        label = label.replace("-", "_")
    return _enum(resources_pb2.EventLabel, "EVENT_LABEL", label)


def _given(**fields: Any) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


def _fill_request_id(request: Any) -> None:
    """Creates that take a request_id get a fresh one when empty, so retrying them is safe."""
    if type(request).__name__.removesuffix("Request") in REQUEST_ID_CREATES and not request.request_id:
        request.request_id = str(uuid.uuid4())


async def _invoke(rpc: Callable[..., Any], request: Any, metadata: Any, timeout: float | None) -> Any:
    """One call. A request stream is written message by message: when the server ends the
    call before the stream is sent (an upload refused after its header), grpc.aio's own
    stream consumer reports INTERNAL "Failed execute_batch" (grpc/grpc#36066), while a
    failed write() reports the server's status, which is what the caller must see."""
    if isinstance(request, Message):
        return await rpc(request, metadata=metadata, timeout=timeout)
    call = rpc(metadata=metadata, timeout=timeout)
    try:
        if hasattr(request, "__aiter__"):
            async for message in request:
                await call.write(message)
        else:
            for message in request:
                await call.write(message)
        await call.done_writing()
    except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
        pass  # the call has ended: awaiting it gives its status
    return await call


def _upload_may_restart(error: PyroError) -> bool:
    """Whether a client stream (UploadMedia, SendAlert: both carry a request_id, so a restart
    is safe) is worth sending again."""
    code = error.code()
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return error.reason == "TOO_MANY_UPLOADS"  # the server runs its most uploads: later
    # INTERNAL: when the server refuses a stream after its header while the client is still
    # sending, grpc's client may report INTERNAL instead of the server's status (a refusal
    # that would be final comes again, as itself, on a later attempt).
    return code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL)


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
        page_size: int = 100,
    ):
        self.server = server
        self.channel = open_channel(server, secure=secure, root_certificates=root_certificates)
        self.timeout = timeout
        self.upload_attempts = upload_attempts
        self.page_size = page_size
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
        except TimeoutError:
            raise ServerUnreachable(f"cannot reach the server at {self.server} (waited {timeout:g} s)") from None

    # --- calls ---------------------------------------------------------------------

    async def call(
        self, rpc: Callable[..., Awaitable[T]], request: Any, *, timeout: float | None = _CLIENT_TIMEOUT
    ) -> T:
        """Call a stub method with the bearer token; log in again once on UNAUTHENTICATED.

        `request` may be a zero-argument callable building it, for request streams that
        must be rebuilt when the call is repeated.
        """
        timeout = self.timeout if timeout is _CLIENT_TIMEOUT else timeout
        if isinstance(request, Message):
            _fill_request_id(request)
        build = request if callable(request) else (lambda: request)
        metadata = await self.tokens.metadata()
        try:
            return await _invoke(rpc, build(), metadata, timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise typed_error(error) from None
            if not await self.tokens.refresh_after_refusal(metadata[0][1].removeprefix("Bearer ")):
                raise typed_error(error) from None
        try:
            return await _invoke(rpc, build(), await self.tokens.metadata(), timeout)
        except grpc.aio.AioRpcError as error:
            raise typed_error(error) from None

    async def pages(self, rpc: Callable[..., Awaitable[Any]], request: M, field: str) -> AsyncIterator[Any]:
        """Every item of a List RPC, page after page (the next page is fetched when needed)."""
        request.page_size = request.page_size or self.page_size  # type: ignore[attr-defined]
        while True:
            page = await self.call(rpc, request)
            for item in getattr(page, field):
                yield item
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token  # type: ignore[attr-defined]

    async def login(self, login: str | None = None, password: str | None = None) -> access_pb.LoginResponse:
        """Log in now (with new credentials if given, kept for later refreshes)."""
        if login is not None or password is not None:
            self.tokens.set_credentials(login or "", password or "")
        return await self.tokens.login()

    async def health(self, service: str = "") -> int:
        """The server's health status for `service` ("" = the whole server); no token needed."""
        request = health_pb2.HealthCheckRequest(service=service)
        try:
            return (await self.health_stub.Check(request, timeout=self.timeout)).status
        except grpc.aio.AioRpcError as error:
            raise typed_error(error) from None

    # --- groups, users (users, admins) ----------------------------------------------

    async def get_my_user(self) -> resources_pb2.User:
        return (await self.call(self.access.GetMyUser, access_pb.GetMyUserRequest())).user

    async def update_my_user(self, *, login: str) -> resources_pb2.User:
        request = access_pb.UpdateMyUserRequest(
            user=resources_pb2.User(login=login), update_mask=field_mask_pb2.FieldMask(paths=["login"])
        )
        return (await self.call(self.access.UpdateMyUser, request)).user

    async def update_my_password(self, current_password: str, new_password: str) -> resources_pb2.User:
        """Change the caller's password; the client logs in with the new one from then on."""
        request = access_pb.UpdateMyPasswordRequest(current_password=current_password, new_password=new_password)
        user = (await self.call(self.access.UpdateMyPassword, request)).user
        if self.tokens.login_name:
            self.tokens.set_credentials(self.tokens.login_name, new_password)
        return user

    async def get_group(self, group_id: int) -> resources_pb2.Group:
        return (await self.call(self.access.GetGroup, access_pb.GetGroupRequest(group_id=group_id))).group

    def list_groups(self, *, page_size: int = 0) -> AsyncIterator[resources_pb2.Group]:
        return self.pages(self.access.ListGroups, access_pb.ListGroupsRequest(page_size=page_size), "groups")

    async def create_group(self, name: str) -> resources_pb2.Group:
        return (await self.call(self.access.CreateGroup, access_pb.CreateGroupRequest(name=name))).group

    def list_users(self, *, group_id: int | None = None, page_size: int = 0) -> AsyncIterator[resources_pb2.User]:
        request = access_pb.ListUsersRequest(page_size=page_size, **_given(group_id=group_id))
        return self.pages(self.access.ListUsers, request, "users")

    async def get_user(self, user_id: int) -> resources_pb2.User:
        return (await self.call(self.access.GetUser, access_pb.GetUserRequest(user_id=user_id))).user

    async def create_user(
        self, login: str, password: str, group_id: int, scope: int | str = "user"
    ) -> resources_pb2.User:
        request = access_pb.CreateUserRequest(
            login=login, password=password, group_id=group_id, scope=_enum(resources_pb2.Scope, "SCOPE", scope)
        )
        return (await self.call(self.access.CreateUser, request)).user

    # --- devices (users, admins) ------------------------------------------------------

    async def register_device(self, login: str, password: str, **fields: Any) -> resources_pb2.Device:
        """Register a camera owned by the caller; `fields`: specs, lat, lon, azimuth, ... (proto names)."""
        request = setup_pb.RegisterDeviceRequest(login=login, password=password, **_given(**fields))
        return (await self.call(self.setup.RegisterDevice, request)).device

    async def create_device(self, login: str, password: str, owner_id: int, **fields: Any) -> resources_pb2.Device:
        """Admins: create a camera owned by user `owner_id`; `fields` as in `register_device`."""
        request = setup_pb.CreateDeviceRequest(login=login, password=password, owner_id=owner_id, **_given(**fields))
        return (await self.call(self.setup.CreateDevice, request)).device

    async def get_device(self, device_id: int) -> resources_pb2.Device:
        return (await self.call(self.setup.GetDevice, setup_pb.GetDeviceRequest(device_id=device_id))).device

    def list_devices(self, *, group_id: int | None = None, page_size: int = 0) -> AsyncIterator[resources_pb2.Device]:
        request = setup_pb.ListDevicesRequest(page_size=page_size, **_given(group_id=group_id))
        return self.pages(self.setup.ListDevices, request, "devices")

    def list_my_devices(self, *, page_size: int = 0) -> AsyncIterator[resources_pb2.Device]:
        return self.pages(self.setup.ListMyDevices, setup_pb.ListMyDevicesRequest(page_size=page_size), "devices")

    async def update_device_location(self, device_id: int, **position: float | None) -> resources_pb2.Device:
        """`position`: lat, lon, elevation, azimuth, pitch (those given are changed)."""
        request = setup_pb.UpdateDeviceLocationRequest(device_id=device_id, **_given(**position))
        return (await self.call(self.setup.UpdateDeviceLocation, request)).device

    # --- poses and occlusion masks (users, admins) ---------------------------------------

    async def create_pose(
        self, device_id: int, azimuth: float, *, patrol_index: int | None = None
    ) -> resources_pb2.Pose:
        """A pose of a camera: the direction it faces (degrees [0, 360)), its patrol order if any."""
        request = setup_pb.CreatePoseRequest(device_id=device_id, azimuth=azimuth, **_given(patrol_index=patrol_index))
        return (await self.call(self.setup.CreatePose, request)).pose

    async def get_pose(self, pose_id: int) -> resources_pb2.Pose:
        return (await self.call(self.setup.GetPose, setup_pb.GetPoseRequest(pose_id=pose_id))).pose

    def list_poses(self, device_id: int, *, page_size: int = 0) -> AsyncIterator[resources_pb2.Pose]:
        request = setup_pb.ListPosesRequest(device_id=device_id, page_size=page_size)
        return self.pages(self.setup.ListPoses, request, "poses")

    async def update_pose(self, pose_id: int, **changes: Any) -> resources_pb2.Pose:
        """Change the given Pose fields (`azimuth`, `patrol_index`; None clears patrol_index)."""
        request = setup_pb.UpdatePoseRequest(
            pose_id=pose_id,
            pose=resources_pb2.Pose(**_given(**changes)),
            update_mask=field_mask_pb2.FieldMask(paths=list(changes)),
        )
        return (await self.call(self.setup.UpdatePose, request)).pose

    async def delete_pose(self, pose_id: int) -> None:
        """Delete a pose and its masks (not retried: a delete is never sent twice)."""
        await self.call(self.setup.DeletePose, setup_pb.DeletePoseRequest(pose_id=pose_id))

    async def create_occlusion_mask(
        self, pose_id: int, x_min: float, y_min: float, x_max: float, y_max: float
    ) -> resources_pb2.OcclusionMask:
        """Mask a region of a pose's image (normalized to [0, 1]): boxes wholly inside it are discarded."""
        box = resources_pb2.NormalizedBox(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max)
        request = setup_pb.CreateOcclusionMaskRequest(pose_id=pose_id, box=box)
        return (await self.call(self.setup.CreateOcclusionMask, request)).occlusion_mask

    def list_occlusion_masks(self, pose_id: int, *, page_size: int = 0) -> AsyncIterator[resources_pb2.OcclusionMask]:
        request = setup_pb.ListOcclusionMasksRequest(pose_id=pose_id, page_size=page_size)
        return self.pages(self.setup.ListOcclusionMasks, request, "occlusion_masks")

    async def delete_occlusion_mask(self, occlusion_mask_id: int) -> None:
        request = setup_pb.DeleteOcclusionMaskRequest(occlusion_mask_id=occlusion_mask_id)
        await self.call(self.setup.DeleteOcclusionMask, request)

    # --- sites and installations (users, admins) ------------------------------------

    async def create_no_alert_site(
        self, name: str, lat: float, lon: float, *, country: str = "", geocode: str = ""
    ) -> resources_pb2.Site:
        request = setup_pb.CreateNoAlertSiteRequest(name=name, lat=lat, lon=lon, country=country, geocode=geocode)
        return (await self.call(self.setup.CreateNoAlertSite, request)).site

    async def get_site(self, site_id: int) -> resources_pb2.Site:
        return (await self.call(self.setup.GetSite, setup_pb.GetSiteRequest(site_id=site_id))).site

    def list_sites(self, *, group_id: int | None = None, page_size: int = 0) -> AsyncIterator[resources_pb2.Site]:
        return self.pages(
            self.setup.ListSites, setup_pb.ListSitesRequest(page_size=page_size, **_given(group_id=group_id)), "sites"
        )

    async def update_site(self, site_id: int, **changes: Any) -> resources_pb2.Site:
        """Change the given Site fields (proto names, e.g. name=..., lat=...); others stay."""
        request = setup_pb.UpdateSiteRequest(
            site_id=site_id,
            site=resources_pb2.Site(**changes),
            update_mask=field_mask_pb2.FieldMask(paths=list(changes)),
        )
        return (await self.call(self.setup.UpdateSite, request)).site

    def list_site_devices(self, site_id: int, *, page_size: int = 0) -> AsyncIterator[int]:
        """Ids of the devices installed at a site."""
        request = setup_pb.ListSiteDevicesRequest(site_id=site_id, page_size=page_size)
        return self.pages(self.setup.ListSiteDevices, request, "device_ids")

    async def get_installation(self, installation_id: int) -> resources_pb2.Installation:
        request = setup_pb.GetInstallationRequest(installation_id=installation_id)
        return (await self.call(self.setup.GetInstallation, request)).installation

    def list_installations(
        self, *, group_id: int | None = None, page_size: int = 0
    ) -> AsyncIterator[resources_pb2.Installation]:
        request = setup_pb.ListInstallationsRequest(page_size=page_size, **_given(group_id=group_id))
        return self.pages(self.setup.ListInstallations, request, "installations")

    async def update_installation(self, installation_id: int, **changes: Any) -> resources_pb2.Installation:
        """Change the given Installation fields (proto names); others stay."""
        fields: dict[str, Any] = {k: _timestamp(v) if isinstance(v, datetime) else v for k, v in changes.items()}
        request = setup_pb.UpdateInstallationRequest(
            installation_id=installation_id,
            installation=resources_pb2.Installation(**fields),
            update_mask=field_mask_pb2.FieldMask(paths=list(changes)),
        )
        return (await self.call(self.setup.UpdateInstallation, request)).installation

    # --- events (users, admins; cameras create and update) ----------------------------

    async def get_event(self, event_id: int) -> resources_pb2.Event:
        return (await self.call(self.detection.GetEvent, detection_pb.GetEventRequest(event_id=event_id))).event

    def list_events(
        self,
        *,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        group_id: int | None = None,
        label: int | str | None = None,
        page_size: int = 0,
    ) -> AsyncIterator[resources_pb2.Event]:
        """Events newest first, optionally within [created_after, created_before), of one group
        (admins) and with one label ("wildfire_smoke", "other_smoke", "other"; None: any)."""
        request = detection_pb.ListEventsRequest(
            page_size=page_size,
            **_given(
                created_after=_timestamp(created_after), created_before=_timestamp(created_before), group_id=group_id
            ),
        )
        if label is not None:
            request.label = event_label(label)  # type: ignore[assignment]
        return self.pages(self.detection.ListEvents, request, "events")

    def list_past_events(self, *, page_size: int = 0) -> AsyncIterator[resources_pb2.Event]:
        return self.pages(
            self.detection.ListPastEvents, detection_pb.ListPastEventsRequest(page_size=page_size), "events"
        )

    def list_unacknowledged_events(self, *, page_size: int = 0) -> AsyncIterator[resources_pb2.Event]:
        request = detection_pb.ListUnacknowledgedEventsRequest(page_size=page_size)
        return self.pages(self.detection.ListUnacknowledgedEvents, request, "events")

    def list_event_alerts(self, event_id: int, *, page_size: int = 0) -> AsyncIterator[resources_pb2.Alert]:
        request = detection_pb.ListEventAlertsRequest(event_id=event_id, page_size=page_size)
        return self.pages(self.detection.ListEventAlerts, request, "alerts")

    # --- incidents (docs/incidents.md) ------------------------------------------------------

    async def get_incident(self, incident_id: int) -> resources_pb2.Incident:
        request = detection_pb.GetIncidentRequest(incident_id=incident_id)
        return (await self.call(self.detection.GetIncident, request)).incident

    def list_incidents(
        self,
        *,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        open_only: bool = False,
        group_id: int | None = None,
        page_size: int = 0,
    ) -> AsyncIterator[resources_pb2.Incident]:
        """Incidents newest first: still seen at or after start_time, started before end_time,
        only open ones, of one group (admins)."""
        request = detection_pb.ListIncidentsRequest(
            page_size=page_size,
            open_only=open_only,
            **_given(start_time=_timestamp(start_time), end_time=_timestamp(end_time), group_id=group_id),
        )
        return self.pages(self.detection.ListIncidents, request, "incidents")

    def list_incident_events(self, incident_id: int, *, page_size: int = 0) -> AsyncIterator[resources_pb2.Event]:
        request = detection_pb.ListIncidentEventsRequest(incident_id=incident_id, page_size=page_size)
        return self.pages(self.detection.ListIncidentEvents, request, "events")

    async def detach_incident_event(
        self, incident_id: int, event_id: int
    ) -> tuple[resources_pb2.Incident, resources_pb2.Incident]:
        """Take an event out of an incident: (the incident without it, the event's own new incident)."""
        request = detection_pb.DetachIncidentEventRequest(incident_id=incident_id, event_id=event_id)
        response = await self.call(self.detection.DetachIncidentEvent, request)
        return response.incident, response.event_incident

    async def acknowledge_event(self, event_id: int) -> resources_pb2.Event:
        request = detection_pb.AcknowledgeEventRequest(event_id=event_id)
        return (await self.call(self.detection.AcknowledgeEvent, request)).event

    async def label_event(self, event_id: int, label: int | str) -> resources_pb2.Event:
        """Say what the event is ("wildfire_smoke", "other_smoke", "other" or an EventLabel
        value); labelling acknowledges it, labelling again replaces the label."""
        request = detection_pb.LabelEventRequest(event_id=event_id)
        request.label = event_label(label)  # type: ignore[assignment]
        return (await self.call(self.detection.LabelEvent, request)).event

    def list_unlabeled_events(self, *, page_size: int = 0) -> AsyncIterator[resources_pb2.Event]:
        """The triage queue: events nobody labelled yet, newest first."""
        request = detection_pb.ListUnlabeledEventsRequest(page_size=page_size)
        return self.pages(self.detection.ListUnlabeledEvents, request, "events")

    async def create_event(
        self,
        *,
        lat: float,
        lon: float,
        start_time: datetime | None = None,
        group_id: int = 0,
        event_type: int | str = "wildfire",
        request_id: str = "",
    ) -> resources_pb2.Event:
        """Cameras and admins; an empty request_id gets a fresh one (safe to retry)."""
        request = detection_pb.CreateEventRequest(group_id=group_id, lat=lat, lon=lon, request_id=request_id)
        request.type = _enum(resources_pb2.EventType, "EVENT_TYPE", event_type)
        if start_time is not None:
            request.start_time.FromDatetime(start_time if start_time.tzinfo else start_time.replace(tzinfo=UTC))
        return (await self.call(self.detection.CreateEvent, request)).event

    async def update_event(self, event_id: int, **changes: Any) -> resources_pb2.Event:
        """Change the given Event fields (proto names; datetimes for times); others stay."""
        fields: dict[str, Any] = {k: _timestamp(v) if isinstance(v, datetime) else v for k, v in changes.items()}
        event = resources_pb2.Event(**fields)
        request = detection_pb.UpdateEventRequest(
            event_id=event_id, event=event, update_mask=field_mask_pb2.FieldMask(paths=list(changes))
        )
        return (await self.call(self.detection.UpdateEvent, request)).event

    # --- media (users, admins) --------------------------------------------------------

    async def get_media(self, media_id: int) -> resources_pb2.Media:
        return (await self.call(self.detection.GetMedia, detection_pb.GetMediaRequest(media_id=media_id))).media

    def list_media(
        self,
        *,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        group_id: int | None = None,
        page_size: int = 0,
    ) -> AsyncIterator[resources_pb2.Media]:
        request = detection_pb.ListMediaRequest(
            page_size=page_size,
            **_given(
                created_after=_timestamp(created_after), created_before=_timestamp(created_before), group_id=group_id
            ),
        )
        return self.pages(self.detection.ListMedia, request, "media")

    async def get_media_url(self, media_id: int) -> detection_pb.GetMediaUrlResponse:
        """A presigned (or local) URL of the media's content and its expiry time."""
        return await self.call(self.detection.GetMediaUrl, detection_pb.GetMediaUrlRequest(media_id=media_id))

    async def download_media(self, media_id: int, path: str | os.PathLike[str]) -> resources_pb2.Media:
        """Stream a media's content into `path` (written to a temporary file next to it, then
        renamed: `path` never holds a partial download). Returns the media's metadata."""
        target = Path(path)
        partial = target.with_name(f".{target.name}.partial")
        media: resources_pb2.Media | None = None

        async def stream() -> resources_pb2.Media | None:
            found = None
            call = self.detection.DownloadMedia(
                detection_pb.DownloadMediaRequest(media_id=media_id),
                metadata=await self.tokens.metadata(),
                timeout=None,
            )
            with partial.open("wb") as handle:
                async for message in call:
                    if message.HasField("media"):
                        found = message.media
                    if message.chunk:
                        handle.write(message.chunk)
            return found

        try:
            try:
                media = await stream()
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAUTHENTICATED or not await self.tokens.refresh_after_refusal(
                    self.tokens.token
                ):
                    raise typed_error(error) from None
                try:
                    media = await stream()
                except grpc.aio.AioRpcError as again:
                    raise typed_error(again) from None
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return media if media is not None else await self.get_media(media_id)

    # --- alerts (users, admins) -------------------------------------------------------

    async def get_alert(self, alert_id: int) -> resources_pb2.Alert:
        return (await self.call(self.detection.GetAlert, detection_pb.GetAlertRequest(alert_id=alert_id))).alert

    def list_alerts(
        self,
        *,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        group_id: int | None = None,
        page_size: int = 0,
    ) -> AsyncIterator[resources_pb2.Alert]:
        """Alerts newest first, optionally within [created_after, created_before) and of one group (admins)."""
        request = detection_pb.ListAlertsRequest(
            page_size=page_size,
            **_given(
                created_after=_timestamp(created_after), created_before=_timestamp(created_before), group_id=group_id
            ),
        )
        return self.pages(self.detection.ListAlerts, request, "alerts")

    def list_ongoing_alerts(self, *, page_size: int = 0) -> AsyncIterator[resources_pb2.Alert]:
        request = detection_pb.ListOngoingAlertsRequest(page_size=page_size)
        return self.pages(self.detection.ListOngoingAlerts, request, "alerts")

    # --- camera calls (devices) -----------------------------------------------------

    async def heartbeat(self) -> resources_pb2.Device:
        return (await self.call(self.setup.Heartbeat, setup_pb.HeartbeatRequest())).device

    async def get_my_device(self) -> resources_pb2.Device:
        return (await self.call(self.setup.GetMyDevice, setup_pb.GetMyDeviceRequest())).device

    async def update_my_location(self, **position: float | None) -> resources_pb2.Device:
        """`position`: lat, lon, elevation, azimuth, pitch (those given are changed)."""
        request = setup_pb.UpdateMyLocationRequest(**_given(**position))
        return (await self.call(self.setup.UpdateMyLocation, request)).device

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
        response = await self._stream_restarted_on_unavailable(
            self.detection.UploadMedia, lambda: upload_requests(source, media_id, request_id, progress)
        )
        return response.media

    async def _stream_restarted_on_unavailable(self, method: Any, requests: Callable[[], Any]) -> Any:
        """Send a client stream (a fresh `requests()` each attempt), restarted with the
        client's backoff on UNAVAILABLE and while the server runs its most uploads at once
        (RESOURCE_EXHAUSTED, reason TOO_MANY_UPLOADS); safe because every such stream carries
        a request_id."""
        for attempt in range(1, self.upload_attempts + 1):
            try:
                # No deadline: a large picture on a slow link may take long; keepalive
                # pings detect a dead link instead.
                return await self.call(method, requests, timeout=None)
            except PyroError as error:
                if not _upload_may_restart(error) or attempt == self.upload_attempts:
                    raise
            await asyncio.sleep(BACKOFF.delay(attempt))
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
        fields: dict[str, Any] = {
            "media_id": media_id,
            "azimuth": azimuth,
            "lat": lat,
            "lon": lon,
            "event_id": event_id,
        }
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
        `last_media`. Only with the same arguments: another picture, boxes or position under
        that `request_id` is refused (ALREADY_EXISTS, reason REQUEST_ID_REUSED).
        """
        source = await load_source(image)  # before any RPC: a missing file creates nothing
        alert = detection_pb.CreateMyAlertRequest(
            localization=localization,
            request_id=request_id or str(uuid.uuid4()),
            boxes=[detection_box(*values) for values in boxes],
            **{
                k: v
                for k, v in dict[str, Any](
                    {
                        "azimuth": azimuth,
                        "lat": lat,
                        "lon": lon,
                        "event_id": event_id,
                        "pose_id": pose_id,
                    }
                ).items()
                if v is not None
            },
        )
        if capture_time is not None:
            alert.capture_time.FromDatetime(capture_time)
        response = await self._stream_restarted_on_unavailable(
            self.detection.SendAlert, lambda: send_alert_requests(source, alert, progress)
        )
        self.last_media = response.media
        return response.alert

    async def list_my_poses(self) -> list[resources_pb2.Pose]:
        """The camera's poses, patrol order first (not paged)."""
        return list((await self.call(self.setup.ListMyPoses, setup_pb.ListMyPosesRequest())).poses)

    async def update_my_pose_image(self, pose_id: int, media_id: int) -> resources_pb2.Pose:
        """Make an uploaded media of the camera the latest image of one of its poses."""
        request = setup_pb.UpdateMyPoseImageRequest(pose_id=pose_id, media_id=media_id)
        return (await self.call(self.setup.UpdateMyPoseImage, request)).pose

    async def list_my_occlusion_masks(self, pose_id: int | None = None) -> list[resources_pb2.OcclusionMask]:
        """The masks of the camera's poses (of one pose when given); not paged."""
        request = setup_pb.ListMyOcclusionMasksRequest(**_given(pose_id=pose_id))
        return list((await self.call(self.setup.ListMyOcclusionMasks, request)).occlusion_masks)

    async def fetch_masks(self) -> dict[int, list[resources_pb2.NormalizedBox]]:
        """The occlusion masks of the camera's poses, {pose_id: [box, ...]} (every pose has a
        key), kept in `masks`: a camera may skip detections the server would discard anyway."""
        poses = await self.list_my_poses()
        masks: dict[int, list[resources_pb2.NormalizedBox]] = {pose.id: [] for pose in poses}
        for mask in await self.list_my_occlusion_masks():
            masks.setdefault(mask.pose_id, []).append(mask.box)
        self.masks = masks
        return masks

    # --- live alerts (users, admins) -----------------------------------------------

    def watch_alerts(
        self, after_alert_id: int | None = None, **options: Any
    ) -> AsyncGenerator[resources_pb2.Alert, None]:
        """Alerts as they are created, resuming by itself after disconnects (see watch.py).

        `after_alert_id`: None for new alerts only, 0 for every visible alert first.
        """
        return watch_alerts(self, after_alert_id=after_alert_id, **options)

    def watch_incidents(
        self, after_change_id: int | None = None, **options: Any
    ) -> AsyncGenerator[detection_pb.IncidentChange, None]:
        """Incident changes as they are committed, resuming by itself after disconnects (see watch.py).

        `after_change_id`: None for new changes only, 0 for every stored change first.
        """
        return watch_incidents(self, after_change_id=after_change_id, **options)
