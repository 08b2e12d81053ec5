"""SetupService devices through a real channel: creation, registration, group isolation,
updates, location, heartbeat, deletion."""

from __future__ import annotations

import math
import time
import uuid
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2

from pyrogrpc.db.models import Alert, Event, Media
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import resources_pb2
from pyronear.v1 import setup_service_pb2 as pb
from tests.helpers import USER_PASSWORD, expect_status, violated_fields

Code = grpc.StatusCode


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def _login() -> str:
    return f"cam-{uuid.uuid4().hex[:8]}"


async def _site_and_installation(admin, device) -> tuple[resources_pb2.Site, resources_pb2.Installation]:
    site = (
        await admin.setup.CreateSite(
            pb.CreateSiteRequest(
                name=f"tower-{uuid.uuid4().hex[:6]}",
                lat=44.0,
                lon=4.0,
                country="FR",
                geocode="07",
                type=resources_pb2.SITE_TYPE_TOWER,
                group_id=device.group_id,
            )
        )
    ).site
    start = timestamp_pb2.Timestamp()
    start.FromDatetime(datetime.now(UTC) - timedelta(days=1))
    installation = (
        await admin.setup.CreateInstallation(
            pb.CreateInstallationRequest(device_id=device.id, site_id=site.id, start_time=start, is_trustworthy=True)
        )
    ).installation
    return site, installation


# --- creation and the device's own session -------------------------------------------------


async def test_created_device_logs_in_heartbeats_and_sees_itself(admin):
    _, owner = await admin.new_user()
    login = _login()
    device = (
        await admin.setup.CreateDevice(
            pb.CreateDeviceRequest(
                login=login,
                password=USER_PASSWORD,
                owner_id=owner.id,
                specs="pi-cam v2",
                lat=44.5,
                lon=4.25,
                azimuth=120.0,
            )
        )
    ).device
    assert (device.login, device.owner_id, device.group_id, device.specs) == (
        login,
        owner.id,
        owner.group_id,
        "pi-cam v2",
    )
    assert (device.lat, device.lon, device.azimuth) == (44.5, 4.25, 120.0)
    assert not device.HasField("pitch") and not device.HasField("last_ping_time") and device.access_id > 0

    token = await admin.access.Login(access_pb.LoginRequest(login=login, password=USER_PASSWORD))
    assert token.scope == resources_pb2.SCOPE_DEVICE
    assert token.expire_time.seconds - time.time() > 300 * 86400  # devices' tokens are long-lived
    camera = admin.with_token(token.access_token)
    assert (await camera.setup.GetMyDevice(pb.GetMyDeviceRequest())).device == device

    before = time.time()
    pinged = (await camera.setup.Heartbeat(pb.HeartbeatRequest())).device
    assert before - 1 <= pinged.last_ping_time.ToDatetime(tzinfo=UTC).timestamp() <= time.time() + 1
    assert pinged.id == device.id
    seen = (await admin.setup.GetDevice(pb.GetDeviceRequest(device_id=device.id))).device
    assert seen.last_ping_time == pinged.last_ping_time


async def test_device_scope_cannot_reach_setup_admin_rpcs(admin):
    _, owner = await admin.new_user()
    camera, _ = await admin.new_device(owner.id)
    await expect_status(camera.setup.ListDevices(pb.ListDevicesRequest()), Code.PERMISSION_DENIED)
    await expect_status(
        camera.setup.RegisterDevice(pb.RegisterDeviceRequest(login=_login(), password=USER_PASSWORD)),
        Code.PERMISSION_DENIED,
    )


async def test_create_device_validates_every_field(admin):
    error = await expect_status(
        admin.setup.CreateDevice(
            pb.CreateDeviceRequest(
                login="x",
                password="short",
                owner_id=0,
                specs="s" * 501,
                software_hash="",
                lat=90.5,
                lon=math.nan,
                azimuth=360.0,
                pitch=math.inf,
                elevation=-math.inf,
                angle_of_view=400.0,
            )
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {
        "login",
        "password",
        "owner_id",
        "specs",
        "software_hash",
        "lat",
        "lon",
        "azimuth",
        "pitch",
        "elevation",
        "angle_of_view",
    }


async def test_create_device_unknown_owner_and_taken_login(admin):
    await expect_status(
        admin.setup.CreateDevice(pb.CreateDeviceRequest(login=_login(), password=USER_PASSWORD, owner_id=999_999)),
        Code.NOT_FOUND,
    )
    _, owner = await admin.new_user()
    _, device = await admin.new_device(owner.id)
    # logins are unique across devices and users
    for taken in (device.login, owner.login):
        error = await expect_status(
            admin.setup.CreateDevice(pb.CreateDeviceRequest(login=taken, password=USER_PASSWORD, owner_id=owner.id)),
            Code.ALREADY_EXISTS,
        )
        assert taken in error.details()
    user_api, _ = await admin.new_user()
    await expect_status(
        user_api.setup.RegisterDevice(pb.RegisterDeviceRequest(login=owner.login, password=USER_PASSWORD)),
        Code.ALREADY_EXISTS,
    )


async def test_register_device_is_always_a_device_of_the_callers_group(admin):
    assert not {"scope", "group_id", "owner_id"} & set(pb.RegisterDeviceRequest.DESCRIPTOR.fields_by_name)
    user_api, user = await admin.new_user()
    login = _login()
    device = (
        await user_api.setup.RegisterDevice(
            pb.RegisterDeviceRequest(login=login, password=USER_PASSWORD, specs="garden cam", elevation=120.0)
        )
    ).device
    assert (device.owner_id, device.group_id, device.elevation) == (user.id, user.group_id, 120.0)
    access = (await admin.access.GetAccess(access_pb.GetAccessRequest(access_id=device.access_id))).access
    assert (access.scope, access.group_id) == (resources_pb2.SCOPE_DEVICE, user.group_id)
    camera = await admin.login(login, USER_PASSWORD)
    await expect_status(
        camera.access.CreateGroup(access_pb.CreateGroupRequest(name="nope-group")), Code.PERMISSION_DENIED
    )
    assert (await camera.setup.GetMyDevice(pb.GetMyDeviceRequest())).device.id == device.id
    assert (await camera.setup.Heartbeat(pb.HeartbeatRequest())).device.HasField("last_ping_time")
    # an admin registering gets a device of its own group, owned by itself
    me = (await admin.access.GetMyUser(access_pb.GetMyUserRequest())).user
    mine = (await admin.setup.RegisterDevice(pb.RegisterDeviceRequest(login=_login(), password=USER_PASSWORD))).device
    assert (mine.owner_id, mine.group_id) == (me.id, me.group_id)


async def test_register_device_validates_input(admin):
    user_api, _ = await admin.new_user()
    error = await expect_status(
        user_api.setup.RegisterDevice(
            pb.RegisterDeviceRequest(
                login="", password="", lat=-91.0, azimuth=-0.5, specs="nul\x00", software_hash="h" * 129
            )
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"login", "password", "lat", "azimuth", "specs", "software_hash"}


# --- reading ---------------------------------------------------------------------------


async def test_devices_are_visible_to_their_group_only(admin):
    user_api, user = await admin.new_user()
    _, device = await admin.new_device(user.id)
    outsider_api, outsider = await admin.new_user()
    _, foreign = await admin.new_device(outsider.id)

    assert (await user_api.setup.GetDevice(pb.GetDeviceRequest(device_id=device.id))).device == device
    error = await expect_status(user_api.setup.GetDevice(pb.GetDeviceRequest(device_id=foreign.id)), Code.NOT_FOUND)
    missing = await expect_status(user_api.setup.GetDevice(pb.GetDeviceRequest(device_id=999_999)), Code.NOT_FOUND)
    assert str(foreign.id) in error.details() and "999999" in missing.details()

    assert [d.id for d in (await user_api.setup.ListDevices(pb.ListDevicesRequest())).devices] == [device.id]
    widened = await user_api.setup.ListDevices(pb.ListDevicesRequest(group_id=outsider.group_id))
    assert list(widened.devices) == []
    all_ids = {d.id for d in (await admin.setup.ListDevices(pb.ListDevicesRequest(page_size=1000))).devices}
    assert {device.id, foreign.id} <= all_ids
    filtered = (await admin.setup.ListDevices(pb.ListDevicesRequest(group_id=outsider.group_id))).devices
    assert [d.id for d in filtered] == [foreign.id]


async def test_list_devices_pages_newest_first(admin):
    _, owner = await admin.new_user()
    created = [(await admin.new_device(owner.id))[1].id for _ in range(5)]
    seen, token = [], ""
    while True:
        page = await admin.setup.ListDevices(
            pb.ListDevicesRequest(page_size=2, page_token=token, group_id=owner.group_id)
        )
        assert len(page.devices) <= 2
        seen.extend(d.id for d in page.devices)
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(created, reverse=True)
    error = await expect_status(
        admin.setup.ListDevices(pb.ListDevicesRequest(page_token="junk")), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"page_token"}


async def test_list_my_devices_only_lists_the_callers(admin):
    user_api, user = await admin.new_user()
    mate_api, mate = await admin.new_user(user.group_id)
    _, own = await admin.new_device(user.id)
    registered = (
        await user_api.setup.RegisterDevice(pb.RegisterDeviceRequest(login=_login(), password=USER_PASSWORD))
    ).device
    await admin.new_device(mate.id)
    mine = (await user_api.setup.ListMyDevices(pb.ListMyDevicesRequest())).devices
    assert [d.id for d in mine] == [registered.id, own.id]
    assert len((await mate_api.setup.ListMyDevices(pb.ListMyDevicesRequest())).devices) == 1


# --- admin updates ---------------------------------------------------------------------


async def test_update_device_changes_only_masked_fields(admin):
    _, owner = await admin.new_user()
    _, device = await admin.new_device(owner.id, specs="old", lat=10.0, lon=20.0, azimuth=90.0, pitch=-5.0)
    new_login = _login()
    updated = (
        await admin.setup.UpdateDevice(
            pb.UpdateDeviceRequest(
                device_id=device.id,
                device=resources_pb2.Device(login=new_login, specs="new", lat=11.0, lon=99.0, pitch=3.0),
                update_mask=mask("login", "specs", "lat", "azimuth"),
            )
        )
    ).device
    assert (updated.login, updated.specs, updated.lat, updated.lon, updated.pitch) == (
        new_login,
        "new",
        11.0,
        20.0,
        -5.0,
    )
    assert not updated.HasField("azimuth")  # in the mask but unset: cleared
    assert (await admin.setup.GetDevice(pb.GetDeviceRequest(device_id=device.id))).device == updated
    await admin.login(new_login, USER_PASSWORD)
    await expect_status(admin.login(device.login, USER_PASSWORD), Code.UNAUTHENTICATED)


async def test_update_device_refuses_bad_input(admin):
    _, owner = await admin.new_user()
    _, device = await admin.new_device(owner.id)
    _, other = await admin.new_device(owner.id)

    def update(fields, *paths, device_id=device.id):
        return admin.setup.UpdateDevice(
            pb.UpdateDeviceRequest(device_id=device_id, device=resources_pb2.Device(**fields), update_mask=mask(*paths))
        )

    error = await expect_status(update({"lat": 1.0}), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"update_mask"}
    error = await expect_status(update({"group_id": 5}, "group_id"), Code.INVALID_ARGUMENT)
    assert "cannot change 'group_id'" in error.details()
    error = await expect_status(
        update({"lat": 100.0, "azimuth": 360.0, "login": "a b"}, "lat", "azimuth", "login"), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"device.lat", "device.azimuth", "device.login"}
    await expect_status(update({"login": other.login}, "login"), Code.ALREADY_EXISTS)
    await expect_status(update({"lat": 1.0}, "lat", device_id=999_999), Code.NOT_FOUND)


async def test_update_device_owner_stays_in_the_devices_group(admin):
    _, owner = await admin.new_user()
    mate = await admin.create_user(owner.group_id)
    _, outsider = await admin.new_user()
    _, device = await admin.new_device(owner.id)

    def set_owner(owner_id=None):
        fields = {} if owner_id is None else {"owner_id": owner_id}
        return admin.setup.UpdateDevice(
            pb.UpdateDeviceRequest(
                device_id=device.id, device=resources_pb2.Device(**fields), update_mask=mask("owner_id")
            )
        )

    assert (await set_owner(mate.id)).device.owner_id == mate.id
    error = await expect_status(set_owner(outsider.id), Code.FAILED_PRECONDITION)
    assert "group" in error.details()
    await expect_status(set_owner(999_999), Code.NOT_FOUND)
    cleared = (await set_owner()).device
    assert not cleared.HasField("owner_id") and cleared.group_id == owner.group_id


async def test_software_hash_and_password(admin):
    _, owner = await admin.new_user()
    camera, device = await admin.new_device(owner.id)
    updated = (
        await admin.setup.UpdateDeviceSoftwareHash(
            pb.UpdateDeviceSoftwareHashRequest(device_id=device.id, software_hash="abc123")
        )
    ).device
    assert updated.software_hash == "abc123"
    error = await expect_status(
        admin.setup.UpdateDeviceSoftwareHash(pb.UpdateDeviceSoftwareHashRequest(device_id=device.id, software_hash="")),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"software_hash"}
    await expect_status(
        admin.setup.UpdateDeviceSoftwareHash(
            pb.UpdateDeviceSoftwareHashRequest(device_id=999_999, software_hash="abc")
        ),
        Code.NOT_FOUND,
    )

    error = await expect_status(
        admin.setup.UpdateDevicePassword(pb.UpdateDevicePasswordRequest(device_id=device.id, password="")),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"password"}
    await expect_status(
        admin.setup.UpdateDevicePassword(pb.UpdateDevicePasswordRequest(device_id=999_999, password="long-enough-1")),
        Code.NOT_FOUND,
    )
    await admin.setup.UpdateDevicePassword(
        pb.UpdateDevicePasswordRequest(device_id=device.id, password="new-camera-pass")
    )
    await expect_status(admin.login(device.login, USER_PASSWORD), Code.UNAUTHENTICATED)
    again = await admin.login(device.login, "new-camera-pass")
    assert (await again.setup.GetMyDevice(pb.GetMyDeviceRequest())).device.id == device.id


# --- location --------------------------------------------------------------------------


async def test_update_device_location_is_for_admins_and_the_owner(admin):
    owner_api, owner = await admin.new_user()
    mate_api, _ = await admin.new_user(owner.group_id)
    outsider_api, _ = await admin.new_user()
    _, device = await admin.new_device(owner.id, lat=1.0, lon=2.0, azimuth=10.0)

    moved = (
        await owner_api.setup.UpdateDeviceLocation(
            pb.UpdateDeviceLocationRequest(device_id=device.id, lat=45.0, pitch=-2.5)
        )
    ).device
    assert (moved.lat, moved.lon, moved.azimuth, moved.pitch) == (45.0, 2.0, 10.0, -2.5)
    request = pb.UpdateDeviceLocationRequest(device_id=device.id, azimuth=200.0)
    await expect_status(mate_api.setup.UpdateDeviceLocation(request), Code.PERMISSION_DENIED)
    await expect_status(outsider_api.setup.UpdateDeviceLocation(request), Code.NOT_FOUND)
    assert (await admin.setup.UpdateDeviceLocation(request)).device.azimuth == 200.0

    error = await expect_status(
        owner_api.setup.UpdateDeviceLocation(pb.UpdateDeviceLocationRequest(device_id=device.id)), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"lat", "lon", "elevation", "azimuth", "pitch", "angle_of_view"}
    error = await expect_status(
        owner_api.setup.UpdateDeviceLocation(
            pb.UpdateDeviceLocationRequest(device_id=device.id, lon=180.5, elevation=math.nan, pitch=91.0)
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"lon", "elevation", "pitch"}
    await expect_status(
        admin.setup.UpdateDeviceLocation(pb.UpdateDeviceLocationRequest(device_id=999_999, lat=1.0)), Code.NOT_FOUND
    )


async def test_update_my_location(admin):
    _, owner = await admin.new_user()
    camera, device = await admin.new_device(owner.id, lat=1.0, lon=2.0)
    moved = (
        await camera.setup.UpdateMyLocation(pb.UpdateMyLocationRequest(lon=-3.5, azimuth=359.9, elevation=-12.0))
    ).device
    assert (moved.id, moved.lat, moved.lon, moved.azimuth, moved.elevation) == (device.id, 1.0, -3.5, 359.9, -12.0)
    error = await expect_status(
        camera.setup.UpdateMyLocation(pb.UpdateMyLocationRequest(azimuth=360.0, lat=math.inf)), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"azimuth", "lat"}
    error = await expect_status(camera.setup.UpdateMyLocation(pb.UpdateMyLocationRequest()), Code.INVALID_ARGUMENT)
    assert "lat" in violated_fields(error)


# --- deletion --------------------------------------------------------------------------


async def test_delete_device_removes_its_access_and_installations(admin):
    _, owner = await admin.new_user()
    camera, device = await admin.new_device(owner.id)
    site, installation = await _site_and_installation(admin, device)
    await admin.setup.DeleteDevice(pb.DeleteDeviceRequest(device_id=device.id))
    await expect_status(admin.setup.GetDevice(pb.GetDeviceRequest(device_id=device.id)), Code.NOT_FOUND)
    await expect_status(
        admin.setup.GetInstallation(pb.GetInstallationRequest(installation_id=installation.id)), Code.NOT_FOUND
    )
    await expect_status(admin.access.GetAccess(access_pb.GetAccessRequest(access_id=device.access_id)), Code.NOT_FOUND)
    await expect_status(admin.login(device.login, USER_PASSWORD), Code.UNAUTHENTICATED)
    # a token that outlived its device is refused (see test_revoked_tokens.py)
    await expect_status(camera.setup.Heartbeat(pb.HeartbeatRequest()), Code.UNAUTHENTICATED)
    await expect_status(admin.setup.DeleteDevice(pb.DeleteDeviceRequest(device_id=device.id)), Code.NOT_FOUND)
    await admin.setup.DeleteSite(pb.DeleteSiteRequest(site_id=site.id))  # nothing references it any more


async def test_delete_device_with_media_or_alerts_is_failed_precondition(admin, server):
    _, owner = await admin.new_user()
    _, device = await admin.new_device(owner.id)
    async with server.uow() as uow:
        media = await uow.media.add(Media(device_id=device.id, group_id=device.group_id, type="image"))
        event = await uow.events.add(
            Event(group_id=device.group_id, type="wildfire", lat=1.0, lon=2.0, start_time=datetime.now(UTC))
        )
        alert = await uow.alerts.add(
            Alert(device_id=device.id, group_id=device.group_id, event_id=event.id, azimuth=10.0, lat=1.0, lon=2.0)
        )
        await uow.commit()
    request = pb.DeleteDeviceRequest(device_id=device.id)
    for blocker in (alert, media):
        error = await expect_status(admin.setup.DeleteDevice(request), Code.FAILED_PRECONDITION)
        assert "media or alerts" in error.details()
        assert (await admin.setup.GetDevice(pb.GetDeviceRequest(device_id=device.id))).device == device
        async with server.uow() as uow:
            await uow.session.delete(await uow.session.get(type(blocker), blocker.id))
            await uow.commit()
    await admin.setup.DeleteDevice(request)
    await expect_status(admin.setup.GetDevice(pb.GetDeviceRequest(device_id=device.id)), Code.NOT_FOUND)
