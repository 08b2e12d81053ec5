"""AccessService through a real channel: login, groups, accesses, users, my-user RPCs."""

from __future__ import annotations

import time

import grpc
import jwt
import pytest
from google.protobuf import field_mask_pb2

from pyronear.v1 import access_service_pb2 as pb
from pyronear.v1 import resources_pb2
from tests.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, JWT_SECRET
from tests.helpers import USER_PASSWORD, expect_status, rich_status, violated_fields

Code = grpc.StatusCode


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


# --- login ---------------------------------------------------------------------------


async def test_login_returns_bearer_token_with_scope_and_expiry(api):
    before = time.time()
    response = await api.access.Login(pb.LoginRequest(login=ADMIN_LOGIN, password=ADMIN_PASSWORD))
    assert response.token_type == "bearer"
    assert response.scope == resources_pb2.SCOPE_ADMIN
    # users' tokens last 60 minutes by default
    assert 59 * 60 <= response.expire_time.seconds - before <= 61 * 60
    claims = jwt.decode(response.access_token, JWT_SECRET, algorithms=["HS256"])
    assert claims["scope"] == "admin"


async def test_wrong_login_and_wrong_password_are_indistinguishable(api):
    wrong_password = await expect_status(
        api.access.Login(pb.LoginRequest(login=ADMIN_LOGIN, password="nope-nope")), Code.UNAUTHENTICATED
    )
    wrong_login = await expect_status(
        api.access.Login(pb.LoginRequest(login="nobody", password="nope-nope")), Code.UNAUTHENTICATED
    )
    assert wrong_password.details() == wrong_login.details()


async def test_my_user_after_login(admin):
    me = (await admin.access.GetMyUser(pb.GetMyUserRequest())).user
    assert me.login == ADMIN_LOGIN and me.scope == resources_pb2.SCOPE_ADMIN and me.id > 0 and me.group_id > 0


# --- tokens --------------------------------------------------------------------------


def _token(secret: str = JWT_SECRET, **claims) -> str:
    now = int(time.time())
    payload = {"sub": "1", "scope": "admin", "group_id": 1, "iat": now, "exp": now + 600, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


@pytest.mark.parametrize(
    "metadata, message",
    [
        ((), "missing access token"),
        ((("authorization", "Basic abc"),), "Bearer"),
        ((("authorization", "Bearer not-a-jwt"),), "invalid access token"),
        ((("authorization", "Bearer " + _token(exp=int(time.time()) - 10)),), "expired"),
        ((("authorization", "Bearer " + _token(secret="another-secret-" + "y" * 40)),), "invalid access token"),
        ((("authorization", "Bearer " + _token(scope="root")),), "invalid access token"),
    ],
    ids=["none", "not-bearer", "malformed", "expired", "other-key", "unknown-scope"],
)
async def test_bad_tokens_are_unauthenticated(api, metadata, message):
    error = await expect_status(api.access.GetMyUser(pb.GetMyUserRequest(), metadata=metadata), Code.UNAUTHENTICATED)
    assert message in error.details()


async def test_unsigned_token_is_refused(api):
    unsigned = jwt.encode(
        {"sub": "1", "scope": "admin", "group_id": 1, "exp": int(time.time()) + 60}, None, algorithm="none"
    )
    await expect_status(
        api.access.ListGroups(pb.ListGroupsRequest(), metadata=(("authorization", f"Bearer {unsigned}"),)),
        Code.UNAUTHENTICATED,
    )


async def test_user_scope_cannot_call_admin_rpcs(admin):
    user_api, _ = await admin.new_user()
    for call in (
        user_api.access.CreateGroup(pb.CreateGroupRequest(name="x-group")),
        user_api.access.ListAccesses(pb.ListAccessesRequest()),
        user_api.access.GetUser(pb.GetUserRequest(user_id=1)),
        user_api.access.CreateUser(pb.CreateUserRequest(login="abc", password="12345678", scope=2, group_id=1)),
    ):
        error = await expect_status(call, Code.PERMISSION_DENIED)
        assert "scope user" in error.details()


# --- groups --------------------------------------------------------------------------


async def test_group_crud_and_unique_name(admin):
    group = await admin.create_group("firefighters-13")
    assert group.id > 0 and group.name == "firefighters-13" and group.create_time.seconds > 0
    await expect_status(admin.access.CreateGroup(pb.CreateGroupRequest(name="firefighters-13")), Code.ALREADY_EXISTS)
    renamed = (
        await admin.access.UpdateGroup(
            pb.UpdateGroupRequest(
                group_id=group.id, group=resources_pb2.Group(name="firefighters-83"), update_mask=mask("name")
            )
        )
    ).group
    assert renamed.name == "firefighters-83"
    assert (await admin.access.GetGroup(pb.GetGroupRequest(group_id=group.id))).group.name == "firefighters-83"
    await admin.access.DeleteGroup(pb.DeleteGroupRequest(group_id=group.id))
    await expect_status(admin.access.GetGroup(pb.GetGroupRequest(group_id=group.id)), Code.NOT_FOUND)


async def test_update_mask_is_required_and_checked(admin):
    group = await admin.create_group()
    error = await expect_status(
        admin.access.UpdateGroup(pb.UpdateGroupRequest(group_id=group.id, group=resources_pb2.Group(name="n"))),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"update_mask"}
    error = await expect_status(
        admin.access.UpdateGroup(pb.UpdateGroupRequest(group_id=group.id, update_mask=mask("id"))),
        Code.INVALID_ARGUMENT,
    )
    assert "cannot change 'id'" in error.details()


async def test_invalid_group_name_has_field_violation_and_error_info(admin):
    error = await expect_status(admin.access.CreateGroup(pb.CreateGroupRequest(name="")), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {"name"}
    reasons = [d.type_url for d in rich_status(error).details]
    assert any(url.endswith("google.rpc.ErrorInfo") for url in reasons)
    await expect_status(admin.access.CreateGroup(pb.CreateGroupRequest(name="x" * 101)), Code.INVALID_ARGUMENT)


async def test_delete_group_with_members_is_failed_precondition(admin):
    group = await admin.create_group()
    await admin.create_user(group.id)
    error = await expect_status(
        admin.access.DeleteGroup(pb.DeleteGroupRequest(group_id=group.id)), Code.FAILED_PRECONDITION
    )
    assert str(group.id) in error.details()


async def test_non_admin_sees_only_its_group(admin):
    user_api, user = await admin.new_user()
    other = await admin.create_group()
    listed = (await user_api.access.ListGroups(pb.ListGroupsRequest())).groups
    assert [g.id for g in listed] == [user.group_id]
    await expect_status(user_api.access.GetGroup(pb.GetGroupRequest(group_id=other.id)), Code.NOT_FOUND)
    assert (await user_api.access.GetGroup(pb.GetGroupRequest(group_id=user.group_id))).group.id == user.group_id


# --- users and accesses ------------------------------------------------------------------


async def test_create_user_validates_every_field(admin):
    error = await expect_status(
        admin.access.CreateUser(
            pb.CreateUserRequest(login="a", password="short", scope=resources_pb2.SCOPE_DEVICE, group_id=0)
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"login", "password", "scope", "group_id"}


async def test_create_user_unknown_group_and_duplicate_login(admin):
    await expect_status(
        admin.access.CreateUser(
            pb.CreateUserRequest(login="someone", password=USER_PASSWORD, scope=2, group_id=999_999)
        ),
        Code.NOT_FOUND,
    )
    group = await admin.create_group()
    await admin.create_user(group.id, login="taken-login")
    await expect_status(
        admin.access.CreateUser(
            pb.CreateUserRequest(login="taken-login", password=USER_PASSWORD, scope=2, group_id=group.id)
        ),
        Code.ALREADY_EXISTS,
    )


async def test_accesses_never_expose_password_hashes(admin):
    group = await admin.create_group()
    user = await admin.create_user(group.id)
    access = (await admin.access.GetAccess(pb.GetAccessRequest(access_id=user.access_id))).access
    assert access.login == user.login and access.scope == resources_pb2.SCOPE_USER and access.group_id == group.id
    assert "hashed_password" not in resources_pb2.Access.DESCRIPTOR.fields_by_name
    listed = (await admin.access.ListAccesses(pb.ListAccessesRequest())).accesses
    assert {a.login for a in listed} >= {ADMIN_LOGIN, user.login}
    await expect_status(admin.access.GetAccess(pb.GetAccessRequest(access_id=999_999)), Code.NOT_FOUND)


async def test_user_lifecycle(admin):
    group = await admin.create_group()
    other_group = await admin.create_group()
    user = await admin.create_user(group.id)
    got = (await admin.access.GetUser(pb.GetUserRequest(user_id=user.id))).user
    assert got == user
    updated = (
        await admin.access.UpdateUser(
            pb.UpdateUserRequest(
                user_id=user.id,
                user=resources_pb2.User(login="renamed-user", scope=resources_pb2.SCOPE_ADMIN, group_id=other_group.id),
                update_mask=mask("login", "scope", "group_id"),
            )
        )
    ).user
    assert (updated.login, updated.scope, updated.group_id) == (
        "renamed-user",
        resources_pb2.SCOPE_ADMIN,
        other_group.id,
    )
    await admin.access.UpdateUserPassword(pb.UpdateUserPasswordRequest(user_id=user.id, password="brand-new-password"))
    await expect_status(admin.login("renamed-user", USER_PASSWORD), Code.UNAUTHENTICATED)
    renamed_api = await admin.login("renamed-user", "brand-new-password")
    assert (await renamed_api.access.GetMyUser(pb.GetMyUserRequest())).user.scope == resources_pb2.SCOPE_ADMIN
    await admin.access.DeleteUser(pb.DeleteUserRequest(user_id=user.id))
    await expect_status(admin.access.GetUser(pb.GetUserRequest(user_id=user.id)), Code.NOT_FOUND)
    await expect_status(admin.login("renamed-user", "brand-new-password"), Code.UNAUTHENTICATED)
    # a token that outlived its user is refused (see test_revoked_tokens.py)
    error = await expect_status(renamed_api.access.GetMyUser(pb.GetMyUserRequest()), Code.UNAUTHENTICATED)
    assert "no longer exists" in error.details()


async def test_update_user_cannot_make_a_device(admin):
    user = await admin.create_user((await admin.create_group()).id)
    error = await expect_status(
        admin.access.UpdateUser(
            pb.UpdateUserRequest(
                user_id=user.id, user=resources_pb2.User(scope=resources_pb2.SCOPE_DEVICE), update_mask=mask("scope")
            )
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"user.scope"}


async def test_admin_cannot_delete_itself(admin):
    me = (await admin.access.GetMyUser(pb.GetMyUserRequest())).user
    await expect_status(admin.access.DeleteUser(pb.DeleteUserRequest(user_id=me.id)), Code.FAILED_PRECONDITION)


async def test_list_users_is_group_scoped_for_users(admin):
    user_api, user = await admin.new_user()
    mate = await admin.create_user(user.group_id)
    outsider_api, outsider = await admin.new_user()
    seen = {u.id for u in (await user_api.access.ListUsers(pb.ListUsersRequest())).users}
    assert seen == {user.id, mate.id}
    # asking for another group's users cannot widen what a user sees
    widened = (await user_api.access.ListUsers(pb.ListUsersRequest(group_id=outsider.group_id))).users
    assert list(widened) == []
    all_ids = {u.id for u in (await admin.access.ListUsers(pb.ListUsersRequest(page_size=1000))).users}
    assert {user.id, mate.id, outsider.id} <= all_ids
    filtered = (await admin.access.ListUsers(pb.ListUsersRequest(group_id=outsider.group_id))).users
    assert [u.id for u in filtered] == [outsider.id]


async def test_update_my_user_and_password(admin):
    user_api, user = await admin.new_user()
    me = (
        await user_api.access.UpdateMyUser(
            pb.UpdateMyUserRequest(user=resources_pb2.User(login="my-new-login"), update_mask=mask("login"))
        )
    ).user
    assert me.login == "my-new-login" and me.id == user.id
    await expect_status(
        user_api.access.UpdateMyUser(
            pb.UpdateMyUserRequest(user=resources_pb2.User(scope=resources_pb2.SCOPE_ADMIN), update_mask=mask("scope"))
        ),
        Code.INVALID_ARGUMENT,
    )
    error = await expect_status(
        user_api.access.UpdateMyPassword(
            pb.UpdateMyPasswordRequest(current_password="wrong-password", new_password="another-password")
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(error) == {"current_password"}
    await user_api.access.UpdateMyPassword(
        pb.UpdateMyPasswordRequest(current_password=USER_PASSWORD, new_password="another-password")
    )
    await admin.login("my-new-login", "another-password")


# --- pagination ----------------------------------------------------------------------


async def test_paging_returns_every_row_once_newest_first(admin):
    created = [await admin.create_group() for _ in range(7)]
    seen, token = [], ""
    while True:
        page = await admin.access.ListGroups(pb.ListGroupsRequest(page_size=3, page_token=token))
        assert len(page.groups) <= 3
        seen.extend(g.id for g in page.groups)
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) and {g.id for g in created} <= set(seen)


@pytest.mark.parametrize(
    "request_kwargs, field", [({"page_token": "garbage!"}, "page_token"), ({"page_size": -1}, "page_size")]
)
async def test_bad_paging_input(admin, request_kwargs, field):
    error = await expect_status(admin.access.ListGroups(pb.ListGroupsRequest(**request_kwargs)), Code.INVALID_ARGUMENT)
    assert violated_fields(error) == {field}
