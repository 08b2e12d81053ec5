"""Authorization matrix: every RPC of the three services x every kind of caller.

The expected outcome of each cell is written out below (MATRIX), independently of
`pyrogrpc/api/scopes.py`, so a wrong scope row or a missing group check fails here.
The RPC list comes from the proto descriptors: an RPC without a MATRIX row (or a
request builder) fails the test. One server and one fixture world are built per
module and database; each test is one RPC iterating the identities.

The world (`World`): group A ("home") with a user owning a device, an uploaded media,
an event with an alert, a site, an installation, a recipient, a webhook and a
notification; group B with a user; an admin user. Destructive RPCs target dedicated
"victim" rows, so the order of the tests does not matter.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import jwt
import pytest
import pytest_asyncio
from google.protobuf import field_mask_pb2, timestamp_pb2

from pyrogrpc.config import Settings
from pyrogrpc.server import PyroServer
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import resources_pb2 as res
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, DATABASES, JWT_SECRET, _truncate_postgres, server_env
from tests.fixtures_s3 import moto_s3_endpoint  # noqa: F401  (shared fixture)
from tests.helpers import USER_PASSWORD, Api, tiny_jpeg, upload_requests
from tests.test_notify import FakeServer

Code = grpc.StatusCode

SERVICES = [
    access_pb.DESCRIPTOR.services_by_name["AccessService"],
    setup_pb.DESCRIPTOR.services_by_name["SetupService"],
    detection_pb.DESCRIPTOR.services_by_name["DetectionService"],
]
ALL_METHODS = {f"{service.name}.{method.name}": method for service in SERVICES for method in service.methods}

# --- the expectations -------------------------------------------------------------------
#
# Columns: the caller's identity. "device" is a camera of the home group, "user" the
# user of the home group who owns it, "other" a user of another group, "admin" an admin.
# Cells: ok (the call succeeds), denied (PERMISSION_DENIED), hidden (NOT_FOUND: the row
# belongs to another group and its existence is not leaked).
# Requests always target rows of the home group (see BUILDERS).
# Callers without a valid token (none, malformed, expired, signed with another key) get
# UNAUTHENTICATED on every RPC except the public ones (PUBLIC_RPCS).

MATRIX_TEXT = """
# rpc                                        device  user    other   admin
AccessService.Login                          ok      ok      ok      ok
AccessService.CreateGroup                    denied  denied  denied  ok
AccessService.UpdateGroup                    denied  denied  denied  ok
AccessService.DeleteGroup                    denied  denied  denied  ok
AccessService.GetGroup                       ok      ok      hidden  ok
AccessService.ListGroups                     ok      ok      ok      ok
AccessService.GetAccess                      denied  denied  denied  ok
AccessService.ListAccesses                   denied  denied  denied  ok
AccessService.CreateUser                     denied  denied  denied  ok
AccessService.GetUser                        denied  denied  denied  ok
AccessService.UpdateUser                     denied  denied  denied  ok
AccessService.UpdateUserPassword             denied  denied  denied  ok
AccessService.DeleteUser                     denied  denied  denied  ok
AccessService.ListUsers                      denied  ok      ok      ok
AccessService.GetMyUser                      denied  ok      ok      ok
AccessService.UpdateMyUser                   denied  ok      ok      ok
AccessService.UpdateMyPassword               denied  ok      ok      ok

SetupService.CreateDevice                    denied  denied  denied  ok
SetupService.RegisterDevice                  denied  ok      ok      ok
SetupService.GetDevice                       denied  ok      hidden  ok
SetupService.ListDevices                     denied  ok      ok      ok
SetupService.ListMyDevices                   denied  ok      ok      ok
SetupService.GetMyDevice                     ok      denied  denied  denied
SetupService.UpdateDevice                    denied  denied  denied  ok
SetupService.DeleteDevice                    denied  denied  denied  ok
SetupService.UpdateDeviceSoftwareHash        denied  denied  denied  ok
SetupService.UpdateDevicePassword            denied  denied  denied  ok
SetupService.UpdateDeviceLocation            denied  ok      hidden  ok
SetupService.UpdateMyLocation                ok      denied  denied  denied
SetupService.Heartbeat                       ok      denied  denied  denied
SetupService.CreateSite                      denied  denied  denied  ok
SetupService.CreateNoAlertSite               denied  ok      ok      ok
SetupService.GetSite                         denied  ok      hidden  ok
SetupService.ListSites                       denied  ok      ok      ok
SetupService.UpdateSite                      denied  ok      hidden  ok
SetupService.DeleteSite                      denied  denied  denied  ok
SetupService.CreateInstallation              denied  denied  denied  ok
SetupService.GetInstallation                 denied  ok      hidden  ok
SetupService.ListInstallations               denied  ok      ok      ok
SetupService.UpdateInstallation              denied  ok      hidden  ok
SetupService.DeleteInstallation              denied  denied  denied  ok
SetupService.ListSiteDevices                 denied  ok      hidden  ok
SetupService.CreateWebhook                   denied  denied  denied  ok
SetupService.GetWebhook                      denied  denied  denied  ok
SetupService.ListWebhooks                    denied  denied  denied  ok
SetupService.UpdateWebhook                   denied  denied  denied  ok
SetupService.DeleteWebhook                   denied  denied  denied  ok
SetupService.CreateRecipient                 denied  denied  denied  ok
SetupService.GetRecipient                    denied  denied  denied  ok
SetupService.ListRecipients                  denied  denied  denied  ok
SetupService.ListGroupRecipients             denied  denied  denied  ok
SetupService.UpdateRecipient                 denied  denied  denied  ok
SetupService.DeleteRecipient                 denied  denied  denied  ok
SetupService.CreatePose                      denied  ok      hidden  ok
SetupService.GetPose                         denied  ok      hidden  ok
SetupService.ListPoses                       denied  ok      hidden  ok
SetupService.UpdatePose                      denied  ok      hidden  ok
SetupService.DeletePose                      denied  ok      hidden  ok
SetupService.ListMyPoses                     ok      denied  denied  denied
SetupService.UpdateMyPoseImage               ok      denied  denied  denied
SetupService.CreateOcclusionMask             denied  ok      hidden  ok
SetupService.ListOcclusionMasks              denied  ok      hidden  ok
SetupService.DeleteOcclusionMask             denied  ok      hidden  ok
SetupService.ListMyOcclusionMasks            ok      denied  denied  denied

DetectionService.CreateEvent                 ok      denied  denied  ok
DetectionService.GetEvent                    denied  ok      hidden  ok
DetectionService.ListEvents                  denied  ok      ok      ok
DetectionService.ListPastEvents              denied  ok      ok      ok
DetectionService.ListUnacknowledgedEvents    denied  ok      ok      ok
DetectionService.ListEventAlerts             denied  ok      hidden  ok
DetectionService.UpdateEvent                 ok      denied  denied  ok
DetectionService.AcknowledgeEvent            denied  ok      hidden  ok
DetectionService.LabelEvent                  denied  ok      hidden  ok
DetectionService.ListUnlabeledEvents         denied  ok      ok      ok
DetectionService.DeleteEvent                 denied  denied  denied  ok
DetectionService.CreateMedia                 denied  denied  denied  ok
DetectionService.CreateMyMedia               ok      denied  denied  denied
DetectionService.UploadMedia                 ok      denied  denied  ok
DetectionService.DownloadMedia               denied  ok      hidden  ok
DetectionService.GetMediaUrl                 denied  ok      hidden  ok
DetectionService.GetMedia                    denied  ok      hidden  ok
DetectionService.ListMedia                   denied  ok      ok      ok
DetectionService.DeleteMedia                 denied  denied  denied  ok
DetectionService.CreateAlert                 denied  denied  denied  ok
DetectionService.CreateMyAlert               ok      denied  denied  denied
DetectionService.SendAlert                   ok      denied  denied  denied
DetectionService.GetAlert                    denied  ok      hidden  ok
DetectionService.ListAlerts                  denied  ok      ok      ok
DetectionService.ListOngoingAlerts           denied  ok      ok      ok
DetectionService.DeleteAlert                 denied  denied  denied  ok
DetectionService.WatchAlerts                 denied  ok      ok      ok
DetectionService.SendNotification            denied  denied  denied  ok
DetectionService.GetNotification             denied  denied  denied  ok
DetectionService.ListNotifications           denied  denied  denied  ok
DetectionService.DeleteNotification          denied  denied  denied  ok
DetectionService.GetIncident                 denied  ok      hidden  ok
DetectionService.ListIncidents               denied  ok      ok      ok
DetectionService.ListIncidentEvents          denied  ok      hidden  ok
DetectionService.DetachIncidentEvent         denied  ok      hidden  ok
DetectionService.WatchIncidents              denied  ok      ok      ok
"""

PUBLIC_RPCS = {"AccessService.Login"}

CELL_CODES = {"ok": None, "denied": Code.PERMISSION_DENIED, "hidden": Code.NOT_FOUND}
SCOPED_IDENTITIES = ("device", "user", "other", "admin")
BAD_TOKEN_IDENTITIES = ("none", "malformed", "expired", "other_key")
IDENTITIES = BAD_TOKEN_IDENTITIES + SCOPED_IDENTITIES


def parse_matrix(text: str) -> dict[str, dict[str, Code | None]]:
    matrix: dict[str, dict[str, Code | None]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        rpc, *cells = line.split()
        assert len(cells) == len(SCOPED_IDENTITIES), f"MATRIX row {rpc} needs {len(SCOPED_IDENTITIES)} cells"
        assert rpc not in matrix, f"MATRIX row {rpc} appears twice"
        expected = {identity: CELL_CODES[cell] for identity, cell in zip(SCOPED_IDENTITIES, cells, strict=True)}
        unauthenticated = None if rpc in PUBLIC_RPCS else Code.UNAUTHENTICATED
        expected.update({identity: unauthenticated for identity in BAD_TOKEN_IDENTITIES})
        matrix[rpc] = expected
    return matrix


MATRIX = parse_matrix(MATRIX_TEXT)


# --- the world ----------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(moment)
    return ts


def _token(secret: str, **claims) -> str:
    now = int(time.time())
    payload = {"sub": "1", "scope": "admin", "group_id": 1, "iat": now - 120, "exp": now + 600, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


@dataclass
class World:
    """Ids of the fixture rows and a client per identity (see the module docstring)."""

    clients: dict[str, Api] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)
    logins: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # hypothesis and pytest print fixtures of failing cases
        return f"World({len(self.ids)} rows)"

    def __getattr__(self, name: str) -> int:
        try:
            return self.ids[name]
        except KeyError:
            raise AttributeError(name) from None


async def build_world(anonymous: Api, hook_url: str) -> World:
    """Create the fixture world through the API, as the superadmin; webhooks POST to `hook_url`."""
    root = await anonymous.login(ADMIN_LOGIN, ADMIN_PASSWORD)
    world = World()
    ids = world.ids
    admin_group = (await root.access.GetMyUser(access_pb.GetMyUserRequest())).user.group_id
    admin_user = await root.create_user(admin_group, scope=res.SCOPE_ADMIN)
    admin = await anonymous.login(admin_user.login, USER_PASSWORD)

    ids["group_a"] = (await admin.create_group(unique("home"))).id
    ids["group_b"] = (await admin.create_group(unique("other"))).id
    ids["victim_group"] = (await admin.create_group(unique("victim"))).id
    user_client, user = await admin.new_user(ids["group_a"])
    other_client, other = await admin.new_user(ids["group_b"])
    ids["user_a"], ids["user_b"] = user.id, other.id
    ids["user_a_access"] = user.access_id
    ids["spare_user"] = (await admin.create_user(ids["group_a"])).id
    ids["victim_user"] = (await admin.create_user(ids["group_a"])).id
    login_user = await admin.create_user(ids["group_a"])
    world.logins["login_user"] = login_user.login

    position = {"lat": 44.5, "lon": 4.2, "azimuth": 120.0, "elevation": 800.0}
    device_client, device = await admin.new_device(user.id, **position)
    ids["device_a"] = device.id
    _, spare = await admin.new_device(user.id, **position)
    ids["spare_device"] = spare.id
    _, victim_device = await admin.new_device(user.id)
    ids["victim_device"] = victim_device.id

    site_request = setup_pb.CreateSiteRequest(
        name=unique("site"),
        lat=44.5,
        lon=4.2,
        country="FR",
        geocode="07",
        type=res.SITE_TYPE_TOWER,
        group_id=ids["group_a"],
    )
    ids["site_a"] = (await admin.setup.CreateSite(site_request)).site.id
    site_request.name = unique("victim-site")
    ids["victim_site"] = (await admin.setup.CreateSite(site_request)).site.id
    start = timestamp(datetime.now(UTC) - timedelta(days=1))
    ids["installation_a"] = (
        await admin.setup.CreateInstallation(
            setup_pb.CreateInstallationRequest(
                device_id=device.id, site_id=ids["site_a"], start_time=start, is_trustworthy=True
            )
        )
    ).installation.id
    ids["victim_installation"] = (
        await admin.setup.CreateInstallation(
            setup_pb.CreateInstallationRequest(device_id=spare.id, site_id=ids["site_a"], start_time=start)
        )
    ).installation.id

    recipient_request = setup_pb.CreateRecipientRequest(
        group_id=ids["group_a"],
        notification_type=res.NOTIFICATION_TYPE_TELEGRAM,
        address="12345",
        subject_template="Fire $event_id",
        message_template="Alert $alert_id from $device_name at $date",
    )
    ids["recipient_a"] = (await admin.setup.CreateRecipient(recipient_request)).recipient.id
    ids["victim_recipient"] = (await admin.setup.CreateRecipient(recipient_request)).recipient.id

    media = (
        await device_client.detection.CreateMyMedia(detection_pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE))
    ).media
    ids["media_a"] = (await device_client.detection.UploadMedia(upload_requests(media.id, tiny_jpeg()))).media.id
    ids["victim_media"] = (
        await device_client.detection.CreateMyMedia(detection_pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE))
    ).media.id
    alert = (
        await device_client.detection.CreateMyAlert(detection_pb.CreateMyAlertRequest(media_id=ids["media_a"]))
    ).alert
    ids["alert_a"], ids["event_a"] = alert.id, alert.event_id
    ids["incident_a"] = await incident_of(admin, alert.event_id)
    ids["victim_alert"] = (
        await device_client.detection.CreateMyAlert(detection_pb.CreateMyAlertRequest(event_id=alert.event_id))
    ).alert.id
    ids["victim_event"] = (
        await admin.detection.CreateEvent(
            detection_pb.CreateEventRequest(group_id=ids["group_a"], type=res.EVENT_TYPE_WILDFIRE, lat=44.0, lon=4.0)
        )
    ).event.id
    send = detection_pb.SendNotificationRequest(alert_id=alert.id, recipient_id=ids["recipient_a"])
    ids["notification_a"] = (await admin.detection.SendNotification(send)).notification.id
    ids["victim_notification"] = (await admin.detection.SendNotification(send)).notification.id

    pose_request = setup_pb.CreatePoseRequest(device_id=device.id, azimuth=90.0, patrol_index=0)
    ids["pose_a"] = (await admin.setup.CreatePose(pose_request)).pose.id
    mask_box = res.NormalizedBox(x_min=0.0, y_min=0.0, x_max=0.1, y_max=0.1)
    ids["mask_a"] = (
        await admin.setup.CreateOcclusionMask(setup_pb.CreateOcclusionMaskRequest(pose_id=ids["pose_a"], box=mask_box))
    ).occlusion_mask.id

    webhook_request = setup_pb.CreateWebhookRequest(callback="create_alert", url=hook_url)
    world.logins["hook_url"] = hook_url
    ids["webhook_a"] = (await admin.setup.CreateWebhook(webhook_request)).webhook.id
    ids["victim_webhook"] = (await admin.setup.CreateWebhook(webhook_request)).webhook.id

    expired = _token(JWT_SECRET, exp=int(time.time()) - 30)
    other_key = _token("another-secret-" + "y" * 40)
    world.clients = {
        "none": anonymous.with_token(None),
        "malformed": anonymous.with_token("not-a-jwt"),
        "expired": anonymous.with_token(expired),
        "other_key": anonymous.with_token(other_key),
        "device": device_client,
        "user": user_client,
        "other": other_client,
        "admin": admin,
    }
    return world


# --- one server and one world per module and database ----------------------------------------


@pytest.fixture(scope="module")
def fake_telegram():
    fake = FakeServer()
    yield fake
    fake.close()


@pytest.fixture(scope="module", params=DATABASES)
def module_database(request, tmp_path_factory) -> tuple[str, str]:
    """(database URL, data dir) used by every test of the module; emptied first."""
    data_dir = tmp_path_factory.mktemp("module-server") / "data"
    data_dir.mkdir(parents=True)
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_database")
        _truncate_postgres(url)
    else:
        target = data_dir / "pyrogrpc.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        url = f"sqlite+aiosqlite:///{target}"
    return url, str(data_dir)


def module_env(module_database: tuple[str, str], **extra: str) -> dict[str, str]:
    url, data_dir = module_database
    return server_env(url, data_dir, **extra)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_server(module_database, moto_s3_endpoint, fake_telegram):
    """A server (S3 on moto, Telegram faked) for the whole module."""
    env = module_env(
        module_database,
        S3_ENDPOINT_URL=moto_s3_endpoint,
        S3_ACCESS_KEY="testing",
        S3_SECRET_KEY="testing",
        S3_REGION="us-east-1",
        BUCKET_NAME=unique("matrix"),
        TELEGRAM_TOKEN="123456:matrix-token",
        TELEGRAM_BASE_URL=fake_telegram.url,
    )
    server = PyroServer(Settings.from_env(env, env_file=None))
    await server.storage.ensure_bucket()
    await server.start()
    yield server
    await server.stop(grace=0)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(module_server, fake_telegram) -> World:
    async with Api.connect(module_server.port) as anonymous:
        yield await build_world(anonymous, fake_telegram.url + "/hook")


# --- requests per RPC ----------------------------------------------------------------------
#
# builder(world, identity) -> request (a list of messages for client-streaming RPCs).
# Called once per cell, so creates get fresh names.

Builder = Callable[[World, str], Any | Awaitable[Any]]


async def _fresh_media(w: World, identity: str) -> list[detection_pb.UploadMediaRequest]:
    """Each cell uploads into a media of its own (an uploaded media cannot be uploaded again)."""
    media = (
        await w.clients["admin"].detection.CreateMedia(
            detection_pb.CreateMediaRequest(device_id=w.device_a, type=res.MEDIA_TYPE_IMAGE)
        )
    ).media
    return list(upload_requests(media.id, tiny_jpeg()))


async def _victim_pose(w: World, identity: str) -> setup_pb.DeletePoseRequest:
    """Each cell deletes a pose of its own (a deleted pose cannot be deleted again)."""
    request = setup_pb.CreatePoseRequest(device_id=w.device_a, azimuth=10.0)
    pose = (await w.clients["admin"].setup.CreatePose(request)).pose
    return setup_pb.DeletePoseRequest(pose_id=pose.id)


async def _victim_mask(w: World, identity: str) -> setup_pb.DeleteOcclusionMaskRequest:
    box = res.NormalizedBox(x_min=0.5, y_min=0.5, x_max=0.6, y_max=0.6)
    request = setup_pb.CreateOcclusionMaskRequest(pose_id=w.pose_a, box=box)
    created = (await w.clients["admin"].setup.CreateOcclusionMask(request)).occlusion_mask
    return setup_pb.DeleteOcclusionMaskRequest(occlusion_mask_id=created.id)


async def incident_of(admin: Api, event_id: int) -> int:
    """The incident the server fuses the event into, moments after its alert (polled)."""
    deadline = time.monotonic() + 30
    while True:
        event = (await admin.detection.GetEvent(detection_pb.GetEventRequest(event_id=event_id))).event
        if event.HasField("incident_id"):
            return event.incident_id
        assert time.monotonic() < deadline, f"event {event_id} was not fused into an incident"
        await asyncio.sleep(0.05)


async def _detach(w: World, identity: str) -> detection_pb.DetachIncidentEventRequest:
    """An incident of its own per call (a detached event cannot be detached twice): a new
    device's first alert."""
    admin = w.clients["admin"]
    _, device = await admin.new_device(w.user_a, lat=44.5, lon=4.2, azimuth=10.0)
    alert = (await admin.detection.CreateAlert(detection_pb.CreateAlertRequest(device_id=device.id))).alert
    incident_id = await incident_of(admin, alert.event_id)
    return detection_pb.DetachIncidentEventRequest(incident_id=incident_id, event_id=alert.event_id)


def _send_alert(w: World, identity: str) -> list[detection_pb.SendAlertRequest]:
    data = tiny_jpeg()
    header = detection_pb.SendAlertHeader(
        alert=detection_pb.CreateMyAlertRequest(event_id=w.event_a),
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    return [detection_pb.SendAlertRequest(header=header), detection_pb.SendAlertRequest(chunk=data)]


BUILDERS: dict[str, Builder] = {
    # AccessService
    "AccessService.Login": lambda w, i: access_pb.LoginRequest(login=w.logins["login_user"], password=USER_PASSWORD),
    "AccessService.CreateGroup": lambda w, i: access_pb.CreateGroupRequest(name=unique("group")),
    "AccessService.UpdateGroup": lambda w, i: access_pb.UpdateGroupRequest(
        group_id=w.group_b, group=res.Group(name=unique("group")), update_mask=mask("name")
    ),
    "AccessService.DeleteGroup": lambda w, i: access_pb.DeleteGroupRequest(group_id=w.victim_group),
    "AccessService.GetGroup": lambda w, i: access_pb.GetGroupRequest(group_id=w.group_a),
    "AccessService.ListGroups": lambda w, i: access_pb.ListGroupsRequest(),
    "AccessService.GetAccess": lambda w, i: access_pb.GetAccessRequest(access_id=w.user_a_access),
    "AccessService.ListAccesses": lambda w, i: access_pb.ListAccessesRequest(),
    "AccessService.CreateUser": lambda w, i: access_pb.CreateUserRequest(
        login=unique("user"), password=USER_PASSWORD, scope=res.SCOPE_USER, group_id=w.group_a
    ),
    "AccessService.GetUser": lambda w, i: access_pb.GetUserRequest(user_id=w.user_a),
    "AccessService.UpdateUser": lambda w, i: access_pb.UpdateUserRequest(
        user_id=w.spare_user, user=res.User(login=unique("renamed")), update_mask=mask("login")
    ),
    "AccessService.UpdateUserPassword": lambda w, i: access_pb.UpdateUserPasswordRequest(
        user_id=w.spare_user, password="another-password-1"
    ),
    "AccessService.DeleteUser": lambda w, i: access_pb.DeleteUserRequest(user_id=w.victim_user),
    "AccessService.ListUsers": lambda w, i: access_pb.ListUsersRequest(),
    "AccessService.GetMyUser": lambda w, i: access_pb.GetMyUserRequest(),
    "AccessService.UpdateMyUser": lambda w, i: access_pb.UpdateMyUserRequest(
        user=res.User(login=unique("me")), update_mask=mask("login")
    ),
    "AccessService.UpdateMyPassword": lambda w, i: access_pb.UpdateMyPasswordRequest(
        current_password=USER_PASSWORD, new_password=USER_PASSWORD
    ),
    # SetupService
    "SetupService.CreateDevice": lambda w, i: setup_pb.CreateDeviceRequest(
        login=unique("cam"), password=USER_PASSWORD, owner_id=w.user_a
    ),
    "SetupService.RegisterDevice": lambda w, i: setup_pb.RegisterDeviceRequest(
        login=unique("cam"), password=USER_PASSWORD
    ),
    "SetupService.GetDevice": lambda w, i: setup_pb.GetDeviceRequest(device_id=w.device_a),
    "SetupService.ListDevices": lambda w, i: setup_pb.ListDevicesRequest(),
    "SetupService.ListMyDevices": lambda w, i: setup_pb.ListMyDevicesRequest(),
    "SetupService.GetMyDevice": lambda w, i: setup_pb.GetMyDeviceRequest(),
    "SetupService.UpdateDevice": lambda w, i: setup_pb.UpdateDeviceRequest(
        device_id=w.device_a, device=res.Device(specs="rev B"), update_mask=mask("specs")
    ),
    "SetupService.DeleteDevice": lambda w, i: setup_pb.DeleteDeviceRequest(device_id=w.victim_device),
    "SetupService.UpdateDeviceSoftwareHash": lambda w, i: setup_pb.UpdateDeviceSoftwareHashRequest(
        device_id=w.device_a, software_hash="abc123"
    ),
    "SetupService.UpdateDevicePassword": lambda w, i: setup_pb.UpdateDevicePasswordRequest(
        device_id=w.spare_device, password="another-password-1"
    ),
    "SetupService.UpdateDeviceLocation": lambda w, i: setup_pb.UpdateDeviceLocationRequest(
        device_id=w.device_a, pitch=-2.0
    ),
    "SetupService.UpdateMyLocation": lambda w, i: setup_pb.UpdateMyLocationRequest(pitch=-1.0),
    "SetupService.Heartbeat": lambda w, i: setup_pb.HeartbeatRequest(),
    "SetupService.CreateSite": lambda w, i: setup_pb.CreateSiteRequest(
        name=unique("site"),
        lat=45.0,
        lon=5.0,
        country="FR",
        geocode="38",
        type=res.SITE_TYPE_STATION,
        group_id=w.group_a,
    ),
    "SetupService.CreateNoAlertSite": lambda w, i: setup_pb.CreateNoAlertSiteRequest(
        name=unique("quiet"), lat=45.0, lon=5.0, country="FR", geocode="38"
    ),
    "SetupService.GetSite": lambda w, i: setup_pb.GetSiteRequest(site_id=w.site_a),
    "SetupService.ListSites": lambda w, i: setup_pb.ListSitesRequest(),
    "SetupService.UpdateSite": lambda w, i: setup_pb.UpdateSiteRequest(
        site_id=w.site_a, site=res.Site(name=unique("renamed")), update_mask=mask("name")
    ),
    "SetupService.DeleteSite": lambda w, i: setup_pb.DeleteSiteRequest(site_id=w.victim_site),
    "SetupService.CreateInstallation": lambda w, i: setup_pb.CreateInstallationRequest(
        device_id=w.spare_device,
        site_id=w.site_a,
        start_time=timestamp(datetime.now(UTC) - timedelta(days=400)),
        end_time=timestamp(datetime.now(UTC) - timedelta(days=300)),
    ),
    "SetupService.GetInstallation": lambda w, i: setup_pb.GetInstallationRequest(installation_id=w.installation_a),
    "SetupService.ListInstallations": lambda w, i: setup_pb.ListInstallationsRequest(),
    "SetupService.UpdateInstallation": lambda w, i: setup_pb.UpdateInstallationRequest(
        installation_id=w.installation_a,
        installation=res.Installation(is_trustworthy=True),
        update_mask=mask("is_trustworthy"),
    ),
    "SetupService.DeleteInstallation": lambda w, i: setup_pb.DeleteInstallationRequest(
        installation_id=w.victim_installation
    ),
    "SetupService.ListSiteDevices": lambda w, i: setup_pb.ListSiteDevicesRequest(site_id=w.site_a),
    "SetupService.CreateWebhook": lambda w, i: setup_pb.CreateWebhookRequest(
        callback="create_alert", url=w.logins["hook_url"]
    ),
    "SetupService.GetWebhook": lambda w, i: setup_pb.GetWebhookRequest(webhook_id=w.webhook_a),
    "SetupService.ListWebhooks": lambda w, i: setup_pb.ListWebhooksRequest(),
    "SetupService.UpdateWebhook": lambda w, i: setup_pb.UpdateWebhookRequest(
        webhook_id=w.webhook_a, webhook=res.Webhook(url=w.logins["hook_url"] + "/v2"), update_mask=mask("url")
    ),
    "SetupService.DeleteWebhook": lambda w, i: setup_pb.DeleteWebhookRequest(webhook_id=w.victim_webhook),
    "SetupService.CreateRecipient": lambda w, i: setup_pb.CreateRecipientRequest(
        group_id=w.group_a,
        notification_type=res.NOTIFICATION_TYPE_TELEGRAM,
        address="777",
        subject_template="s $event_id",
        message_template="m $alert_id",
    ),
    "SetupService.GetRecipient": lambda w, i: setup_pb.GetRecipientRequest(recipient_id=w.recipient_a),
    "SetupService.ListRecipients": lambda w, i: setup_pb.ListRecipientsRequest(),
    "SetupService.ListGroupRecipients": lambda w, i: setup_pb.ListGroupRecipientsRequest(group_id=w.group_a),
    "SetupService.UpdateRecipient": lambda w, i: setup_pb.UpdateRecipientRequest(
        recipient_id=w.recipient_a, recipient=res.Recipient(address="888"), update_mask=mask("address")
    ),
    "SetupService.DeleteRecipient": lambda w, i: setup_pb.DeleteRecipientRequest(recipient_id=w.victim_recipient),
    "SetupService.CreatePose": lambda w, i: setup_pb.CreatePoseRequest(device_id=w.device_a, azimuth=180.0),
    "SetupService.GetPose": lambda w, i: setup_pb.GetPoseRequest(pose_id=w.pose_a),
    "SetupService.ListPoses": lambda w, i: setup_pb.ListPosesRequest(device_id=w.device_a),
    "SetupService.UpdatePose": lambda w, i: setup_pb.UpdatePoseRequest(
        pose_id=w.pose_a, pose=res.Pose(azimuth=91.0), update_mask=mask("azimuth")
    ),
    "SetupService.DeletePose": _victim_pose,
    "SetupService.ListMyPoses": lambda w, i: setup_pb.ListMyPosesRequest(),
    "SetupService.UpdateMyPoseImage": lambda w, i: setup_pb.UpdateMyPoseImageRequest(
        pose_id=w.pose_a, media_id=w.media_a
    ),
    "SetupService.CreateOcclusionMask": lambda w, i: setup_pb.CreateOcclusionMaskRequest(
        pose_id=w.pose_a, box=res.NormalizedBox(x_min=0.9, y_min=0.9, x_max=1.0, y_max=1.0)
    ),
    "SetupService.ListOcclusionMasks": lambda w, i: setup_pb.ListOcclusionMasksRequest(pose_id=w.pose_a),
    "SetupService.DeleteOcclusionMask": _victim_mask,
    "SetupService.ListMyOcclusionMasks": lambda w, i: setup_pb.ListMyOcclusionMasksRequest(),
    # DetectionService
    "DetectionService.CreateEvent": lambda w, i: detection_pb.CreateEventRequest(
        group_id=w.group_a if i == "admin" else None, type=res.EVENT_TYPE_WILDFIRE, lat=44.1, lon=4.1
    ),
    "DetectionService.GetEvent": lambda w, i: detection_pb.GetEventRequest(event_id=w.event_a),
    "DetectionService.ListEvents": lambda w, i: detection_pb.ListEventsRequest(),
    "DetectionService.ListPastEvents": lambda w, i: detection_pb.ListPastEventsRequest(),
    "DetectionService.ListUnacknowledgedEvents": lambda w, i: detection_pb.ListUnacknowledgedEventsRequest(),
    "DetectionService.ListEventAlerts": lambda w, i: detection_pb.ListEventAlertsRequest(event_id=w.event_a),
    "DetectionService.UpdateEvent": lambda w, i: detection_pb.UpdateEventRequest(
        event_id=w.event_a, event=res.Event(lat=44.6), update_mask=mask("lat")
    ),
    "DetectionService.AcknowledgeEvent": lambda w, i: detection_pb.AcknowledgeEventRequest(event_id=w.event_a),
    "DetectionService.LabelEvent": lambda w, i: detection_pb.LabelEventRequest(
        event_id=w.event_a, label=res.EVENT_LABEL_OTHER_SMOKE
    ),
    "DetectionService.ListUnlabeledEvents": lambda w, i: detection_pb.ListUnlabeledEventsRequest(),
    "DetectionService.DeleteEvent": lambda w, i: detection_pb.DeleteEventRequest(event_id=w.victim_event),
    "DetectionService.CreateMedia": lambda w, i: detection_pb.CreateMediaRequest(
        device_id=w.device_a, type=res.MEDIA_TYPE_IMAGE
    ),
    "DetectionService.CreateMyMedia": lambda w, i: detection_pb.CreateMyMediaRequest(type=res.MEDIA_TYPE_IMAGE),
    "DetectionService.UploadMedia": _fresh_media,
    "DetectionService.DownloadMedia": lambda w, i: detection_pb.DownloadMediaRequest(media_id=w.media_a),
    "DetectionService.GetMediaUrl": lambda w, i: detection_pb.GetMediaUrlRequest(media_id=w.media_a),
    "DetectionService.GetMedia": lambda w, i: detection_pb.GetMediaRequest(media_id=w.media_a),
    "DetectionService.ListMedia": lambda w, i: detection_pb.ListMediaRequest(),
    "DetectionService.DeleteMedia": lambda w, i: detection_pb.DeleteMediaRequest(media_id=w.victim_media),
    "DetectionService.CreateAlert": lambda w, i: detection_pb.CreateAlertRequest(
        device_id=w.device_a, event_id=w.event_a
    ),
    "DetectionService.CreateMyAlert": lambda w, i: detection_pb.CreateMyAlertRequest(event_id=w.event_a),
    "DetectionService.SendAlert": _send_alert,
    "DetectionService.GetAlert": lambda w, i: detection_pb.GetAlertRequest(alert_id=w.alert_a),
    "DetectionService.ListAlerts": lambda w, i: detection_pb.ListAlertsRequest(),
    "DetectionService.ListOngoingAlerts": lambda w, i: detection_pb.ListOngoingAlertsRequest(),
    "DetectionService.DeleteAlert": lambda w, i: detection_pb.DeleteAlertRequest(alert_id=w.victim_alert),
    "DetectionService.WatchAlerts": lambda w, i: detection_pb.WatchAlertsRequest(after_alert_id=0),
    "DetectionService.SendNotification": lambda w, i: detection_pb.SendNotificationRequest(
        alert_id=w.alert_a, recipient_id=w.recipient_a
    ),
    "DetectionService.GetNotification": lambda w, i: detection_pb.GetNotificationRequest(
        notification_id=w.notification_a
    ),
    "DetectionService.ListNotifications": lambda w, i: detection_pb.ListNotificationsRequest(),
    "DetectionService.DeleteNotification": lambda w, i: detection_pb.DeleteNotificationRequest(
        notification_id=w.victim_notification
    ),
    "DetectionService.GetIncident": lambda w, i: detection_pb.GetIncidentRequest(incident_id=w.incident_a),
    "DetectionService.ListIncidents": lambda w, i: detection_pb.ListIncidentsRequest(),
    "DetectionService.ListIncidentEvents": lambda w, i: detection_pb.ListIncidentEventsRequest(
        incident_id=w.incident_a
    ),
    "DetectionService.DetachIncidentEvent": _detach,
    "DetectionService.WatchIncidents": lambda w, i: detection_pb.WatchIncidentsRequest(after_change_id=0),
}

# A server-streaming call that stays open (WatchAlerts) counts as accepted when it has not
# failed within this window: refusals (token, scope) come before any message.
STREAM_ACCEPT_SECONDS = 0.5


async def invoke(client: Api, rpc: str, request, max_alert_id: int = 2**63 - 1) -> list:
    """Call `rpc` ("Service.Method") with the right call shape; returns the response messages."""
    service, name = rpc.split(".")
    stub = {"AccessService": client.access, "SetupService": client.setup, "DetectionService": client.detection}[service]
    method = ALL_METHODS[rpc]
    call_fn = getattr(stub, name)
    if method.client_streaming:
        return [await call_fn(iter(request), timeout=20)]
    if not method.server_streaming:
        return [await call_fn(request, timeout=20)]
    call = call_fn(request, timeout=20)
    messages = []
    try:
        if rpc in ("DetectionService.WatchAlerts", "DetectionService.WatchIncidents"):
            deadline = asyncio.get_running_loop().time() + STREAM_ACCEPT_SECONDS
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                try:
                    message = await asyncio.wait_for(call.read(), left)
                except TimeoutError:
                    break
                if message is grpc.aio.EOF:
                    break
                messages.append(message)
                if rpc.endswith("WatchAlerts") and message.HasField("alert") and message.alert.id >= max_alert_id:
                    break  # the replay reached the newest alert: accepted, and nothing else to see
        else:
            async for message in call:
                messages.append(message)
    finally:
        call.cancel()
    return messages


async def outcome(client: Api, rpc: str, request, max_alert_id: int) -> tuple[Code | None, str, list]:
    try:
        return None, "", await invoke(client, rpc, request, max_alert_id)
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or "", []


def _name(code: Code | None) -> str:
    return "OK" if code is None else code.name


# --- the tests -------------------------------------------------------------------------------


def test_every_rpc_has_a_matrix_row_and_a_request():
    assert sorted(ALL_METHODS.keys() - MATRIX.keys()) == [], "RPCs without a MATRIX row"
    assert sorted(MATRIX.keys() - ALL_METHODS.keys()) == [], "MATRIX rows for RPCs that do not exist"
    assert sorted(ALL_METHODS.keys() - BUILDERS.keys()) == [], "RPCs without a request builder"


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("rpc", sorted(ALL_METHODS))
async def test_authorization(world, rpc):
    if rpc not in MATRIX or rpc not in BUILDERS:
        pytest.fail(f"{rpc} has no MATRIX row or request builder")
    failures = []
    for identity in IDENTITIES:
        expected = MATRIX[rpc][identity]
        request = BUILDERS[rpc](world, identity)
        if asyncio.iscoroutine(request):
            request = await request
        code, details, messages = await outcome(world.clients[identity], rpc, request, world.victim_alert)
        if code != expected:
            failures.append(f"{rpc} as {identity}: expected {_name(expected)}, got {_name(code)} {details!r}")
            continue
        if rpc == "DetectionService.WatchAlerts" and identity == "other":
            leaked = [m.alert.id for m in messages if m.HasField("alert") and m.alert.group_id != world.group_b]
            if leaked:
                failures.append(f"{rpc} as other: received alerts of another group {leaked}")
        if rpc == "DetectionService.ListIncidents" and identity == "other":
            leaked = [i.id for m in messages for i in m.incidents if i.group_id != world.group_b]
            if leaked:
                failures.append(f"{rpc} as other: received incidents of another group {leaked}")
        if rpc == "DetectionService.WatchIncidents" and identity == "other":
            leaked = [
                m.change.incident.id
                for m in messages
                if m.HasField("change") and m.change.incident.group_id != world.group_b
            ]
            if leaked:
                failures.append(f"{rpc} as other: received incidents of another group {leaked}")
    assert not failures, "\n".join(failures)
