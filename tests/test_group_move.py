"""A user moved to another group (issue 13, item 2).

Rule: a user who owns devices cannot change group (FAILED_PRECONDITION, ErrorInfo reason
USER_OWNS_DEVICES): its devices, their media, alerts and events live in its group, so the
caller gives the devices another owner or deletes them first. And "my devices" are always
limited to the caller's group, so even a row left inconsistent (moved before this rule)
never shows another group's camera.
"""

from __future__ import annotations

import grpc
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2

from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import resources_pb2
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.helpers import USER_PASSWORD, expect_status, rich_status

Code = grpc.StatusCode


def _move(admin, user_id: int, group_id: int):
    request = access_pb.UpdateUserRequest(
        user_id=user_id,
        user=resources_pb2.User(group_id=group_id),
        update_mask=field_mask_pb2.FieldMask(paths=["group_id"]),
    )
    return admin.access.UpdateUser(request)


def _reason(error: grpc.aio.AioRpcError) -> str:
    info = error_details_pb2.ErrorInfo()
    for detail in rich_status(error).details:
        if detail.Unpack(info):
            return info.reason
    return ""


async def test_an_owner_of_devices_cannot_change_group(admin):
    old, new = await admin.create_group(), await admin.create_group()
    owner_api, owner = await admin.new_user(old.id)
    _, device = await admin.new_device(owner.id)

    error = await expect_status(_move(admin, owner.id, new.id), Code.FAILED_PRECONDITION)
    assert _reason(error) == "USER_OWNS_DEVICES"
    assert f"owns devices ({device.id})" in error.details() and "UpdateDevice owner_id" in error.details()
    # Nothing moved: the owner still sees its device, in its group.
    listed = (await owner_api.setup.ListMyDevices(setup_pb.ListMyDevicesRequest())).devices
    assert [d.id for d in listed] == [device.id]

    # Once the device has another owner, the move is accepted and the device stays behind.
    colleague = await admin.create_user(old.id)
    await admin.setup.UpdateDevice(
        setup_pb.UpdateDeviceRequest(
            device_id=device.id,
            device=resources_pb2.Device(owner_id=colleague.id),
            update_mask=field_mask_pb2.FieldMask(paths=["owner_id"]),
        )
    )
    moved = (await _move(admin, owner.id, new.id)).user
    assert moved.group_id == new.id
    relogged = await admin.login(owner.login, USER_PASSWORD)
    assert list((await relogged.setup.ListMyDevices(setup_pb.ListMyDevicesRequest())).devices) == []
    await expect_status(relogged.setup.GetDevice(setup_pb.GetDeviceRequest(device_id=device.id)), Code.NOT_FOUND)


async def test_moving_to_the_same_group_or_without_devices_is_accepted(admin):
    old, new = await admin.create_group(), await admin.create_group()
    owner = await admin.create_user(old.id)
    await admin.new_device(owner.id)
    assert (await _move(admin, owner.id, old.id)).user.group_id == old.id  # no change: nothing left behind
    plain = await admin.create_user(old.id)
    assert (await _move(admin, plain.id, new.id)).user.group_id == new.id


async def test_my_devices_never_lists_another_groups_row(server, admin):
    """Even when an owner's group and its devices' group disagree (a move made before the rule)."""
    old, new = await admin.create_group(), await admin.create_group()
    _, owner = await admin.new_user(old.id)
    _, device = await admin.new_device(owner.id)
    async with server.uow() as uow:  # the state the old UpdateUser left behind
        row = await uow.users.get(owner.id)
        row.access.group_id = new.id
        await uow.commit()
    relogged = await admin.login(owner.login, USER_PASSWORD)
    assert list((await relogged.setup.ListMyDevices(setup_pb.ListMyDevicesRequest())).devices) == []
    await expect_status(relogged.setup.GetDevice(setup_pb.GetDeviceRequest(device_id=device.id)), Code.NOT_FOUND)
    location = setup_pb.UpdateDeviceLocationRequest(device_id=device.id, lat=45.0)
    await expect_status(relogged.setup.UpdateDeviceLocation(location), Code.NOT_FOUND)
