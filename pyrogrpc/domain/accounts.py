"""Use cases of AccessService: login, groups, accesses and users.

Scope checks (who may call which RPC) happen in the auth interceptor; this module adds the
rules that need data: group isolation, unique names, password policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .credentials import reset_password
from .errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unauthenticated, UserOwnsDevices
from .paging import Page, PageRequest
from .ports import UnitOfWork, UnitOfWorkFactory
from .principal import Principal, Scope
from .records import AccessRecord, GroupRecord, UserRecord
from .rows import apply_changes, existing, visible
from .security import IssuedToken, PasswordHasher, TokenService
from .validation import Violations, check_login, check_name, check_password

USER_SCOPES = (Scope.ADMIN, Scope.USER)


class AccountService:
    def __init__(self, uow: UnitOfWorkFactory, hasher: PasswordHasher, tokens: TokenService):
        self._uow = uow
        self._hasher = hasher
        self._tokens = tokens

    # --- login -----------------------------------------------------------------------

    async def login(self, login: str, password: str) -> IssuedToken:
        access = None
        if "\x00" not in login:  # no login holds a NUL, and PostgreSQL refuses one even in a query
            async with self._uow() as uow:
                access = await uow.accesses.get_by_login(login)
        # Always run bcrypt, so an unknown login and a wrong password look the same (and take as long).
        ok = await self._hasher.verify(password, access.hashed_password if access else None)
        if not ok or access is None:
            raise Unauthenticated("wrong login or password")
        return self._tokens.issue(Principal(access.id, Scope(access.scope), access.group_id))

    # --- groups ----------------------------------------------------------------------

    async def create_group(self, name: str) -> GroupRecord:
        v = Violations()
        check_name(v, name)
        v.raise_if_any()
        async with self._uow() as uow:
            if await uow.groups.get_by_name(name):
                raise AlreadyExists(f"group {name!r} already exists")
            group = await uow.groups.create(name=name)
            await uow.commit()
        return group

    async def get_group(self, principal: Principal, group_id: int) -> GroupRecord:
        async with self._uow() as uow:
            return await visible(uow.groups, "group", group_id, principal)

    async def list_groups(self, principal: Principal, page: PageRequest) -> Page[GroupRecord]:
        async with self._uow() as uow:
            return await uow.groups.list(page, group_id=principal.group_filter)

    async def update_group(self, group_id: int, changes: Mapping[str, Any]) -> GroupRecord:
        v = Violations()
        if "name" in changes:
            check_name(v, changes["name"] or "")
        v.raise_if_any()
        async with self._uow() as uow:
            group = await existing(uow.groups, "group", group_id)
            if "name" in changes and changes["name"] != group.name and await uow.groups.get_by_name(changes["name"]):
                raise AlreadyExists(f"group {changes['name']!r} already exists")
            apply_changes(group, changes)
            await uow.commit()
        return group

    async def delete_group(self, group_id: int) -> None:
        async with self._uow() as uow:
            group = await existing(uow.groups, "group", group_id)
            try:
                await uow.groups.delete(group)
            except FailedPrecondition:
                raise FailedPrecondition(f"group {group_id} still has accesses, sites, events or recipients") from None
            await uow.commit()

    # --- accesses --------------------------------------------------------------------

    async def get_access(self, access_id: int) -> AccessRecord:
        async with self._uow() as uow:
            return await existing(uow.accesses, "access", access_id)

    async def list_accesses(self, page: PageRequest) -> Page[AccessRecord]:
        async with self._uow() as uow:
            return await uow.accesses.list(page)

    # --- users -----------------------------------------------------------------------

    async def create_user(self, login: str, password: str, scope: Scope | None, group_id: int) -> UserRecord:
        v = Violations()
        check_login(v, login)
        check_password(v, password)
        v.check(
            scope in USER_SCOPES, "scope", "must be SCOPE_ADMIN or SCOPE_USER (devices are created with SetupService)"
        )
        v.check(group_id > 0, "group_id", "is required")
        v.raise_if_any()
        assert scope is not None  # checked above
        hashed = await self._hasher.hash(password)
        async with self._uow() as uow:
            await existing(uow.groups, "group", group_id)
            if await uow.accesses.get_by_login(login):
                raise AlreadyExists(f"login {login!r} is already taken")
            access = await uow.accesses.create(
                login=login, hashed_password=hashed, scope=scope.value, group_id=group_id
            )
            user = await uow.users.create(access_id=access.id, access=access)
            await uow.commit()
        return user

    async def get_user(self, principal: Principal, user_id: int) -> UserRecord:
        async with self._uow() as uow:
            return await visible(uow.users, "user", user_id, principal)

    async def list_users(
        self, principal: Principal, page: PageRequest, group_id: int | None = None
    ) -> Page[UserRecord]:
        where = None if group_id is None else {"group_id": group_id}
        async with self._uow() as uow:
            return await uow.users.list(page, where=where, group_id=principal.group_filter)

    async def update_user(self, user_id: int, changes: Mapping[str, Any]) -> UserRecord:
        v = Violations()
        if "login" in changes:
            check_login(v, changes["login"] or "")
        if "scope" in changes:
            v.check(changes["scope"] in USER_SCOPES, "user.scope", "must be SCOPE_ADMIN or SCOPE_USER")
        if "group_id" in changes:
            v.check((changes["group_id"] or 0) > 0, "user.group_id", "must be a group id")
        v.raise_if_any()
        async with self._uow() as uow:
            # Locked: a device created for this user meanwhile (which locks its owner too)
            # cannot land in the old group after the check below.
            user = await existing(uow.users, "user", user_id, for_update=True)
            if "group_id" in changes:
                await existing(uow.groups, "group", changes["group_id"])
                if changes["group_id"] != user.access.group_id:
                    await _refuse_if_owns_devices(uow, user)
            await self._change_access(uow, user.access, changes)
            await uow.commit()
        return user

    async def set_user_password(self, user_id: int, password: str) -> UserRecord:
        return await reset_password(self._uow, self._hasher, "users", "user", user_id, password)

    async def delete_user(self, principal: Principal, user_id: int) -> None:
        async with self._uow() as uow:
            user = await existing(uow.users, "user", user_id)
            if user.access_id == principal.access_id:
                raise FailedPrecondition("you cannot delete your own user")
            try:
                await uow.accesses.delete(user.access)  # the users row goes with it (ON DELETE CASCADE)
            except FailedPrecondition:
                raise FailedPrecondition(f"user {user_id} still owns devices: delete or reassign them first") from None
            await uow.commit()

    # --- the caller's own user ---------------------------------------------------------

    async def get_my_user(self, principal: Principal) -> UserRecord:
        async with self._uow() as uow:
            return await self._my_user(uow, principal)

    async def update_my_user(self, principal: Principal, changes: Mapping[str, Any]) -> UserRecord:
        v = Violations()
        if "login" in changes:
            check_login(v, changes["login"] or "", field="user.login")
        v.raise_if_any()
        async with self._uow() as uow:
            user = await self._my_user(uow, principal)
            await self._change_access(uow, user.access, changes)
            await uow.commit()
        return user

    async def change_my_password(self, principal: Principal, current_password: str, new_password: str) -> UserRecord:
        v = Violations()
        check_password(v, new_password, field="new_password")
        v.raise_if_any()
        async with self._uow() as uow:
            user = await self._my_user(uow, principal)
            current_hash = user.access.hashed_password
        if not await self._hasher.verify(current_password, current_hash):
            raise InvalidArgument("does not match your current password", field="current_password")
        hashed = await self._hasher.hash(new_password)
        async with self._uow() as uow:
            user = await self._my_user(uow, principal)
            user.access.hashed_password = hashed
            await uow.commit()
        return user

    # --- helpers ---------------------------------------------------------------------

    @staticmethod
    async def _my_user(uow: UnitOfWork, principal: Principal) -> UserRecord:
        user = await uow.users.get_by_access_id(principal.access_id)
        if user is None:
            raise NotFound("user")  # the token outlived its user
        return user

    @staticmethod
    async def _change_access(uow: UnitOfWork, access: AccessRecord, changes: Mapping[str, Any]) -> None:
        if "login" in changes and changes["login"] != access.login:
            if await uow.accesses.get_by_login(changes["login"]):
                raise AlreadyExists(f"login {changes['login']!r} is already taken")
            access.login = changes["login"]
        if "scope" in changes:
            access.scope = Scope(changes["scope"]).value
        if "group_id" in changes:
            access.group_id = changes["group_id"]


async def _refuse_if_owns_devices(uow: UnitOfWork, user: UserRecord) -> None:
    """A device lives in its owner's group (its alerts, media and events too): moving the owner
    alone would leave it behind, owned from another group. The caller moves or deletes them first."""
    owned = await uow.devices.list(PageRequest(size=5), where={"owner_id": user.id})
    if owned.items:
        ids = ", ".join(str(device.id) for device in owned.items) + (", ..." if owned.next_page_token else "")
        raise UserOwnsDevices(
            f"user {user.id} owns devices ({ids}) of its group: give them another owner "
            "(UpdateDevice owner_id) or delete them before moving the user to another group"
        )
