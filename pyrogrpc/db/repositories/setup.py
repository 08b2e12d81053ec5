"""Devices, sites, installations, webhooks and recipients."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, or_, select, update

from ...domain.geometry import Box
from ...domain.paging import Page, PageRequest
from ...domain.read_models import DeviceForAlert, PoseOfAlert
from ..models import Access, Device, Installation, Media, OcclusionMask, Pose, Recipient, Site, Webhook, table_of
from .base import Repository

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
# Columns in the order of read_models.DeviceForAlert's fields.
_DEVICE_WITH_MEDIA = select(
    _devices.c.id,
    _devices.c.group_id,
    _devices.c.azimuth,
    _devices.c.lat,
    _devices.c.lon,
    _media.c.id.label("media_id"),
    _media.c.device_id.label("media_device_id"),
    _media.c.bucket_key.label("media_bucket_key"),
    _devices.c.angle_of_view,
).outerjoin(_media, and_(_media.c.id == bindparam("p_media_id"), _media.c.group_id == _devices.c.group_id))
_DEVICE_FIELDS = len(DeviceForAlert.__dataclass_fields__)
_LOCK = _DEVICE_WITH_MEDIA.with_for_update(of=_devices)
_LOCK_BY_ID = _LOCK.where(_devices.c.id == bindparam("p_id"))
_LOCK_BY_ACCESS = _LOCK.where(_devices.c.access_id == bindparam("p_id"))
# The same, with the alert's pose (if it is the device's) and that pose's masks: one row per
# mask, so a boxed alert reads all it needs in the one locking round trip.
_poses = table_of(Pose)
_masks = table_of(OcclusionMask)
_DEVICE_WITH_POSE = (
    _DEVICE_WITH_MEDIA.add_columns(
        _poses.c.id.label("pose_found_id"),
        _poses.c.azimuth.label("pose_azimuth"),
        _masks.c.x_min.label("mask_x_min"),
        _masks.c.y_min.label("mask_y_min"),
        _masks.c.x_max.label("mask_x_max"),
        _masks.c.y_max.label("mask_y_max"),
    )
    .outerjoin(_poses, and_(_poses.c.id == bindparam("p_pose_id"), _poses.c.device_id == _devices.c.id))
    .outerjoin(_masks, _masks.c.pose_id == _poses.c.id)
)
_LOCK_WITH_POSE_BY_ID = _DEVICE_WITH_POSE.with_for_update(of=_devices).where(_devices.c.id == bindparam("p_id"))
_LOCK_WITH_POSE_BY_ACCESS = _DEVICE_WITH_POSE.with_for_update(of=_devices).where(
    _devices.c.access_id == bindparam("p_id")
)
# Without the lock: SendAlert's checks before the upload (one statement, no transaction).
_READ_WITH_POSE_BY_ACCESS = _DEVICE_WITH_POSE.where(_devices.c.access_id == bindparam("p_id"))


class DeviceRepository(Repository[Device]):
    model = Device

    async def get_by_access_id(self, access_id: int) -> Device | None:
        query = self._select().where(Device.access_id == access_id)
        return (await self.session.execute(query)).unique().scalar_one_or_none()

    async def ping(self, access_id: int, now: datetime) -> SimpleNamespace | None:
        """Set last_ping_time of the device of `access_id` in one statement (UPDATE ... RETURNING);
        the device's columns and its `login`, or None when that access has no device."""
        return await self._first_record(_PING, {"p_access_id": access_id, "p_now": now})

    async def lock(
        self, *, device_id: int | None = None, access_id: int | None = None, media_id: int | None = None
    ) -> DeviceForAlert | None:
        """The device (by id or by its access), its row locked until the commit (SELECT ... FOR
        UPDATE; SQLite holds the write lock already), in one statement. With `media_id`, it also
        carries that media's `media_id`, `media_device_id` and `media_bucket_key` if it is in
        the device's group (all None otherwise)."""
        query, key = (_LOCK_BY_ID, device_id) if device_id is not None else (_LOCK_BY_ACCESS, access_id)
        rows = await self._all_rows(query, {"p_id": key, "p_media_id": media_id})
        return DeviceForAlert(*rows[0][:_DEVICE_FIELDS]) if rows else None

    async def lock_with_pose(
        self, *, device_id: int | None = None, access_id: int | None = None, media_id: int | None = None, pose_id: int
    ) -> tuple[DeviceForAlert | None, PoseOfAlert | None]:
        """lock(), plus the pose `pose_id` with its masks if it is the device's (else None),
        in the same statement."""
        query, key = (
            (_LOCK_WITH_POSE_BY_ID, device_id) if device_id is not None else (_LOCK_WITH_POSE_BY_ACCESS, access_id)
        )
        return await self._with_pose(query, key, media_id, pose_id)

    async def read_with_pose(
        self, access_id: int, pose_id: int | None
    ) -> tuple[DeviceForAlert | None, PoseOfAlert | None]:
        """The device of `access_id` and its pose `pose_id` with masks, without locking."""
        return await self._with_pose(_READ_WITH_POSE_BY_ACCESS, access_id, None, pose_id)

    async def _with_pose(
        self, query: Any, key: int | None, media_id: int | None, pose_id: int | None
    ) -> tuple[DeviceForAlert | None, PoseOfAlert | None]:
        rows = await self._all_rows(query, {"p_id": key, "p_media_id": media_id, "p_pose_id": pose_id})
        if not rows:
            return None, None
        first = rows[0]
        device = DeviceForAlert(*first[:_DEVICE_FIELDS])
        if first.pose_found_id is None:
            return device, None
        masks = tuple(
            Box(r.mask_x_min, r.mask_y_min, r.mask_x_max, r.mask_y_max) for r in rows if r.mask_x_min is not None
        )
        return device, PoseOfAlert(first.pose_found_id, first.pose_azimuth, masks)

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
