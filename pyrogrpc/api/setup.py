"""SetupService servicer: translates messages and calls the device, site, installation,
webhook and recipient use cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pyronear.v1 import resources_pb2, setup_service_pb2_grpc
from pyronear.v1 import setup_service_pb2 as pb

from ..domain.devices import LOCATION_FIELDS, DeviceService
from ..domain.liveness import is_online
from ..domain.notification_targets import RecipientService, WebhookService
from ..domain.poses import OcclusionMaskService, PoseService
from ..domain.sites import InstallationService, SiteService
from .auth import current_principal
from .convert import (
    changes_from_mask,
    device_to_proto,
    enum_from_proto,
    from_timestamp,
    optional,
    page_request,
    page_response,
    to_proto,
)
from .setup_camera import PoseMaskRpcs, pose_to_proto

_DEVICE_OPTIONAL = ("software_hash", "angle_of_view", "elevation", "lat", "lon", "azimuth", "pitch")
_DEVICE_MUTABLE = {"login", "specs", "owner_id", "angle_of_view", "elevation", "lat", "lon", "azimuth", "pitch"}
_SITE_MUTABLE = {"name", "lat", "lon", "country", "geocode", "type"}
_INSTALLATION_MUTABLE = {"start_time", "end_time", "is_trustworthy"}
_WEBHOOK_MUTABLE = {"callback", "url"}
_RECIPIENT_MUTABLE = {"notification_type", "address", "subject_template", "message_template"}


def _set_fields(request, names) -> dict:
    """{name: value} of the proto3 optional fields that are set."""
    return {name: getattr(request, name) for name in names if request.HasField(name)}


def _device_properties(request) -> dict:
    return {"specs": request.specs, **_set_fields(request, _DEVICE_OPTIONAL)}


def _site_fields(request) -> dict:
    return {name: getattr(request, name) for name in ("name", "lat", "lon", "country", "geocode")}


def _site(row) -> resources_pb2.Site:
    return to_proto(resources_pb2.Site, row)


def _installation(row) -> resources_pb2.Installation:
    return to_proto(resources_pb2.Installation, row)


def _webhook(row) -> resources_pb2.Webhook:
    return to_proto(resources_pb2.Webhook, row)


def _recipient(row) -> resources_pb2.Recipient:
    return to_proto(resources_pb2.Recipient, row)


class SetupServicer(PoseMaskRpcs, setup_service_pb2_grpc.SetupServiceServicer):
    def __init__(
        self,
        devices: DeviceService,
        sites: SiteService,
        installations: InstallationService,
        webhooks: WebhookService,
        recipients: RecipientService,
        poses: PoseService,
        masks: OcclusionMaskService,
        online_window: timedelta,
    ):
        self._poses = poses
        self._masks = masks
        self._online_window = online_window
        self._devices = devices
        self._sites = sites
        self._installations = installations
        self._webhooks = webhooks
        self._recipients = recipients

    # --- devices ---------------------------------------------------------------------

    async def CreateDevice(self, request, context):
        device = await self._devices.create_device(
            request.login, request.password, request.owner_id, _device_properties(request)
        )
        return pb.CreateDeviceResponse(device=device_to_proto(device))

    async def RegisterDevice(self, request, context):
        device = await self._devices.register_device(
            current_principal(), request.login, request.password, _device_properties(request)
        )
        return pb.RegisterDeviceResponse(device=device_to_proto(device))

    async def _with_status(self, devices: list[Any]) -> list[resources_pb2.Device]:
        """Devices with their camera status: online, and each pose with its latest image."""
        poses = await self._poses.poses_of_devices([d.id for d in devices])
        now = datetime.now(UTC)
        messages = []
        for device in devices:
            message = device_to_proto(device)
            message.online = is_online(device.last_ping_time, now, self._online_window)
            message.poses.extend(pose_to_proto(p) for p in poses.get(device.id, ()))
            messages.append(message)
        return messages

    async def GetDevice(self, request, context):
        device = await self._devices.get_device(current_principal(), request.device_id)
        return pb.GetDeviceResponse(device=(await self._with_status([device]))[0])

    async def ListDevices(self, request, context):
        page = await self._devices.list_devices(
            current_principal(), page_request(request), optional(request, "group_id")
        )
        return pb.ListDevicesResponse(
            devices=await self._with_status(list(page.items)),
            next_page_token=page.next_page_token,
            total_size=page.total_size,
        )

    async def ListMyDevices(self, request, context):
        page = await self._devices.list_my_devices(current_principal(), page_request(request))
        return page_response(pb.ListMyDevicesResponse, "devices", page, device_to_proto)

    async def GetMyDevice(self, request, context):
        return pb.GetMyDeviceResponse(device=device_to_proto(await self._devices.get_my_device(current_principal())))

    async def UpdateDevice(self, request, context):
        changes = changes_from_mask(request.device, request.update_mask, _DEVICE_MUTABLE, prefix="device")
        device = await self._devices.update_device(request.device_id, changes)
        return pb.UpdateDeviceResponse(device=device_to_proto(device))

    async def DeleteDevice(self, request, context):
        await self._devices.delete_device(request.device_id)
        return pb.DeleteDeviceResponse()

    async def UpdateDeviceSoftwareHash(self, request, context):
        device = await self._devices.set_software_hash(request.device_id, request.software_hash)
        return pb.UpdateDeviceSoftwareHashResponse(device=device_to_proto(device))

    async def UpdateDevicePassword(self, request, context):
        device = await self._devices.set_password(request.device_id, request.password)
        return pb.UpdateDevicePasswordResponse(device=device_to_proto(device))

    async def UpdateDeviceLocation(self, request, context):
        location = _set_fields(request, LOCATION_FIELDS)
        device = await self._devices.update_location(current_principal(), request.device_id, location)
        return pb.UpdateDeviceLocationResponse(device=device_to_proto(device))

    async def UpdateMyLocation(self, request, context):
        device = await self._devices.update_my_location(current_principal(), _set_fields(request, LOCATION_FIELDS))
        return pb.UpdateMyLocationResponse(device=device_to_proto(device))

    async def Heartbeat(self, request, context):
        return pb.HeartbeatResponse(device=device_to_proto(await self._devices.heartbeat(current_principal())))

    # --- sites -----------------------------------------------------------------------

    async def CreateSite(self, request, context):
        site_type = enum_from_proto(resources_pb2.SiteType.DESCRIPTOR, request.type, "type", required=False)
        site = await self._sites.create_site({**_site_fields(request), "type": site_type}, request.group_id)
        return pb.CreateSiteResponse(site=_site(site))

    async def CreateNoAlertSite(self, request, context):
        site = await self._sites.create_no_alert_site(current_principal(), _site_fields(request))
        return pb.CreateNoAlertSiteResponse(site=_site(site))

    async def GetSite(self, request, context):
        return pb.GetSiteResponse(site=_site(await self._sites.get_site(current_principal(), request.site_id)))

    async def ListSites(self, request, context):
        page = await self._sites.list_sites(current_principal(), page_request(request), optional(request, "group_id"))
        return page_response(pb.ListSitesResponse, "sites", page, _site)

    async def UpdateSite(self, request, context):
        changes = changes_from_mask(request.site, request.update_mask, _SITE_MUTABLE, prefix="site")
        site = await self._sites.update_site(current_principal(), request.site_id, changes)
        return pb.UpdateSiteResponse(site=_site(site))

    async def DeleteSite(self, request, context):
        await self._sites.delete_site(request.site_id)
        return pb.DeleteSiteResponse()

    # --- installations ---------------------------------------------------------------

    async def CreateInstallation(self, request, context):
        installation = await self._installations.create_installation(
            request.device_id,
            request.site_id,
            from_timestamp(request, "start_time"),
            from_timestamp(request, "end_time"),
            request.is_trustworthy,
        )
        return pb.CreateInstallationResponse(installation=_installation(installation))

    async def GetInstallation(self, request, context):
        installation = await self._installations.get_installation(current_principal(), request.installation_id)
        return pb.GetInstallationResponse(installation=_installation(installation))

    async def ListInstallations(self, request, context):
        page = await self._installations.list_installations(
            current_principal(), page_request(request), optional(request, "group_id")
        )
        return page_response(pb.ListInstallationsResponse, "installations", page, _installation)

    async def UpdateInstallation(self, request, context):
        changes = changes_from_mask(
            request.installation, request.update_mask, _INSTALLATION_MUTABLE, prefix="installation"
        )
        installation = await self._installations.update_installation(
            current_principal(), request.installation_id, changes
        )
        return pb.UpdateInstallationResponse(installation=_installation(installation))

    async def DeleteInstallation(self, request, context):
        await self._installations.delete_installation(request.installation_id)
        return pb.DeleteInstallationResponse()

    async def ListSiteDevices(self, request, context):
        page = await self._installations.list_site_devices(current_principal(), request.site_id, page_request(request))
        return page_response(pb.ListSiteDevicesResponse, "device_ids", page, int)

    # --- webhooks --------------------------------------------------------------------

    async def CreateWebhook(self, request, context):
        return pb.CreateWebhookResponse(
            webhook=_webhook(await self._webhooks.create_webhook(request.callback, request.url))
        )

    async def GetWebhook(self, request, context):
        return pb.GetWebhookResponse(webhook=_webhook(await self._webhooks.get_webhook(request.webhook_id)))

    async def ListWebhooks(self, request, context):
        page = await self._webhooks.list_webhooks(page_request(request))
        return page_response(pb.ListWebhooksResponse, "webhooks", page, _webhook)

    async def UpdateWebhook(self, request, context):
        changes = changes_from_mask(request.webhook, request.update_mask, _WEBHOOK_MUTABLE, prefix="webhook")
        return pb.UpdateWebhookResponse(
            webhook=_webhook(await self._webhooks.update_webhook(request.webhook_id, changes))
        )

    async def DeleteWebhook(self, request, context):
        await self._webhooks.delete_webhook(request.webhook_id)
        return pb.DeleteWebhookResponse()

    # --- recipients ------------------------------------------------------------------

    async def CreateRecipient(self, request, context):
        fields = {
            "notification_type": enum_from_proto(
                resources_pb2.NotificationType.DESCRIPTOR,
                request.notification_type,
                "notification_type",
                required=False,
            ),
            "address": request.address,
            "subject_template": request.subject_template,
            "message_template": request.message_template,
        }
        recipient = await self._recipients.create_recipient(request.group_id, fields)
        return pb.CreateRecipientResponse(recipient=_recipient(recipient))

    async def GetRecipient(self, request, context):
        return pb.GetRecipientResponse(recipient=_recipient(await self._recipients.get_recipient(request.recipient_id)))

    async def ListRecipients(self, request, context):
        page = await self._recipients.list_recipients(page_request(request))
        return page_response(pb.ListRecipientsResponse, "recipients", page, _recipient)

    async def ListGroupRecipients(self, request, context):
        page = await self._recipients.list_group_recipients(request.group_id, page_request(request))
        return page_response(pb.ListGroupRecipientsResponse, "recipients", page, _recipient)

    async def UpdateRecipient(self, request, context):
        changes = changes_from_mask(request.recipient, request.update_mask, _RECIPIENT_MUTABLE, prefix="recipient")
        recipient = await self._recipients.update_recipient(request.recipient_id, changes)
        return pb.UpdateRecipientResponse(recipient=_recipient(recipient))

    async def DeleteRecipient(self, request, context):
        await self._recipients.delete_recipient(request.recipient_id)
        return pb.DeleteRecipientResponse()
