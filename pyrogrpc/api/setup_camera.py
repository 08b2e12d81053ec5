"""SetupService RPCs of poses and occlusion masks, mixed into SetupServicer.

Reads `self._poses` (PoseService) and `self._masks` (OcclusionMaskService).
"""

from __future__ import annotations

from typing import Any

from pyronear.v1 import resources_pb2
from pyronear.v1 import setup_service_pb2 as pb

from ..domain.geometry import Box
from ..domain.poses import POSE_MUTABLE_FIELDS
from .auth import current_principal
from .convert import changes_from_mask, optional, page_request, page_response, to_proto


def pose_to_proto(row: Any) -> resources_pb2.Pose:
    return to_proto(resources_pb2.Pose, row)


def box_from_proto(message: Any, field: str) -> Box | None:
    if not message.HasField(field):
        return None
    box = getattr(message, field)
    return Box(box.x_min, box.y_min, box.x_max, box.y_max)


def mask_to_proto(row: Any) -> resources_pb2.OcclusionMask:
    box = resources_pb2.NormalizedBox(x_min=row.x_min, y_min=row.y_min, x_max=row.x_max, y_max=row.y_max)
    return to_proto(resources_pb2.OcclusionMask, row, box=box)


class PoseMaskRpcs:
    _poses: Any
    _masks: Any

    # --- poses ---------------------------------------------------------------------------

    async def CreatePose(self, request, context):
        pose = await self._poses.create_pose(
            current_principal(), request.device_id, request.azimuth, optional(request, "patrol_index")
        )
        return pb.CreatePoseResponse(pose=pose_to_proto(pose))

    async def GetPose(self, request, context):
        return pb.GetPoseResponse(pose=pose_to_proto(await self._poses.get_pose(current_principal(), request.pose_id)))

    async def ListPoses(self, request, context):
        page = await self._poses.list_poses(current_principal(), request.device_id, page_request(request))
        return page_response(pb.ListPosesResponse, "poses", page, pose_to_proto)

    async def UpdatePose(self, request, context):
        changes = changes_from_mask(request.pose, request.update_mask, POSE_MUTABLE_FIELDS, prefix="pose")
        pose = await self._poses.update_pose(current_principal(), request.pose_id, changes)
        return pb.UpdatePoseResponse(pose=pose_to_proto(pose))

    async def DeletePose(self, request, context):
        await self._poses.delete_pose(current_principal(), request.pose_id)
        return pb.DeletePoseResponse()

    async def ListMyPoses(self, request, context):
        poses = await self._poses.list_my_poses(current_principal())
        return pb.ListMyPosesResponse(poses=[pose_to_proto(p) for p in poses], total_size=len(poses))

    async def UpdateMyPoseImage(self, request, context):
        pose = await self._poses.update_my_pose_image(current_principal(), request.pose_id, request.media_id)
        return pb.UpdateMyPoseImageResponse(pose=pose_to_proto(pose))

    # --- occlusion masks -------------------------------------------------------------------

    async def CreateOcclusionMask(self, request, context):
        mask = await self._masks.create_mask(current_principal(), request.pose_id, box_from_proto(request, "box"))
        return pb.CreateOcclusionMaskResponse(occlusion_mask=mask_to_proto(mask))

    async def ListOcclusionMasks(self, request, context):
        page = await self._masks.list_masks(current_principal(), request.pose_id, page_request(request))
        return page_response(pb.ListOcclusionMasksResponse, "occlusion_masks", page, mask_to_proto)

    async def DeleteOcclusionMask(self, request, context):
        await self._masks.delete_mask(current_principal(), request.occlusion_mask_id)
        return pb.DeleteOcclusionMaskResponse()

    async def ListMyOcclusionMasks(self, request, context):
        masks = await self._masks.list_my_masks(current_principal(), optional(request, "pose_id"))
        return pb.ListMyOcclusionMasksResponse(occlusion_masks=[mask_to_proto(m) for m in masks], total_size=len(masks))
