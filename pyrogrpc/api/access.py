"""AccessService servicer: translates messages and calls `AccountService`."""

from __future__ import annotations

from pyronear.v1 import access_service_pb2 as pb
from pyronear.v1 import access_service_pb2_grpc, resources_pb2

from ..domain.accounts import AccountService
from ..domain.principal import Scope
from .auth import current_principal
from .convert import (
    changes_from_mask,
    enum_to_proto,
    optional,
    page_request,
    page_response,
    scope_from_proto,
    to_proto,
    to_timestamp,
    user_to_proto,
)


def _group(row) -> resources_pb2.Group:
    return to_proto(resources_pb2.Group, row)


def _access(row) -> resources_pb2.Access:
    return to_proto(resources_pb2.Access, row)


def _user_changes(resource, mask, allowed, prefix="user"):
    changes = changes_from_mask(resource, mask, allowed, prefix=prefix)
    if "scope" in changes:
        changes["scope"] = Scope(changes["scope"])
    return changes


class AccessServicer(access_service_pb2_grpc.AccessServiceServicer):
    def __init__(self, accounts: AccountService):
        self._accounts = accounts

    async def Login(self, request, context):
        token = await self._accounts.login(request.login, request.password)
        return pb.LoginResponse(
            access_token=token.token,
            token_type="bearer",
            expire_time=to_timestamp(token.expire_time),
            scope=enum_to_proto(resources_pb2.Scope.DESCRIPTOR, token.scope.value),
        )

    # --- groups ----------------------------------------------------------------------

    async def CreateGroup(self, request, context):
        return pb.CreateGroupResponse(group=_group(await self._accounts.create_group(request.name)))

    async def UpdateGroup(self, request, context):
        changes = changes_from_mask(request.group, request.update_mask, {"name"}, prefix="group")
        return pb.UpdateGroupResponse(group=_group(await self._accounts.update_group(request.group_id, changes)))

    async def DeleteGroup(self, request, context):
        await self._accounts.delete_group(request.group_id)
        return pb.DeleteGroupResponse()

    async def GetGroup(self, request, context):
        group = await self._accounts.get_group(current_principal(), request.group_id)
        return pb.GetGroupResponse(group=_group(group))

    async def ListGroups(self, request, context):
        page = await self._accounts.list_groups(current_principal(), page_request(request))
        return page_response(pb.ListGroupsResponse, "groups", page, _group)

    # --- accesses --------------------------------------------------------------------

    async def GetAccess(self, request, context):
        return pb.GetAccessResponse(access=_access(await self._accounts.get_access(request.access_id)))

    async def ListAccesses(self, request, context):
        page = await self._accounts.list_accesses(page_request(request))
        return page_response(pb.ListAccessesResponse, "accesses", page, _access)

    # --- users -----------------------------------------------------------------------

    async def CreateUser(self, request, context):
        user = await self._accounts.create_user(
            request.login, request.password, scope_from_proto(request.scope), request.group_id
        )
        return pb.CreateUserResponse(user=user_to_proto(user))

    async def GetUser(self, request, context):
        user = await self._accounts.get_user(current_principal(), request.user_id)
        return pb.GetUserResponse(user=user_to_proto(user))

    async def UpdateUser(self, request, context):
        changes = _user_changes(request.user, request.update_mask, {"login", "scope", "group_id"})
        user = await self._accounts.update_user(request.user_id, changes)
        return pb.UpdateUserResponse(user=user_to_proto(user))

    async def UpdateUserPassword(self, request, context):
        user = await self._accounts.set_user_password(request.user_id, request.password)
        return pb.UpdateUserPasswordResponse(user=user_to_proto(user))

    async def DeleteUser(self, request, context):
        await self._accounts.delete_user(current_principal(), request.user_id)
        return pb.DeleteUserResponse()

    async def ListUsers(self, request, context):
        page = await self._accounts.list_users(
            current_principal(), page_request(request), optional(request, "group_id")
        )
        return page_response(pb.ListUsersResponse, "users", page, user_to_proto)

    # --- the caller's own user ---------------------------------------------------------

    async def GetMyUser(self, request, context):
        return pb.GetMyUserResponse(user=user_to_proto(await self._accounts.get_my_user(current_principal())))

    async def UpdateMyUser(self, request, context):
        changes = _user_changes(request.user, request.update_mask, {"login"})
        user = await self._accounts.update_my_user(current_principal(), changes)
        return pb.UpdateMyUserResponse(user=user_to_proto(user))

    async def UpdateMyPassword(self, request, context):
        user = await self._accounts.change_my_password(
            current_principal(), request.current_password, request.new_password
        )
        return pb.UpdateMyPasswordResponse(user=user_to_proto(user))
