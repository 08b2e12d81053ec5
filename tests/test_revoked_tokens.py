"""Tokens do not outlive their account: once it is deleted or moved to another scope or group,
its tokens get UNAUTHENTICATED (log in again), at once on the server that made the change
and within `access_recheck_seconds` on the others."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from pyrogrpc.domain.access_check import AccessCheck
from pyrogrpc.domain.errors import Unauthenticated
from pyrogrpc.domain.principal import Principal, Scope
from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import detection_service_pb2 as detection_pb
from pyronear.v1 import resources_pb2 as res
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.helpers import USER_PASSWORD, Api, eventually, expect_status, user_on_two_replicas

Code = grpc.StatusCode


class CountingUow:
    """The server's one-statement units of work, counted: each is one read of accounts.
    `during_read(n)` runs as read n starts."""

    def __init__(self, server, during_read=None):
        self._server = server
        self._during_read = during_read
        self.reads = 0

    def __call__(self):
        self.reads += 1
        if self._during_read is not None:
            self._during_read(self.reads)
        return self._server.single_statement_uow()


def _list_alerts(api: Api):
    return api.detection.ListAlerts(detection_pb.ListAlertsRequest())


async def test_deleted_user_token_is_refused(admin):
    user_api, user = await admin.new_user()
    await _list_alerts(user_api)
    await admin.access.DeleteUser(access_pb.DeleteUserRequest(user_id=user.id))
    error = await expect_status(_list_alerts(user_api), Code.UNAUTHENTICATED)
    assert error.details() == "the account of this access token no longer exists"


async def test_demoted_admin_keeps_no_admin_right(admin):
    other_admin_api, other_admin = await admin.new_user(scope=res.SCOPE_ADMIN)
    await other_admin_api.access.ListAccesses(access_pb.ListAccessesRequest())  # an admin-only RPC
    demote = access_pb.UpdateUserRequest(
        user_id=other_admin.id,
        user=res.User(scope=res.SCOPE_USER),
        update_mask=field_mask_pb2.FieldMask(paths=["scope"]),
    )
    await admin.access.UpdateUser(demote)
    error = await expect_status(
        other_admin_api.access.ListAccesses(access_pb.ListAccessesRequest()), Code.UNAUTHENTICATED
    )
    assert "scope or group changed" in error.details()
    await expect_status(_list_alerts(other_admin_api), Code.UNAUTHENTICATED)  # any RPC: the token is stale
    # Logged in again, it has the rights of its new scope.
    fresh = await admin.login(other_admin.login, USER_PASSWORD)
    await expect_status(fresh.access.ListAccesses(access_pb.ListAccessesRequest()), Code.PERMISSION_DENIED)
    await _list_alerts(fresh)


async def test_user_moved_to_another_group_must_log_in_again(admin):
    user_api, user = await admin.new_user()
    new_group = await admin.create_group()
    move = access_pb.UpdateUserRequest(
        user_id=user.id, user=res.User(group_id=new_group.id), update_mask=field_mask_pb2.FieldMask(paths=["group_id"])
    )
    await admin.access.UpdateUser(move)
    await expect_status(user_api.access.GetMyUser(access_pb.GetMyUserRequest()), Code.UNAUTHENTICATED)
    fresh = await admin.login(user.login, USER_PASSWORD)
    assert (await fresh.access.GetMyUser(access_pb.GetMyUserRequest())).user.group_id == new_group.id


async def test_unrelated_changes_keep_tokens_valid(admin):
    """Renaming the account or changing another account's scope revokes nothing."""
    user_api, user = await admin.new_user()
    mate_api, mate = await admin.new_user(user.group_id)
    rename = access_pb.UpdateUserRequest(
        user_id=user.id,
        user=res.User(login=f"{user.login}-renamed"),
        update_mask=field_mask_pb2.FieldMask(paths=["login"]),
    )
    await admin.access.UpdateUser(rename)
    promote_mate = access_pb.UpdateUserRequest(
        user_id=mate.id, user=res.User(scope=res.SCOPE_ADMIN), update_mask=field_mask_pb2.FieldMask(paths=["scope"])
    )
    await admin.access.UpdateUser(promote_mate)
    assert (await user_api.access.GetMyUser(access_pb.GetMyUserRequest())).user.login == f"{user.login}-renamed"
    await expect_status(mate_api.access.GetMyUser(access_pb.GetMyUserRequest()), Code.UNAUTHENTICATED)


async def test_deleted_device_token_is_refused_even_where_no_device_row_is_read(admin):
    _, owner = await admin.new_user()
    camera, device = await admin.new_device(owner.id)
    await camera.access.GetGroup(access_pb.GetGroupRequest(group_id=device.group_id))  # any scope may call it
    await admin.setup.DeleteDevice(setup_pb.DeleteDeviceRequest(device_id=device.id))
    await expect_status(
        camera.access.GetGroup(access_pb.GetGroupRequest(group_id=device.group_id)), Code.UNAUTHENTICATED
    )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_other_replicas_refuse_the_token_within_the_recheck_interval(server_factory, database_url):
    async with user_on_two_replicas(server_factory, access_recheck_seconds=0.3) as (admin, user, on_replica):
        await _list_alerts(on_replica)  # the replica has read the account
        await admin.access.DeleteUser(access_pb.DeleteUserRequest(user_id=user.id))

        async def refused() -> bool:
            try:
                await _list_alerts(on_replica)
            except grpc.aio.AioRpcError as error:
                assert error.code() == Code.UNAUTHENTICATED, error
                return True
            return False

        # Refused after one recheck interval (0.3 s) on a quiet machine; polled, not slept.
        await eventually(refused)


async def test_an_account_is_read_once_per_interval_and_again_after_a_local_change(server, admin):
    _, user = await admin.new_user()
    now = 1000.0
    uow = CountingUow(server)
    check = AccessCheck(uow, recheck_seconds=10.0, clock=lambda: now)
    principal = Principal(user.access_id, Scope.USER, user.group_id)
    for _ in range(5):
        await check.confirm(principal)
    assert uow.reads == 1
    now += 10.0
    await check.confirm(principal)
    assert uow.reads == 2
    check.tables_changed(frozenset({"webhooks"}))
    await check.confirm(principal)
    assert uow.reads == 2
    check.tables_changed(frozenset({"accesses"}))
    await check.confirm(principal)
    assert uow.reads == 3
    with pytest.raises(Unauthenticated):
        await check.confirm(Principal(user.access_id, Scope.ADMIN, user.group_id))


async def test_a_read_overtaken_by_a_local_change_is_not_kept(server, admin):
    _, user = await admin.new_user()

    def change_during_the_first_read(read: int) -> None:
        if read == 1:
            check.tables_changed(frozenset({"accesses"}))

    uow = CountingUow(server, during_read=change_during_the_first_read)
    check = AccessCheck(uow, recheck_seconds=60.0)
    principal = Principal(user.access_id, Scope.USER, user.group_id)
    await check.confirm(principal)
    await check.confirm(principal)
    assert uow.reads == 2  # the first read may predate the change: it was used once, not kept
    await check.confirm(principal)
    assert uow.reads == 2


async def test_streams_accounts_are_read_in_batches(server, admin):
    """revoked() reads 600 accounts in two queries (500 per query) and names exactly the changed ones."""
    _, user = await admin.new_user()
    uow = CountingUow(server)
    check = AccessCheck(uow)
    valid = Principal(user.access_id, Scope.USER, user.group_id)
    moved = Principal(user.access_id, Scope.USER, user.group_id + 1)
    missing = [Principal(10_000_000 + n, Scope.USER, user.group_id) for n in range(598)]
    revoked = await check.revoked([valid, moved, *missing])
    assert uow.reads == 2
    assert set(revoked) == {moved, *missing}
    assert revoked[moved].startswith("the account's scope or group changed")
    await check.confirm(valid)  # remembered by the batch: no further read
    assert uow.reads == 2
