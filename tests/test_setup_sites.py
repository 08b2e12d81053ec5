"""SetupService sites and installations through a real channel: validation, group isolation,
deletion rules, active installations of a site."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2

from pyronear.v1 import resources_pb2
from pyronear.v1 import setup_service_pb2 as pb
from tests.helpers import expect_status, violated_fields

Code = grpc.StatusCode
TOWER = resources_pb2.SITE_TYPE_TOWER
NO_ALERT = resources_pb2.SITE_TYPE_NO_ALERT


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def ts(days: float) -> timestamp_pb2.Timestamp:
    """A timestamp `days` from now (negative: in the past)."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + timedelta(days=days))
    return stamp


def site_request(group_id: int, **fields) -> pb.CreateSiteRequest:
    values = {
        "name": f"tower-{uuid.uuid4().hex[:6]}",
        "lat": 44.1,
        "lon": 4.2,
        "country": "FR",
        "geocode": "07",
        "type": TOWER,
        "group_id": group_id,
        **fields,
    }
    return pb.CreateSiteRequest(**values)


async def create_site(admin, group_id: int, **fields) -> resources_pb2.Site:
    return (await admin.setup.CreateSite(site_request(group_id, **fields))).site


async def install(admin, device_id: int, site_id: int, start: float = -1, end: float | None = None):
    request = pb.CreateInstallationRequest(
        device_id=device_id, site_id=site_id, start_time=ts(start), is_trustworthy=True
    )
    if end is not None:
        request.end_time.CopyFrom(ts(end))
    return (await admin.setup.CreateInstallation(request)).installation


# --- sites -----------------------------------------------------------------------------


async def test_site_is_created_and_seen_by_its_group_only(admin):
    user_api, user = await admin.new_user()
    outsider_api, outsider = await admin.new_user()
    site = await create_site(admin, user.group_id, name="Mont Ventoux", lat=44.17, lon=5.27, country="FR", geocode="84")
    assert (site.name, site.group_id, site.lat, site.lon, site.country, site.geocode, site.type) == (
        "Mont Ventoux",
        user.group_id,
        44.17,
        5.27,
        "FR",
        "84",
        TOWER,
    )
    assert site.id > 0 and site.create_time.seconds > 0
    foreign = await create_site(admin, outsider.group_id)

    assert (await user_api.setup.GetSite(pb.GetSiteRequest(site_id=site.id))).site == site
    await expect_status(user_api.setup.GetSite(pb.GetSiteRequest(site_id=foreign.id)), Code.NOT_FOUND)
    await expect_status(user_api.setup.GetSite(pb.GetSiteRequest(site_id=999_999)), Code.NOT_FOUND)
    assert [s.id for s in (await user_api.setup.ListSites(pb.ListSitesRequest())).sites] == [site.id]
    assert list((await user_api.setup.ListSites(pb.ListSitesRequest(group_id=outsider.group_id))).sites) == []
    assert [s.id for s in (await admin.setup.ListSites(pb.ListSitesRequest(group_id=outsider.group_id))).sites] == [
        foreign.id
    ]
    assert {site.id, foreign.id} <= {s.id for s in (await admin.setup.ListSites(pb.ListSitesRequest())).sites}
    # users cannot create sites of any type; they have CreateNoAlertSite
    await expect_status(user_api.setup.CreateSite(site_request(user.group_id)), Code.PERMISSION_DENIED)


async def test_create_site_validates_every_field(admin):
    error = await expect_status(
        admin.setup.CreateSite(
            pb.CreateSiteRequest(name="", lat=90.01, lon=-180.01, country="fr", geocode="", group_id=0)
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"name", "lat", "lon", "country", "geocode", "type", "group_id"}


OUT_OF_RANGE = [
    ({"lat": math.nan}, "lat"),
    ({"lon": math.inf}, "lon"),
    ({"lat": -math.inf}, "lat"),
    ({"country": "FRA"}, "country"),
    ({"country": "F1"}, "country"),
    ({"geocode": "x" * 21}, "geocode"),
    ({"geocode": " 07"}, "geocode"),
    ({"name": "n" * 101}, "name"),
    ({"name": "nul\x00byte"}, "name"),  # PostgreSQL refuses NUL in text: never INTERNAL
    ({"type": 42}, "type"),
]


async def test_create_site_refuses_out_of_range_values(admin):
    group = await admin.create_group()
    for fields, field in OUT_OF_RANGE:  # one server for all cases: keeps the suite fast
        error = await expect_status(admin.setup.CreateSite(site_request(group.id, **fields)), Code.INVALID_ARGUMENT)
        assert violated_fields(error) == {field}, fields


async def test_create_site_limits(admin):
    group = await admin.create_group()
    site = await create_site(admin, group.id, lat=-90.0, lon=180.0, geocode="x" * 20, name="n" * 100)
    assert (site.lat, site.lon) == (-90.0, 180.0)
    await expect_status(admin.setup.CreateSite(site_request(999_999)), Code.NOT_FOUND)
    error = await expect_status(admin.setup.CreateSite(site_request(group.id, name="n" * 100)), Code.ALREADY_EXISTS)
    assert "already has a site named" in error.details()
    other = await admin.create_group()
    assert (await create_site(admin, other.id, name="n" * 100)).group_id == other.id  # names are unique per group


async def test_no_alert_site_is_in_the_callers_group(admin):
    user_api, user = await admin.new_user()
    site = (
        await user_api.setup.CreateNoAlertSite(
            pb.CreateNoAlertSiteRequest(name="my garden", lat=43.0, lon=5.0, country="FR", geocode="13")
        )
    ).site
    assert (site.type, site.group_id) == (NO_ALERT, user.group_id)
    error = await expect_status(
        user_api.setup.CreateNoAlertSite(
            pb.CreateNoAlertSiteRequest(name="bad", lat=200.0, lon=5.0, country="France", geocode="13")
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"lat", "country"}
    await expect_status(
        user_api.setup.CreateNoAlertSite(
            pb.CreateNoAlertSiteRequest(name="my garden", lat=43.0, lon=5.0, country="FR", geocode="13")
        ),
        Code.ALREADY_EXISTS,
    )


async def test_update_site(admin):
    user_api, user = await admin.new_user()
    outsider_api, _ = await admin.new_user()
    site = await create_site(admin, user.group_id, name="old name")
    taken = await create_site(admin, user.group_id)

    def update(client, fields, *paths, site_id=site.id):
        return client.setup.UpdateSite(
            pb.UpdateSiteRequest(site_id=site_id, site=resources_pb2.Site(**fields), update_mask=mask(*paths))
        )

    updated = (await update(user_api, {"name": "new name", "lat": -12.5, "lon": 99.0}, "name", "lat")).site
    assert (updated.name, updated.lat, updated.lon, updated.type) == ("new name", -12.5, site.lon, TOWER)
    assert (await admin.setup.GetSite(pb.GetSiteRequest(site_id=site.id))).site == updated

    error = await expect_status(update(user_api, {"type": NO_ALERT}, "type"), Code.PERMISSION_DENIED)
    assert "type" in error.details()
    assert (await update(admin, {"type": NO_ALERT}, "type")).site.type == NO_ALERT
    await expect_status(update(outsider_api, {"name": "mine"}, "name"), Code.NOT_FOUND)
    await expect_status(update(admin, {"name": "x"}, "name", site_id=999_999), Code.NOT_FOUND)
    error = await expect_status(
        update(user_api, {"country": "fr", "lon": 181.0}, "country", "lon"), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"site.country", "site.lon"}
    error = await expect_status(update(admin, {"type": 0}, "type"), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"site.type"}
    error = await expect_status(update(admin, {"group_id": 1}, "group_id"), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"update_mask"}
    await expect_status(update(admin, {"name": "y"}), Code.INVALID_ARGUMENT)
    await expect_status(update(user_api, {"name": taken.name}, "name"), Code.ALREADY_EXISTS)


async def test_delete_site_needs_its_installations_deleted_first(admin):
    user_api, user = await admin.new_user()
    _, device = await admin.new_device(user.id)
    site = await create_site(admin, user.group_id)
    installation = await install(admin, device.id, site.id)
    error = await expect_status(admin.setup.DeleteSite(pb.DeleteSiteRequest(site_id=site.id)), Code.FAILED_PRECONDITION)
    assert "installations" in error.details() and str(site.id) in error.details()
    await admin.setup.DeleteInstallation(pb.DeleteInstallationRequest(installation_id=installation.id))
    await admin.setup.DeleteSite(pb.DeleteSiteRequest(site_id=site.id))
    await expect_status(user_api.setup.GetSite(pb.GetSiteRequest(site_id=site.id)), Code.NOT_FOUND)
    await expect_status(admin.setup.DeleteSite(pb.DeleteSiteRequest(site_id=site.id)), Code.NOT_FOUND)
    await expect_status(user_api.setup.DeleteSite(pb.DeleteSiteRequest(site_id=site.id)), Code.PERMISSION_DENIED)


# --- installations -----------------------------------------------------------------------


async def test_installation_lifecycle(admin):
    user_api, user = await admin.new_user()
    outsider_api, _ = await admin.new_user()
    _, device = await admin.new_device(user.id)
    site = await create_site(admin, user.group_id)
    start, end = ts(-10), ts(10)
    created = (
        await admin.setup.CreateInstallation(
            pb.CreateInstallationRequest(
                device_id=device.id, site_id=site.id, start_time=start, end_time=end, is_trustworthy=True
            )
        )
    ).installation
    assert (created.device_id, created.site_id, created.is_trustworthy) == (device.id, site.id, True)
    assert (created.start_time, created.end_time) == (start, end)

    get = pb.GetInstallationRequest(installation_id=created.id)
    assert (await user_api.setup.GetInstallation(get)).installation == created
    await expect_status(outsider_api.setup.GetInstallation(get), Code.NOT_FOUND)
    assert [i.id for i in (await user_api.setup.ListInstallations(pb.ListInstallationsRequest())).installations] == [
        created.id
    ]
    assert list((await outsider_api.setup.ListInstallations(pb.ListInstallationsRequest())).installations) == []
    filtered = await admin.setup.ListInstallations(pb.ListInstallationsRequest(group_id=user.group_id))
    assert [i.id for i in filtered.installations] == [created.id]

    def update(client, installation, *paths):
        return client.setup.UpdateInstallation(
            pb.UpdateInstallationRequest(
                installation_id=created.id, installation=installation, update_mask=mask(*paths)
            )
        )

    updated = (
        await update(
            user_api, resources_pb2.Installation(is_trustworthy=False, start_time=ts(-99)), "is_trustworthy", "end_time"
        )
    ).installation
    assert not updated.is_trustworthy and not updated.HasField("end_time") and updated.start_time == start
    await expect_status(
        update(outsider_api, resources_pb2.Installation(is_trustworthy=True), "is_trustworthy"), Code.NOT_FOUND
    )
    error = await expect_status(update(user_api, resources_pb2.Installation(), "start_time"), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"installation.start_time"}
    await update(user_api, resources_pb2.Installation(end_time=ts(-5)), "end_time")
    error = await expect_status(
        update(user_api, resources_pb2.Installation(end_time=ts(-20)), "end_time"), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"installation.end_time"}
    error = await expect_status(
        update(user_api, resources_pb2.Installation(start_time=ts(-1)), "start_time"), Code.INVALID_ARGUMENT
    )
    assert violated_fields(error) == {"installation.start_time"}
    error = await expect_status(update(user_api, resources_pb2.Installation(), "device_id"), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"update_mask"}

    await expect_status(
        user_api.setup.DeleteInstallation(pb.DeleteInstallationRequest(installation_id=created.id)),
        Code.PERMISSION_DENIED,
    )
    await admin.setup.DeleteInstallation(pb.DeleteInstallationRequest(installation_id=created.id))
    await expect_status(admin.setup.GetInstallation(get), Code.NOT_FOUND)
    await expect_status(
        admin.setup.DeleteInstallation(pb.DeleteInstallationRequest(installation_id=created.id)), Code.NOT_FOUND
    )


async def test_create_installation_checks_period_rows_and_groups(admin):
    _, user = await admin.new_user()
    _, outsider = await admin.new_user()
    _, device = await admin.new_device(user.id)
    _, foreign_device = await admin.new_device(outsider.id)
    site = await create_site(admin, user.group_id)

    error = await expect_status(
        admin.setup.CreateInstallation(
            pb.CreateInstallationRequest(device_id=device.id, site_id=site.id, start_time=ts(0), end_time=ts(-1))
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"end_time"}
    error = await expect_status(admin.setup.CreateInstallation(pb.CreateInstallationRequest()), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"device_id", "site_id", "start_time"}
    bad_nanos = pb.CreateInstallationRequest(
        device_id=device.id, site_id=site.id, start_time=timestamp_pb2.Timestamp(nanos=-1)
    )
    await expect_status(admin.setup.CreateInstallation(bad_nanos), Code.INVALID_ARGUMENT)
    await expect_status(
        admin.setup.CreateInstallation(
            pb.CreateInstallationRequest(device_id=999_999, site_id=site.id, start_time=ts(0))
        ),
        Code.NOT_FOUND,
    )
    await expect_status(
        admin.setup.CreateInstallation(
            pb.CreateInstallationRequest(device_id=device.id, site_id=999_999, start_time=ts(0))
        ),
        Code.NOT_FOUND,
    )
    error = await expect_status(
        admin.setup.CreateInstallation(
            pb.CreateInstallationRequest(device_id=foreign_device.id, site_id=site.id, start_time=ts(0))
        ),
        Code.FAILED_PRECONDITION,
    )
    assert "different groups" in error.details()


async def test_list_site_devices_lists_active_installations_once(admin):
    user_api, user = await admin.new_user()
    outsider_api, _ = await admin.new_user()
    site = await create_site(admin, user.group_id)
    other_site = await create_site(admin, user.group_id)
    devices = [(await admin.new_device(user.id))[1] for _ in range(6)]
    active, twice, open_ended, ended, future, elsewhere = devices
    await install(admin, active.id, site.id, start=-3, end=3)
    await install(admin, twice.id, site.id, start=-3)
    await install(admin, twice.id, site.id, start=-1, end=1)
    await install(admin, open_ended.id, site.id, start=-1)
    await install(admin, ended.id, site.id, start=-3, end=-1)
    await install(admin, future.id, site.id, start=1)
    await install(admin, elsewhere.id, other_site.id, start=-1)

    expected = sorted([active.id, twice.id, open_ended.id], reverse=True)
    listed = await user_api.setup.ListSiteDevices(pb.ListSiteDevicesRequest(site_id=site.id))
    assert list(listed.device_ids) == expected and not listed.next_page_token
    seen, token = [], ""
    while True:
        page = await admin.setup.ListSiteDevices(
            pb.ListSiteDevicesRequest(site_id=site.id, page_size=2, page_token=token)
        )
        seen.extend(page.device_ids)
        token = page.next_page_token
        if not token:
            break
    assert seen == expected
    await expect_status(outsider_api.setup.ListSiteDevices(pb.ListSiteDevicesRequest(site_id=site.id)), Code.NOT_FOUND)
    await expect_status(admin.setup.ListSiteDevices(pb.ListSiteDevicesRequest(site_id=999_999)), Code.NOT_FOUND)
