"""Use cases of SetupService for devices (cameras).

A device is two rows created and deleted together: an access (its credentials, scope
device) and the device row. The device always lives in its owner's group, so a user can
never mint a device outside its group nor a device with more than scope device.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from .clock import utcnow
from .credentials import reset_password
from .errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from .paging import Page, PageRequest
from .ports import Record, UnitOfWork, UnitOfWorkFactory
from .principal import Principal, Scope
from .records import DeviceRecord, UserRecord
from .rows import apply_changes, existing, visible
from .security import PasswordHasher
from .validation import Violations, check_azimuth, check_login, check_password, check_position, check_range, check_text

LOCATION_FIELDS = ("lat", "lon", "elevation", "azimuth", "pitch", "angle_of_view")
MAX_SPECS_LENGTH = 500
MAX_SOFTWARE_HASH_LENGTH = 128


def check_properties(v: Violations, fields: Mapping[str, Any], prefix: str = "") -> None:
    """Check the given device fields (absent or None ones are not checked: None clears)."""
    if fields.get("specs") is not None:
        check_text(v, fields["specs"], f"{prefix}specs", MAX_SPECS_LENGTH)
    if fields.get("software_hash") is not None:
        check_text(v, fields["software_hash"], f"{prefix}software_hash", MAX_SOFTWARE_HASH_LENGTH, required=True)
    angle_of_view = fields.get("angle_of_view")
    if angle_of_view is not None:  # (0, 360]: a camera sees something, at most the full circle
        v.check(
            math.isfinite(angle_of_view) and 0.0 < angle_of_view <= 360.0,
            f"{prefix}angle_of_view",
            "must be in (0, 360]",
        )
    check_range(v, fields.get("elevation"), f"{prefix}elevation", -1000.0, 10000.0)
    check_position(v, fields.get("lat"), fields.get("lon"), prefix)
    check_azimuth(v, fields.get("azimuth"), f"{prefix}azimuth")
    check_range(v, fields.get("pitch"), f"{prefix}pitch", -90.0, 90.0)


class DeviceService:
    def __init__(
        self, uow: UnitOfWorkFactory, hasher: PasswordHasher, *, single_statement_uow: UnitOfWorkFactory | None = None
    ):
        self._uow = uow
        self._single = single_statement_uow or uow  # units of ONE statement (see db/session.py)
        self._hasher = hasher

    # --- creation --------------------------------------------------------------------

    async def create_device(
        self, login: str, password: str, owner_id: int, properties: Mapping[str, Any]
    ) -> DeviceRecord:
        """Admin: a device owned by `owner_id`, in that user's group."""
        v = Violations()
        v.check(owner_id > 0, "owner_id", "is required")
        self._check_new(v, login, password, properties)
        hashed = await self._hasher.hash(password)
        async with self._uow() as uow:
            # Locked: the owner cannot change group between here and the commit (see update_user).
            owner = await existing(uow.users, "user", owner_id, for_update=True)
            device = await self._add(uow, login, hashed, owner, properties)
            await uow.commit()
        return device

    async def register_device(
        self, principal: Principal, login: str, password: str, properties: Mapping[str, Any]
    ) -> DeviceRecord:
        """Admin or user: a device owned by the caller, in the caller's group, always of scope device."""
        v = Violations()
        self._check_new(v, login, password, properties)
        hashed = await self._hasher.hash(password)
        async with self._uow() as uow:
            owner = await _caller_user(uow, principal, for_update=True)
            if owner.access.group_id != principal.group_id:
                raise Unauthenticated("the account's scope or group changed since this token was issued: log in again")
            device = await self._add(uow, login, hashed, owner, properties)
            await uow.commit()
        return device

    @staticmethod
    def _check_new(v: Violations, login: str, password: str, properties: Mapping[str, Any]) -> None:
        check_login(v, login)
        check_password(v, password)
        check_properties(v, properties)
        v.raise_if_any()

    @staticmethod
    async def _add(
        uow: UnitOfWork, login: str, hashed: str, owner: UserRecord, properties: Mapping[str, Any]
    ) -> DeviceRecord:
        if await uow.accesses.get_by_login(login):
            raise AlreadyExists(f"login {login!r} is already taken")
        group_id = owner.access.group_id
        access = await uow.accesses.create(
            login=login, hashed_password=hashed, scope=Scope.DEVICE.value, group_id=group_id
        )
        return await uow.devices.create(
            access_id=access.id, access=access, owner_id=owner.id, group_id=group_id, **properties
        )

    # --- reading ---------------------------------------------------------------------

    async def get_device(self, principal: Principal, device_id: int) -> DeviceRecord:
        async with self._uow() as uow:
            return await visible(uow.devices, "device", device_id, principal)

    async def list_devices(
        self, principal: Principal, page: PageRequest, group_id: int | None = None
    ) -> Page[DeviceRecord]:
        where = None if group_id is None else {"group_id": group_id}
        async with self._uow() as uow:
            return await uow.devices.list(page, where=where, group_id=principal.group_filter)

    async def list_my_devices(self, principal: Principal, page: PageRequest) -> Page[DeviceRecord]:
        async with self._uow() as uow:
            owner = await _caller_user(uow, principal)
            # Also the caller's group (even for an admin): a device of another group is never
            # "mine", whatever its owner_id says (UpdateUser refuses to move an owner of devices).
            return await uow.devices.list(page, where={"owner_id": owner.id}, group_id=principal.group_id)

    async def get_my_device(self, principal: Principal) -> DeviceRecord:
        async with self._uow() as uow:
            return await _caller_device(uow, principal)

    # --- changes by an admin -----------------------------------------------------------

    async def update_device(self, device_id: int, changes: Mapping[str, Any]) -> DeviceRecord:
        v = Violations()
        if "login" in changes:
            check_login(v, changes["login"], field="device.login")
        check_properties(v, changes, prefix="device.")
        v.raise_if_any()
        async with self._uow() as uow:
            device = await existing(uow.devices, "device", device_id, for_update=True)
            changes = dict(changes)
            login = changes.pop("login", device.access.login)
            if login != device.access.login:
                if await uow.accesses.get_by_login(login):
                    raise AlreadyExists(f"login {login!r} is already taken")
                device.access.login = login
            if changes.get("owner_id") is not None:
                await _check_owner(uow, device, changes["owner_id"])
            apply_changes(device, changes)
            await uow.commit()
        return device

    async def set_software_hash(self, device_id: int, software_hash: str) -> DeviceRecord:
        v = Violations()
        check_text(v, software_hash, "software_hash", MAX_SOFTWARE_HASH_LENGTH, required=True)
        v.raise_if_any()
        async with self._uow() as uow:
            device = await existing(uow.devices, "device", device_id, for_update=True)
            device.software_hash = software_hash
            await uow.commit()
        return device

    async def set_password(self, device_id: int, password: str) -> DeviceRecord:
        return await reset_password(self._uow, self._hasher, "devices", "device", device_id, password)

    async def delete_device(self, device_id: int) -> None:
        async with self._uow() as uow:
            device = await existing(uow.devices, "device", device_id)
            try:
                # The device row and its installations go with the access (ON DELETE CASCADE);
                # media and alerts keep the history of what it saw, so they block the delete.
                await uow.accesses.delete(device.access)
            except FailedPrecondition:
                raise FailedPrecondition(f"device {device_id} still has media or alerts: delete them first") from None
            await uow.commit()

    # --- location and liveness -----------------------------------------------------------

    async def update_location(self, principal: Principal, device_id: int, location: Mapping[str, Any]) -> DeviceRecord:
        """Admin, or the user who owns the device (another user of its group is refused)."""
        _check_location(location)
        async with self._uow() as uow:
            device = await visible(uow.devices, "device", device_id, principal, for_update=True)
            if not principal.is_admin:
                caller = await _caller_user(uow, principal)
                if device.owner_id != caller.id:
                    raise PermissionDenied(f"only an admin or the owner of device {device_id} may move it")
            apply_changes(device, location)
            await uow.commit()
        return device

    async def update_my_location(self, principal: Principal, location: Mapping[str, Any]) -> DeviceRecord:
        _check_location(location)
        async with self._uow() as uow:
            device = await _caller_device(uow, principal)
            apply_changes(device, location)
            await uow.commit()
        return device

    async def heartbeat(self, principal: Principal) -> Record:
        """One transaction of one statement (UPDATE ... RETURNING): every camera calls it often.
        The result is a read-only row of the device's fields and its `login`."""
        async with self._single() as uow:
            device = await uow.devices.ping(principal.access_id, utcnow())
            if device is None:
                raise NotFound("device")  # the token outlived its device
            await uow.commit()
        return device


def _check_location(location: Mapping[str, Any]) -> None:
    if not location:
        description = f"set at least one of {', '.join(LOCATION_FIELDS)}"
        raise InvalidArgument([FieldViolation(name, description) for name in LOCATION_FIELDS])
    v = Violations()
    check_properties(v, location)
    v.raise_if_any()


async def _check_owner(uow: UnitOfWork, device: DeviceRecord, owner_id: int) -> None:
    """The owner must be a user of the device's group: a device never changes group this way."""
    owner = await existing(uow.users, "user", owner_id, for_update=True)
    if owner.access.group_id != device.group_id:
        raise FailedPrecondition(f"user {owner_id} is not in the group of device {device.id} (group {device.group_id})")


async def _caller_user(uow: UnitOfWork, principal: Principal, *, for_update: bool = False) -> UserRecord:
    user = await uow.users.get_by_access_id(principal.access_id, for_update=for_update)
    if user is None:
        raise NotFound("user")  # the token outlived its user
    return user


async def _caller_device(uow: UnitOfWork, principal: Principal) -> DeviceRecord:
    device = await uow.devices.get_by_access_id(principal.access_id)
    if device is None:
        raise NotFound("device")  # the token outlived its device
    return device
