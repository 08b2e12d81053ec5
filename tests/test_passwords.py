"""Passwords bcrypt would store as something else (issue 13, item 3).

bcrypt reads a C string of at most 72 bytes: "\\x00" * 8 was stored as the empty password
(then Login with "" succeeded) and a longer password would be cut. Every field a password
enters by is refused with INVALID_ARGUMENT (never cut), and Login never matches such input.
"""

from __future__ import annotations

import bcrypt
import grpc
import pytest

from pyronear.v1 import access_service_pb2 as access_pb
from pyronear.v1 import resources_pb2
from pyronear.v1 import setup_service_pb2 as setup_pb
from tests.helpers import USER_PASSWORD, expect_status, violated_fields

Code = grpc.StatusCode

NUL_ONLY = "\x00" * 8
NUL_INSIDE = "password\x00tail"
TOO_LONG = "é" * 37  # 37 characters, 74 bytes in UTF-8
LONGEST = "é" * 36  # 72 bytes: the limit itself is accepted
BAD_PASSWORDS = [
    pytest.param(NUL_ONLY, id="nul-only"),
    pytest.param(NUL_INSIDE, id="nul-inside"),
    pytest.param(TOO_LONG, id="73-plus-bytes"),
]


async def _password_calls(admin, password: str):
    """(call, field) for every RPC that stores a password, each given `password`."""
    group = await admin.create_group()
    user_api, user = await admin.new_user(group.id)
    _, device = await admin.new_device(user.id)
    return [
        (
            admin.access.CreateUser(
                access_pb.CreateUserRequest(
                    login="new-user-x", password=password, scope=resources_pb2.SCOPE_USER, group_id=group.id
                )
            ),
            "password",
        ),
        (
            admin.access.UpdateUserPassword(access_pb.UpdateUserPasswordRequest(user_id=user.id, password=password)),
            "password",
        ),
        (
            user_api.access.UpdateMyPassword(
                access_pb.UpdateMyPasswordRequest(current_password=USER_PASSWORD, new_password=password)
            ),
            "new_password",
        ),
        (
            admin.setup.CreateDevice(
                setup_pb.CreateDeviceRequest(login="new-cam-x", password=password, owner_id=user.id)
            ),
            "password",
        ),
        (
            user_api.setup.RegisterDevice(setup_pb.RegisterDeviceRequest(login="new-cam-y", password=password)),
            "password",
        ),
        (
            admin.setup.UpdateDevicePassword(
                setup_pb.UpdateDevicePasswordRequest(device_id=device.id, password=password)
            ),
            "password",
        ),
    ]


@pytest.mark.parametrize("password", BAD_PASSWORDS)
async def test_every_password_field_refuses_what_bcrypt_would_cut(admin, password):
    for call, field in await _password_calls(admin, password):
        error = await expect_status(call, Code.INVALID_ARGUMENT)
        assert violated_fields(error) == {field}, error.details()


async def test_72_bytes_is_accepted_and_is_the_whole_password(admin):
    group = await admin.create_group()
    await admin.create_user(group.id, login="long-password", password=LONGEST)
    await admin.login("long-password", LONGEST)
    # bcrypt would accept any continuation past 72 bytes; the 71-byte prefix is a different password.
    await expect_status(admin.login("long-password", LONGEST[:-1] + "e"), Code.UNAUTHENTICATED)


@pytest.mark.parametrize("password", ["", "\x00", NUL_ONLY, USER_PASSWORD + "\x00", "x" * 73])
async def test_login_never_matches_a_password_bcrypt_would_cut(server, admin, password):
    """Even an account stored before the fix with "\\x00" * 8 (= the empty password to bcrypt)."""
    group = await admin.create_group()
    user = await admin.create_user(group.id)
    hashed = bcrypt.hashpw(b"\x00" * 8, bcrypt.gensalt(4))
    async with server.uow() as uow:
        row = await uow.users.get(user.id)
        row.access.hashed_password = hashed.decode()
        await uow.commit()
    error = await expect_status(admin.login(user.login, password), Code.UNAUTHENTICATED)
    assert error.details() == "wrong login or password"
