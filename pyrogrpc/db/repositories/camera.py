"""Poses and occlusion masks: rows of a device, seen through the device's group."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, select

from ...domain.geometry import Box
from ...domain.paging import Page, PageRequest
from ..models import Device, OcclusionMask, Pose
from .base import Repository

_masks = OcclusionMask.__table__
_poses = Pose.__table__


class PoseRepository(Repository[Pose]):
    model = Pose

    def _select(self) -> Select[Pose]:
        return select(Pose).join(Device, Device.id == Pose.device_id)

    def _group_condition(self, group_id: int) -> ColumnElement[bool]:
        return Device.group_id == group_id

    async def list_of_device(self, page: PageRequest, device_id: int) -> Page[Pose]:
        return await self._list(page, Pose.device_id == device_id)

    async def all_of_device(self, device_id: int) -> Sequence[Pose]:
        """Patrolled poses by patrol_index, then the others by id."""
        query = (
            select(Pose)
            .where(Pose.device_id == device_id)
            .order_by(Pose.patrol_index.is_(None), Pose.patrol_index, Pose.id)
        )
        return (await self.session.execute(query)).scalars().all()

    async def of_devices(self, device_ids: Sequence[int]) -> dict[int, list[Pose]]:
        """{device id: its poses (as all_of_device orders them)} for a page of devices, in one query."""
        if not device_ids:
            return {}
        query = (
            select(Pose)
            .where(Pose.device_id.in_(list(device_ids)))
            .order_by(Pose.patrol_index.is_(None), Pose.patrol_index, Pose.id)
        )
        result: dict[int, list[Pose]] = {}
        for pose in (await self.session.execute(query)).scalars():
            result.setdefault(pose.device_id, []).append(pose)
        return result

    async def set_image(self, pose: Pose, media_id: int, now: datetime) -> Pose:
        pose.image_media_id = media_id
        pose.image_update_time = now
        await self.session.flush()
        return pose


class OcclusionMaskRepository(Repository[OcclusionMask]):
    model = OcclusionMask

    def _select(self) -> Select[OcclusionMask]:
        return (
            select(OcclusionMask).join(Pose, Pose.id == OcclusionMask.pose_id).join(Device, Device.id == Pose.device_id)
        )

    def _group_condition(self, group_id: int) -> ColumnElement[bool]:
        return Device.group_id == group_id

    async def add_box(self, pose_id: int, box: Box) -> OcclusionMask:
        return await self.add(
            OcclusionMask(pose_id=pose_id, x_min=box.x_min, y_min=box.y_min, x_max=box.x_max, y_max=box.y_max)
        )

    async def list_of_pose(self, page: PageRequest, pose_id: int) -> Page[OcclusionMask]:
        return await self._list(page, OcclusionMask.pose_id == pose_id)

    async def of_device(self, device_id: int, pose_id: int | None = None) -> Sequence[OcclusionMask]:
        query = select(OcclusionMask).join(Pose, Pose.id == OcclusionMask.pose_id).where(Pose.device_id == device_id)
        if pose_id is not None:
            query = query.where(OcclusionMask.pose_id == pose_id)
        return (await self.session.execute(query.order_by(OcclusionMask.pose_id, OcclusionMask.id))).scalars().all()
