"""Devices, sites, installations, webhooks and recipients."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, or_, select, update

from ...domain.paging import Page, PageRequest
from ...domain.read_models import DeviceForAlert
from ..models import Access, Device, Installation, Media, Recipient, Site, Webhook, table_of
from .base import Repository, record

_devices = table_of(Device)
_accesses = table_of(Access)
_media = table_of(Media)

# Built once with bind parameters (see repositories/detection.py).
_PING = (
    update(_devices)
    .where(_devices.c.access_id == bindparam("p_access_id"))
    .values(last_ping_time=bindparam("p_now"))
    .returning(
        *_devices.c,
        select(_accesses.c.login).where(_accesses.c.id == _devices.c.access_id).scalar_subquery().label("login"),
    )
)
# The device and (outer join) the media named by p_media_id in its group; only the device row
# is locked (FOR UPDATE OF devices).
_LOCK = (
    select(
        _devices.c.id,
        _devices.c.group_id,
        _devices.c.azimuth,
        _devices.c.lat,
        _devices.c.lon,
        _media.c.id.label("media_id"),
        _media.c.device_id.label("media_device_id"),
        _media.c.bucket_key.label("media_bucket_key"),
    )
    .outerjoin(_media, and_(_media.c.id == bindparam("p_media_id"), _media.c.group_id == _devices.c.group_id))
    .with_for_update(of=_devices)
)
_LOCK_BY_ID = _LOCK.where(_devices.c.id == bindparam("p_id"))
_LOCK_BY_ACCESS = _LOCK.where(_devices.c.access_id == bindparam("p_id"))


class DeviceRepository(Repository[Device]):
    model = Device

    async def get_by_access_id(self, access_id: int) -> Device | None:
        query = self._select().where(Device.access_id == access_id)
        return (await self.session.execute(query)).unique().scalar_one_or_none()

    async def ping(self, access_id: int, now: datetime) -> SimpleNamespace | None:
        """Set last_ping_time of the device of `access_id` in one statement (UPDATE ... RETURNING);
        the device's columns and its `login`, or None when that access has no device."""
        return record((await self.session.execute(_PING, {"p_access_id": access_id, "p_now": now})).first())

    async def lock(
        self, *, device_id: int | None = None, access_id: int | None = None, media_id: int | None = None
    ) -> DeviceForAlert | None:
        """The device (by id or by its access), its row locked until the commit (SELECT ... FOR
        UPDATE; SQLite holds the write lock already), in one statement. With `media_id`, it also
        carries that media's `media_id`, `media_device_id` and `media_bucket_key` if it is in
        the device's group (all None otherwise)."""
        query, key = (_LOCK_BY_ID, device_id) if device_id is not None else (_LOCK_BY_ACCESS, access_id)
        row = (await self.session.execute(query, {"p_id": key, "p_media_id": media_id})).first()
        return None if row is None else DeviceForAlert(*row)

    async def list_installed_at(self, site_id: int, now: datetime, page: PageRequest) -> Page[Device]:
        """Devices with an installation at the site active at `now` (started, not ended); each once."""
        active = exists().where(
            Installation.device_id == Device.id,
            Installation.site_id == site_id,
            Installation.start_time <= now,
            or_(Installation.end_time.is_(None), Installation.end_time > now),
        )
        return await self._list(page, active)


class SiteRepository(Repository[Site]):
    model = Site


class InstallationRepository(Repository[Installation]):
    model = Installation

    def _select(self) -> Select[Installation]:
        return select(Installation).join(Site, Site.id == Installation.site_id)

    def _group_condition(self, group_id: int) -> ColumnElement[bool]:
        return Site.group_id == group_id


class WebhookRepository(Repository[Webhook]):
    model = Webhook


class RecipientRepository(Repository[Recipient]):
    model = Recipient
