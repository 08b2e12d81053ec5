"""Use cases of SetupService for poses and occlusion masks.

A pose is a direction a camera patrols to; its occlusion masks are regions of its image
where detections are ignored. Users of the device's group and admins manage both; the
device reads its own (ListMyPoses, ListMyOcclusionMasks) and sets the latest image of a
pose (UpdateMyPoseImage) with a media of its own.

The unit of work is the port of db/unit_of_work.py: `uow.devices`, `uow.poses`,
`uow.occlusion_masks`, `uow.media` and `commit()`; this module imports no database code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .errors import FailedPrecondition, NotFound
from .geometry import Box, check_box
from .paging import Page, PageRequest
from .principal import Principal
from .rows import apply_changes, visible
from .validation import Violations, check_azimuth

UnitOfWorkFactory = Callable[[], Any]  # db.unit_of_work.UnitOfWork (async context manager)
POSE_MUTABLE_FIELDS = frozenset({"azimuth", "patrol_index"})
MAX_PATROL_INDEX = 10_000


def check_pose_fields(v: Violations, fields: Mapping[str, Any], prefix: str = "") -> None:
    if "azimuth" in fields:
        v.check(fields["azimuth"] is not None, f"{prefix}azimuth", "is required")
        check_azimuth(v, fields["azimuth"], f"{prefix}azimuth")
    index = fields.get("patrol_index")
    if index is not None:
        v.check(0 <= index <= MAX_PATROL_INDEX, f"{prefix}patrol_index", f"must be in [0, {MAX_PATROL_INDEX}]")


class PoseService:
    def __init__(self, uow: UnitOfWorkFactory):
        self._uow = uow

    # --- managed by users and admins ----------------------------------------------------

    async def create_pose(self, principal: Principal, device_id: int, azimuth: float, patrol_index: int | None) -> Any:
        v = Violations()
        check_pose_fields(v, {"azimuth": azimuth, "patrol_index": patrol_index})
        v.raise_if_any()
        async with self._uow() as uow:
            await visible(uow.devices, "device", device_id, principal)
            pose = await uow.poses.create(device_id=device_id, azimuth=azimuth, patrol_index=patrol_index)
            await uow.commit()
        return pose

    async def get_pose(self, principal: Principal, pose_id: int) -> Any:
        async with self._uow() as uow:
            return await visible(uow.poses, "pose", pose_id, principal)

    async def list_poses(self, principal: Principal, device_id: int, page: PageRequest) -> Page[Any]:
        async with self._uow() as uow:
            await visible(uow.devices, "device", device_id, principal)
            return await uow.poses.list_of_device(page, device_id)

    async def update_pose(self, principal: Principal, pose_id: int, changes: Mapping[str, Any]) -> Any:
        v = Violations()
        check_pose_fields(v, changes, prefix="pose.")
        v.raise_if_any()
        async with self._uow() as uow:
            pose = await visible(uow.poses, "pose", pose_id, principal, for_update=True)
            apply_changes(pose, changes)
            await uow.commit()
        return pose

    async def delete_pose(self, principal: Principal, pose_id: int) -> None:
        async with self._uow() as uow:
            pose = await visible(uow.poses, "pose", pose_id, principal)
            await uow.poses.delete(pose)  # masks go with it; alerts and events keep pose_id NULL
            await uow.commit()

    async def poses_of_devices(self, device_ids: Sequence[int]) -> dict[int, list[Any]]:
        """{device id: its poses}, for devices the caller already read (camera status)."""
        if not device_ids:
            return {}
        async with self._uow() as uow:
            return await uow.poses.of_devices(device_ids)

    # --- the device's own -------------------------------------------------------------------

    async def list_my_poses(self, principal: Principal) -> Sequence[Any]:
        async with self._uow() as uow:
            device = await _caller_device(uow, principal)
            return await uow.poses.all_of_device(device.id)

    async def update_my_pose_image(self, principal: Principal, pose_id: int, media_id: int) -> Any:
        async with self._uow() as uow:
            device = await _caller_device(uow, principal)
            pose = await _own_pose(uow, device.id, pose_id, for_update=True)
            media = await uow.media.get(media_id)
            if media is None or media.device_id != device.id:
                raise NotFound("media", media_id)
            if media.bucket_key is None:
                raise FailedPrecondition(f"media {media_id} is not uploaded yet: call UploadMedia first")
            await uow.poses.set_image(pose, media_id, datetime.now(UTC))
            await uow.commit()
        return pose


class OcclusionMaskService:
    def __init__(self, uow: UnitOfWorkFactory):
        self._uow = uow

    async def create_mask(self, principal: Principal, pose_id: int, box: Box | None) -> Any:
        v = Violations()
        if box is None:
            v.check(False, "box", "is required")
        else:
            check_box(v, box, "box")
        v.raise_if_any()
        assert box is not None
        async with self._uow() as uow:
            await visible(uow.poses, "pose", pose_id, principal)
            mask = await uow.occlusion_masks.add_box(pose_id, box)
            await uow.commit()
        return mask

    async def list_masks(self, principal: Principal, pose_id: int, page: PageRequest) -> Page[Any]:
        async with self._uow() as uow:
            await visible(uow.poses, "pose", pose_id, principal)
            return await uow.occlusion_masks.list_of_pose(page, pose_id)

    async def delete_mask(self, principal: Principal, mask_id: int) -> None:
        async with self._uow() as uow:
            mask = await visible(uow.occlusion_masks, "occlusion mask", mask_id, principal)
            await uow.occlusion_masks.delete(mask)
            await uow.commit()

    async def list_my_masks(self, principal: Principal, pose_id: int | None) -> Sequence[Any]:
        async with self._uow() as uow:
            device = await _caller_device(uow, principal)
            if pose_id is not None:
                await _own_pose(uow, device.id, pose_id)
            return await uow.occlusion_masks.of_device(device.id, pose_id)


async def _caller_device(uow: Any, principal: Principal) -> Any:
    device = await uow.devices.get_by_access_id(principal.access_id)
    if device is None:
        raise NotFound("device")  # the token outlived its device
    return device


async def _own_pose(uow: Any, device_id: int, pose_id: int, *, for_update: bool = False) -> Any:
    """A pose of the device; any other (another device's, even of the group) is NOT_FOUND."""
    pose = await uow.poses.get(pose_id, for_update=for_update)
    if pose is None or pose.device_id != device_id:
        raise NotFound("pose", pose_id)
    return pose
