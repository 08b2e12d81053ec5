"""Use cases of SetupService for sites and installations (which device stands where, when).

An installation links a device and a site of the same group: a link across groups would
let one group's camera feed another group's site, so it is refused (FAILED_PRECONDITION,
since it depends on the rows' current groups, not on the request alone).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from .clock import utcnow
from .errors import AlreadyExists, FailedPrecondition, PermissionDenied
from .paging import Page, PageRequest
from .ports import UnitOfWork, UnitOfWorkFactory
from .principal import Principal
from .records import InstallationRecord, SiteRecord
from .rows import apply_changes, existing, visible
from .validation import Violations, check_name, check_position

SITE_TYPES = ("tower", "station", "no_alert")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
MAX_GEOCODE_LENGTH = 20


def check_site(v: Violations, fields: Mapping[str, Any], prefix: str = "") -> None:
    """Check the given site fields; absent ones are not checked (updates give a subset)."""
    if "name" in fields:
        check_name(v, fields["name"], f"{prefix}name")
    check_position(v, fields.get("lat"), fields.get("lon"), prefix)
    if "country" in fields:
        v.check(
            bool(_COUNTRY.match(fields["country"])),
            f"{prefix}country",
            "must be an ISO 3166-1 alpha-2 code: 2 uppercase letters (e.g. FR)",
        )
    if "geocode" in fields:
        check_name(v, fields["geocode"], f"{prefix}geocode", max_length=MAX_GEOCODE_LENGTH)
    if "type" in fields:
        v.check(fields["type"] in SITE_TYPES, f"{prefix}type", f"must be one of {', '.join(SITE_TYPES)}")


class SiteService:
    def __init__(self, uow: UnitOfWorkFactory):
        self._uow = uow

    async def create_site(self, fields: Mapping[str, Any], group_id: int) -> SiteRecord:
        """Admin: any type, any group. `fields`: name, lat, lon, country, geocode, type."""
        v = Violations()
        check_site(v, fields)
        v.check(group_id > 0, "group_id", "is required")
        v.raise_if_any()
        async with self._uow() as uow:
            await existing(uow.groups, "group", group_id)
            site = await _add(uow, {**fields, "group_id": group_id})
            await uow.commit()
        return site

    async def create_no_alert_site(self, principal: Principal, fields: Mapping[str, Any]) -> SiteRecord:
        """Admin or user: type no_alert, in the caller's group, whatever else is asked."""
        fields = {**fields, "type": "no_alert"}
        v = Violations()
        check_site(v, fields)
        v.raise_if_any()
        async with self._uow() as uow:
            site = await _add(uow, {**fields, "group_id": principal.group_id})
            await uow.commit()
        return site

    async def get_site(self, principal: Principal, site_id: int) -> SiteRecord:
        async with self._uow() as uow:
            return await visible(uow.sites, "site", site_id, principal)

    async def list_sites(
        self, principal: Principal, page: PageRequest, group_id: int | None = None
    ) -> Page[SiteRecord]:
        where = None if group_id is None else {"group_id": group_id}
        async with self._uow() as uow:
            return await uow.sites.list(page, where=where, group_id=principal.group_filter)

    async def update_site(self, principal: Principal, site_id: int, changes: Mapping[str, Any]) -> SiteRecord:
        if "type" in changes and not principal.is_admin:
            # Asked of the request, not of the row: the answer leaks nothing about other groups.
            raise PermissionDenied("only an admin may change the type of a site")
        v = Violations()
        check_site(v, changes, prefix="site.")
        v.raise_if_any()
        async with self._uow() as uow:
            site = await visible(uow.sites, "site", site_id, principal, for_update=True)
            apply_changes(site, changes)
            await _flush_site(uow, site)
            await uow.commit()
        return site

    async def delete_site(self, site_id: int) -> None:
        async with self._uow() as uow:
            site = await existing(uow.sites, "site", site_id)
            try:
                await uow.sites.delete(site)
            except FailedPrecondition:
                raise FailedPrecondition(f"site {site_id} still has installations: delete them first") from None
            await uow.commit()


async def _add(uow: UnitOfWork, fields: Mapping[str, Any]) -> SiteRecord:
    taken = AlreadyExists(f"group {fields['group_id']} already has a site named {fields.get('name')!r}")
    try:
        return await uow.sites.create(**fields)
    except AlreadyExists:
        raise taken from None


async def _flush_site(uow: UnitOfWork, site: SiteRecord) -> None:
    taken = _name_taken(site)
    try:
        await uow.flush()
    except AlreadyExists:
        raise taken from None


def _name_taken(site: SiteRecord) -> AlreadyExists:
    """Built before the flush: a failed flush expires the row's attributes."""
    return AlreadyExists(f"group {site.group_id} already has a site named {site.name!r}")


class InstallationService:
    def __init__(self, uow: UnitOfWorkFactory):
        self._uow = uow

    async def create_installation(
        self, device_id: int, site_id: int, start_time: datetime | None, end_time: datetime | None, is_trustworthy: bool
    ) -> InstallationRecord:
        v = Violations()
        v.check(device_id > 0, "device_id", "is required")
        v.check(site_id > 0, "site_id", "is required")
        _check_period(v, start_time, end_time, "start_time", "end_time")
        v.raise_if_any()
        async with self._uow() as uow:
            device = await existing(uow.devices, "device", device_id)
            site = await existing(uow.sites, "site", site_id)
            if device.group_id != site.group_id:
                raise FailedPrecondition(
                    f"device {device_id} (group {device.group_id}) and site {site_id} (group {site.group_id}) "
                    "belong to different groups"
                )
            installation = await uow.installations.create(
                device_id=device_id,
                site_id=site_id,
                start_time=start_time,
                end_time=end_time,
                is_trustworthy=is_trustworthy,
            )
            await uow.commit()
        return installation

    async def get_installation(self, principal: Principal, installation_id: int) -> InstallationRecord:
        async with self._uow() as uow:
            return await visible(uow.installations, "installation", installation_id, principal)

    async def list_installations(
        self, principal: Principal, page: PageRequest, group_id: int | None = None
    ) -> Page[InstallationRecord]:
        where = None if group_id is None else {"group_id": group_id}
        async with self._uow() as uow:
            return await uow.installations.list(page, where=where, group_id=principal.group_filter)

    async def update_installation(
        self, principal: Principal, installation_id: int, changes: Mapping[str, Any]
    ) -> InstallationRecord:
        async with self._uow() as uow:
            installation = await visible(uow.installations, "installation", installation_id, principal, for_update=True)
            # The period is checked as it will be: changed values over the stored ones.
            start_time = changes.get("start_time", installation.start_time)
            end_time = changes.get("end_time", installation.end_time)
            # Blame the field the client changed: that is the one to fix.
            end_field = "installation.end_time" if "end_time" in changes else "installation.start_time"
            v = Violations()
            _check_period(v, start_time, end_time, "installation.start_time", end_field)
            v.raise_if_any()
            apply_changes(installation, changes)
            await uow.commit()
        return installation

    async def delete_installation(self, installation_id: int) -> None:
        async with self._uow() as uow:
            installation = await existing(uow.installations, "installation", installation_id)
            await uow.installations.delete(installation)
            await uow.commit()

    async def list_site_devices(self, principal: Principal, site_id: int, page: PageRequest) -> Page[int]:
        """Ids of the devices installed at the site right now (started, not ended), newest device first."""
        async with self._uow() as uow:
            await visible(uow.sites, "site", site_id, principal)
            devices = await uow.devices.list_installed_at(site_id, utcnow(), page)
        return Page([device.id for device in devices.items], devices.next_page_token, devices.total_size)


def _check_period(
    v: Violations, start_time: datetime | None, end_time: datetime | None, start_field: str, end_field: str
) -> None:
    v.check(start_time is not None, start_field, "is required")
    if start_time is not None and end_time is not None:
        v.check(end_time > start_time, end_field, "must be after start_time")
