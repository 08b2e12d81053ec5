"""Who may call what: the one table the auth interceptor reads.

Each RPC maps to the scopes allowed to call it (`PUBLIC` = no token needed). Group
isolation (a user only sees its group's rows) is enforced by the use cases, not here.
An RPC missing from this table is refused, and a test fails when a proto RPC has no row.
"""

from __future__ import annotations

from ..domain.principal import Scope

PUBLIC: frozenset[Scope] = frozenset()
ADMIN = frozenset({Scope.ADMIN})
ADMIN_USER = frozenset({Scope.ADMIN, Scope.USER})
ADMIN_DEVICE = frozenset({Scope.ADMIN, Scope.DEVICE})
DEVICE = frozenset({Scope.DEVICE})
ANY = frozenset({Scope.ADMIN, Scope.USER, Scope.DEVICE})

# Infrastructure services probes and grpcurl use without credentials.
PUBLIC_SERVICE_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")

_ACCESS = {
    "Login": PUBLIC,
    "CreateGroup": ADMIN,
    "UpdateGroup": ADMIN,
    "DeleteGroup": ADMIN,
    "GetGroup": ANY,
    "ListGroups": ANY,
    "GetAccess": ADMIN,
    "ListAccesses": ADMIN,
    "CreateUser": ADMIN,
    "GetUser": ADMIN,
    "UpdateUser": ADMIN,
    "UpdateUserPassword": ADMIN,
    "DeleteUser": ADMIN,
    "ListUsers": ADMIN_USER,
    "GetMyUser": ADMIN_USER,
    "UpdateMyUser": ADMIN_USER,
    "UpdateMyPassword": ADMIN_USER,
}

_SETUP = {
    "CreateDevice": ADMIN,
    "RegisterDevice": ADMIN_USER,
    "GetDevice": ADMIN_USER,
    "ListDevices": ADMIN_USER,
    "ListMyDevices": ADMIN_USER,
    "GetMyDevice": DEVICE,
    "UpdateDevice": ADMIN,
    "DeleteDevice": ADMIN,
    "UpdateDeviceSoftwareHash": ADMIN,
    "UpdateDevicePassword": ADMIN,
    "UpdateDeviceLocation": ADMIN_USER,  # a user only for devices it owns
    "UpdateMyLocation": DEVICE,
    "Heartbeat": DEVICE,
    "CreateSite": ADMIN,
    "CreateNoAlertSite": ADMIN_USER,
    "GetSite": ADMIN_USER,
    "ListSites": ADMIN_USER,
    "UpdateSite": ADMIN_USER,
    "DeleteSite": ADMIN,
    "CreateInstallation": ADMIN,
    "DeleteInstallation": ADMIN,
    "GetInstallation": ADMIN_USER,
    "ListInstallations": ADMIN_USER,
    "UpdateInstallation": ADMIN_USER,
    "ListSiteDevices": ADMIN_USER,
    "CreateWebhook": ADMIN,
    "GetWebhook": ADMIN,
    "ListWebhooks": ADMIN,
    "UpdateWebhook": ADMIN,
    "DeleteWebhook": ADMIN,
    "CreateRecipient": ADMIN,
    "GetRecipient": ADMIN,
    "ListRecipients": ADMIN,
    "ListGroupRecipients": ADMIN,
    "UpdateRecipient": ADMIN,
    "DeleteRecipient": ADMIN,
    # Poses and masks: users of the device's group and admins manage them; the camera reads
    # its own and sets the latest image of its poses.
    "CreatePose": ADMIN_USER,
    "GetPose": ADMIN_USER,
    "ListPoses": ADMIN_USER,
    "UpdatePose": ADMIN_USER,
    "DeletePose": ADMIN_USER,
    "ListMyPoses": DEVICE,
    "UpdateMyPoseImage": DEVICE,
    "CreateOcclusionMask": ADMIN_USER,
    "ListOcclusionMasks": ADMIN_USER,
    "DeleteOcclusionMask": ADMIN_USER,
    "ListMyOcclusionMasks": DEVICE,
}

_DETECTION = {
    "CreateEvent": ADMIN_DEVICE,
    "GetEvent": ADMIN_USER,
    "ListEvents": ADMIN_USER,
    "ListPastEvents": ADMIN_USER,
    "ListUnacknowledgedEvents": ADMIN_USER,
    "ListEventAlerts": ADMIN_USER,
    "UpdateEvent": ADMIN_DEVICE,  # a device only for events of its group
    "AcknowledgeEvent": ADMIN_USER,
    "LabelEvent": ADMIN_USER,  # never devices: a label is a human's judgement
    "ListUnlabeledEvents": ADMIN_USER,
    "DeleteEvent": ADMIN,
    "CreateMedia": ADMIN,
    "CreateMyMedia": DEVICE,
    "UploadMedia": ADMIN_DEVICE,  # a device only for its own media
    "DownloadMedia": ADMIN_USER,
    "GetMediaUrl": ADMIN_USER,
    "GetMedia": ADMIN_USER,
    "ListMedia": ADMIN_USER,
    "DeleteMedia": ADMIN,
    "CreateAlert": ADMIN,
    "CreateMyAlert": DEVICE,
    "SendAlert": DEVICE,
    "GetAlert": ADMIN_USER,
    "ListAlerts": ADMIN_USER,
    "ListOngoingAlerts": ADMIN_USER,
    "DeleteAlert": ADMIN,
    "WatchAlerts": ADMIN_USER,
    "SendNotification": ADMIN,
    "GetNotification": ADMIN,
    "ListNotifications": ADMIN,
    "DeleteNotification": ADMIN,
    # Incidents: as events (users of the group, admins); cameras never list them.
    "GetIncident": ADMIN_USER,
    "ListIncidents": ADMIN_USER,
    "ListIncidentEvents": ADMIN_USER,
    "DetachIncidentEvent": ADMIN_USER,
    "WatchIncidents": ADMIN_USER,
}


def _qualify(service: str, table: dict[str, frozenset[Scope]]) -> dict[str, frozenset[Scope]]:
    return {f"/pyronear.v1.{service}/{rpc}": scopes for rpc, scopes in table.items()}


RPC_SCOPES: dict[str, frozenset[Scope]] = {
    **_qualify("AccessService", _ACCESS),
    **_qualify("SetupService", _SETUP),
    **_qualify("DetectionService", _DETECTION),
}
