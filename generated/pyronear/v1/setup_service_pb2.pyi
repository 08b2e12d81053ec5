import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from pyronear.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateDeviceRequest(_message.Message):
    __slots__ = ("login", "password", "owner_id", "specs", "software_hash", "angle_of_view", "elevation", "lat", "lon", "azimuth", "pitch")
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    SPECS_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_HASH_FIELD_NUMBER: _ClassVar[int]
    ANGLE_OF_VIEW_FIELD_NUMBER: _ClassVar[int]
    ELEVATION_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    AZIMUTH_FIELD_NUMBER: _ClassVar[int]
    PITCH_FIELD_NUMBER: _ClassVar[int]
    login: str
    password: str
    owner_id: int
    specs: str
    software_hash: str
    angle_of_view: float
    elevation: float
    lat: float
    lon: float
    azimuth: float
    pitch: float
    def __init__(self, login: _Optional[str] = ..., password: _Optional[str] = ..., owner_id: _Optional[int] = ..., specs: _Optional[str] = ..., software_hash: _Optional[str] = ..., angle_of_view: _Optional[float] = ..., elevation: _Optional[float] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., azimuth: _Optional[float] = ..., pitch: _Optional[float] = ...) -> None: ...

class CreateDeviceResponse(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: _resources_pb2.Device
    def __init__(self, device: _Optional[_Union[_resources_pb2.Device, _Mapping]] = ...) -> None: ...

class RegisterDeviceRequest(_message.Message):
    __slots__ = ("login", "password", "specs", "software_hash", "angle_of_view", "elevation", "lat", "lon", "azimuth", "pitch")
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    SPECS_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_HASH_FIELD_NUMBER: _ClassVar[int]
    ANGLE_OF_VIEW_FIELD_NUMBER: _ClassVar[int]
    ELEVATION_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    AZIMUTH_FIELD_NUMBER: _ClassVar[int]
    PITCH_FIELD_NUMBER: _ClassVar[int]
    login: str
    password: str
    specs: str
    software_hash: str
    angle_of_view: float
    elevation: float
    lat: float
    lon: float
    azimuth: float
    pitch: float
    def __init__(self, login: _Optional[str] = ..., password: _Optional[str] = ..., specs: _Optional[str] = ..., software_hash: _Optional[str] = ..., angle_of_view: _Optional[float] = ..., elevation: _Optional[float] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., azimuth: _Optional[float] = ..., pitch: _Optional[float] = ...) -> None: ...

class RegisterDeviceResponse(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: _resources_pb2.Device
    def __init__(self, device: _Optional[_Union[_resources_pb2.Device, _Mapping]] = ...) -> None: ...

class GetDeviceRequest(_message.Message):
    __slots__ = ("device_id",)
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    device_id: int
    def __init__(self, device_id: _Optional[int] = ...) -> None: ...

class GetDeviceResponse(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: _resources_pb2.Device
    def __init__(self, device: _Optional[_Union[_resources_pb2.Device, _Mapping]] = ...) -> None: ...

class ListDevicesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "group_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    group_id: int
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., group_id: _Optional[int] = ...) -> None: ...

class ListDevicesResponse(_message.Message):
    __slots__ = ("devices", "next_page_token", "total_size")
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    devices: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Device]
    next_page_token: str
    total_size: int
    def __init__(self, devices: _Optional[_Iterable[_Union[_resources_pb2.Device, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListMyDevicesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMyDevicesResponse(_message.Message):
    __slots__ = ("devices", "next_page_token", "total_size")
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    devices: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Device]
    next_page_token: str
    total_size: int
    def __init__(self, devices: _Optional[_Iterable[_Union[_resources_pb2.Device, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetMyDeviceRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetMyDeviceResponse(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: _resources_pb2.Device
    def __init__(self, device: _Optional[_Union[_resources_pb2.Device, _Mapping]] = ...) -> None: ...

class UpdateDeviceRequest(_message.Message):
    __slots__ = ("device_id", "device", "update_mask")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    device_id: int
    device: _resources_pb2.Device
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, device_id: _Optional[int] = ..., device: _Optional[_Union[_resources_pb2.Device, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateDeviceResponse(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: _resources_pb2.Device
    def __init__(self, device: _Optional[_Union[_resources_pb2.Device, _Mapping]] = ...) -> None: ...

class DeleteDeviceRequest(_message.Message):
    __slots__ = ("device_id",)
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    device_id: int
    def __init__(self, device_id: _Optional[int] = ...) -> None: ...

class DeleteDeviceResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class UpdateDeviceSoftwareHashRequest(_message.Message):
    __slots__ = ("device_id", "software_hash")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_HASH_FIELD_NUMBER: _ClassVar[int]
    device_id: int
    software_hash: str
    def __init__(self, device_id: _Optional[int] = ..., software_hash: _Optional[str] = ...) -> None: ...

class UpdateDeviceSoftwareHashResponse(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: _resources_pb2.Device
    def __init__(self, device: _Optional[_Union[_resources_pb2.Device, _Mapping]] = ...) -> None: ...

class UpdateDevicePasswordRequest(_message.Message):
    __slots__ = ("device_id", "password")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    device_id: int
    password: str
    def __init__(self, device_id: _Optional[int] = ..., password: _Optional[str] = ...) -> None: ...

class UpdateDevicePasswordResponse(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: _resources_pb2.Device
    def __init__(self, device: _Optional[_Union[_resources_pb2.Device, _Mapping]] = ...) -> None: ...

class UpdateDeviceLocationRequest(_message.Message):
    __slots__ = ("device_id", "lat", "lon", "elevation", "azimuth", "pitch", "angle_of_view")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    ELEVATION_FIELD_NUMBER: _ClassVar[int]
    AZIMUTH_FIELD_NUMBER: _ClassVar[int]
    PITCH_FIELD_NUMBER: _ClassVar[int]
    ANGLE_OF_VIEW_FIELD_NUMBER: _ClassVar[int]
    device_id: int
    lat: float
    lon: float
    elevation: float
    azimuth: float
    pitch: float
    angle_of_view: float
    def __init__(self, device_id: _Optional[int] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., elevation: _Optional[float] = ..., azimuth: _Optional[float] = ..., pitch: _Optional[float] = ..., angle_of_view: _Optional[float] = ...) -> None: ...

class UpdateDeviceLocationResponse(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: _resources_pb2.Device
    def __init__(self, device: _Optional[_Union[_resources_pb2.Device, _Mapping]] = ...) -> None: ...

class UpdateMyLocationRequest(_message.Message):
    __slots__ = ("lat", "lon", "elevation", "azimuth", "pitch", "angle_of_view")
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    ELEVATION_FIELD_NUMBER: _ClassVar[int]
    AZIMUTH_FIELD_NUMBER: _ClassVar[int]
    PITCH_FIELD_NUMBER: _ClassVar[int]
    ANGLE_OF_VIEW_FIELD_NUMBER: _ClassVar[int]
    lat: float
    lon: float
    elevation: float
    azimuth: float
    pitch: float
    angle_of_view: float
    def __init__(self, lat: _Optional[float] = ..., lon: _Optional[float] = ..., elevation: _Optional[float] = ..., azimuth: _Optional[float] = ..., pitch: _Optional[float] = ..., angle_of_view: _Optional[float] = ...) -> None: ...

class UpdateMyLocationResponse(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: _resources_pb2.Device
    def __init__(self, device: _Optional[_Union[_resources_pb2.Device, _Mapping]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: _resources_pb2.Device
    def __init__(self, device: _Optional[_Union[_resources_pb2.Device, _Mapping]] = ...) -> None: ...

class CreateSiteRequest(_message.Message):
    __slots__ = ("name", "lat", "lon", "country", "geocode", "type", "group_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    GEOCODE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    lat: float
    lon: float
    country: str
    geocode: str
    type: _resources_pb2.SiteType
    group_id: int
    def __init__(self, name: _Optional[str] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., country: _Optional[str] = ..., geocode: _Optional[str] = ..., type: _Optional[_Union[_resources_pb2.SiteType, str]] = ..., group_id: _Optional[int] = ...) -> None: ...

class CreateSiteResponse(_message.Message):
    __slots__ = ("site",)
    SITE_FIELD_NUMBER: _ClassVar[int]
    site: _resources_pb2.Site
    def __init__(self, site: _Optional[_Union[_resources_pb2.Site, _Mapping]] = ...) -> None: ...

class CreateNoAlertSiteRequest(_message.Message):
    __slots__ = ("name", "lat", "lon", "country", "geocode")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    GEOCODE_FIELD_NUMBER: _ClassVar[int]
    name: str
    lat: float
    lon: float
    country: str
    geocode: str
    def __init__(self, name: _Optional[str] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., country: _Optional[str] = ..., geocode: _Optional[str] = ...) -> None: ...

class CreateNoAlertSiteResponse(_message.Message):
    __slots__ = ("site",)
    SITE_FIELD_NUMBER: _ClassVar[int]
    site: _resources_pb2.Site
    def __init__(self, site: _Optional[_Union[_resources_pb2.Site, _Mapping]] = ...) -> None: ...

class GetSiteRequest(_message.Message):
    __slots__ = ("site_id",)
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    site_id: int
    def __init__(self, site_id: _Optional[int] = ...) -> None: ...

class GetSiteResponse(_message.Message):
    __slots__ = ("site",)
    SITE_FIELD_NUMBER: _ClassVar[int]
    site: _resources_pb2.Site
    def __init__(self, site: _Optional[_Union[_resources_pb2.Site, _Mapping]] = ...) -> None: ...

class ListSitesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "group_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    group_id: int
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., group_id: _Optional[int] = ...) -> None: ...

class ListSitesResponse(_message.Message):
    __slots__ = ("sites", "next_page_token", "total_size")
    SITES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    sites: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Site]
    next_page_token: str
    total_size: int
    def __init__(self, sites: _Optional[_Iterable[_Union[_resources_pb2.Site, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateSiteRequest(_message.Message):
    __slots__ = ("site_id", "site", "update_mask")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    site_id: int
    site: _resources_pb2.Site
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, site_id: _Optional[int] = ..., site: _Optional[_Union[_resources_pb2.Site, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateSiteResponse(_message.Message):
    __slots__ = ("site",)
    SITE_FIELD_NUMBER: _ClassVar[int]
    site: _resources_pb2.Site
    def __init__(self, site: _Optional[_Union[_resources_pb2.Site, _Mapping]] = ...) -> None: ...

class DeleteSiteRequest(_message.Message):
    __slots__ = ("site_id",)
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    site_id: int
    def __init__(self, site_id: _Optional[int] = ...) -> None: ...

class DeleteSiteResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateInstallationRequest(_message.Message):
    __slots__ = ("device_id", "site_id", "start_time", "end_time", "is_trustworthy")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    IS_TRUSTWORTHY_FIELD_NUMBER: _ClassVar[int]
    device_id: int
    site_id: int
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    is_trustworthy: bool
    def __init__(self, device_id: _Optional[int] = ..., site_id: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., is_trustworthy: _Optional[bool] = ...) -> None: ...

class CreateInstallationResponse(_message.Message):
    __slots__ = ("installation",)
    INSTALLATION_FIELD_NUMBER: _ClassVar[int]
    installation: _resources_pb2.Installation
    def __init__(self, installation: _Optional[_Union[_resources_pb2.Installation, _Mapping]] = ...) -> None: ...

class GetInstallationRequest(_message.Message):
    __slots__ = ("installation_id",)
    INSTALLATION_ID_FIELD_NUMBER: _ClassVar[int]
    installation_id: int
    def __init__(self, installation_id: _Optional[int] = ...) -> None: ...

class GetInstallationResponse(_message.Message):
    __slots__ = ("installation",)
    INSTALLATION_FIELD_NUMBER: _ClassVar[int]
    installation: _resources_pb2.Installation
    def __init__(self, installation: _Optional[_Union[_resources_pb2.Installation, _Mapping]] = ...) -> None: ...

class ListInstallationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "group_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    group_id: int
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., group_id: _Optional[int] = ...) -> None: ...

class ListInstallationsResponse(_message.Message):
    __slots__ = ("installations", "next_page_token", "total_size")
    INSTALLATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    installations: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Installation]
    next_page_token: str
    total_size: int
    def __init__(self, installations: _Optional[_Iterable[_Union[_resources_pb2.Installation, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateInstallationRequest(_message.Message):
    __slots__ = ("installation_id", "installation", "update_mask")
    INSTALLATION_ID_FIELD_NUMBER: _ClassVar[int]
    INSTALLATION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    installation_id: int
    installation: _resources_pb2.Installation
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, installation_id: _Optional[int] = ..., installation: _Optional[_Union[_resources_pb2.Installation, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateInstallationResponse(_message.Message):
    __slots__ = ("installation",)
    INSTALLATION_FIELD_NUMBER: _ClassVar[int]
    installation: _resources_pb2.Installation
    def __init__(self, installation: _Optional[_Union[_resources_pb2.Installation, _Mapping]] = ...) -> None: ...

class DeleteInstallationRequest(_message.Message):
    __slots__ = ("installation_id",)
    INSTALLATION_ID_FIELD_NUMBER: _ClassVar[int]
    installation_id: int
    def __init__(self, installation_id: _Optional[int] = ...) -> None: ...

class DeleteInstallationResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListSiteDevicesRequest(_message.Message):
    __slots__ = ("site_id", "page_size", "page_token")
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    site_id: int
    page_size: int
    page_token: str
    def __init__(self, site_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSiteDevicesResponse(_message.Message):
    __slots__ = ("device_ids", "next_page_token", "total_size")
    DEVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    device_ids: _containers.RepeatedScalarFieldContainer[int]
    next_page_token: str
    total_size: int
    def __init__(self, device_ids: _Optional[_Iterable[int]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class CreateWebhookRequest(_message.Message):
    __slots__ = ("callback", "url")
    CALLBACK_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    callback: str
    url: str
    def __init__(self, callback: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class CreateWebhookResponse(_message.Message):
    __slots__ = ("webhook",)
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    webhook: _resources_pb2.Webhook
    def __init__(self, webhook: _Optional[_Union[_resources_pb2.Webhook, _Mapping]] = ...) -> None: ...

class GetWebhookRequest(_message.Message):
    __slots__ = ("webhook_id",)
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    webhook_id: int
    def __init__(self, webhook_id: _Optional[int] = ...) -> None: ...

class GetWebhookResponse(_message.Message):
    __slots__ = ("webhook",)
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    webhook: _resources_pb2.Webhook
    def __init__(self, webhook: _Optional[_Union[_resources_pb2.Webhook, _Mapping]] = ...) -> None: ...

class ListWebhooksRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWebhooksResponse(_message.Message):
    __slots__ = ("webhooks", "next_page_token", "total_size")
    WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    webhooks: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Webhook]
    next_page_token: str
    total_size: int
    def __init__(self, webhooks: _Optional[_Iterable[_Union[_resources_pb2.Webhook, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateWebhookRequest(_message.Message):
    __slots__ = ("webhook_id", "webhook", "update_mask")
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    webhook_id: int
    webhook: _resources_pb2.Webhook
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, webhook_id: _Optional[int] = ..., webhook: _Optional[_Union[_resources_pb2.Webhook, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateWebhookResponse(_message.Message):
    __slots__ = ("webhook",)
    WEBHOOK_FIELD_NUMBER: _ClassVar[int]
    webhook: _resources_pb2.Webhook
    def __init__(self, webhook: _Optional[_Union[_resources_pb2.Webhook, _Mapping]] = ...) -> None: ...

class DeleteWebhookRequest(_message.Message):
    __slots__ = ("webhook_id",)
    WEBHOOK_ID_FIELD_NUMBER: _ClassVar[int]
    webhook_id: int
    def __init__(self, webhook_id: _Optional[int] = ...) -> None: ...

class DeleteWebhookResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateRecipientRequest(_message.Message):
    __slots__ = ("group_id", "notification_type", "address", "subject_template", "message_template")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    notification_type: _resources_pb2.NotificationType
    address: str
    subject_template: str
    message_template: str
    def __init__(self, group_id: _Optional[int] = ..., notification_type: _Optional[_Union[_resources_pb2.NotificationType, str]] = ..., address: _Optional[str] = ..., subject_template: _Optional[str] = ..., message_template: _Optional[str] = ...) -> None: ...

class CreateRecipientResponse(_message.Message):
    __slots__ = ("recipient",)
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    recipient: _resources_pb2.Recipient
    def __init__(self, recipient: _Optional[_Union[_resources_pb2.Recipient, _Mapping]] = ...) -> None: ...

class GetRecipientRequest(_message.Message):
    __slots__ = ("recipient_id",)
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    recipient_id: int
    def __init__(self, recipient_id: _Optional[int] = ...) -> None: ...

class GetRecipientResponse(_message.Message):
    __slots__ = ("recipient",)
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    recipient: _resources_pb2.Recipient
    def __init__(self, recipient: _Optional[_Union[_resources_pb2.Recipient, _Mapping]] = ...) -> None: ...

class ListRecipientsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRecipientsResponse(_message.Message):
    __slots__ = ("recipients", "next_page_token", "total_size")
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    recipients: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Recipient]
    next_page_token: str
    total_size: int
    def __init__(self, recipients: _Optional[_Iterable[_Union[_resources_pb2.Recipient, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListGroupRecipientsRequest(_message.Message):
    __slots__ = ("group_id", "page_size", "page_token")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    page_size: int
    page_token: str
    def __init__(self, group_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListGroupRecipientsResponse(_message.Message):
    __slots__ = ("recipients", "next_page_token", "total_size")
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    recipients: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Recipient]
    next_page_token: str
    total_size: int
    def __init__(self, recipients: _Optional[_Iterable[_Union[_resources_pb2.Recipient, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateRecipientRequest(_message.Message):
    __slots__ = ("recipient_id", "recipient", "update_mask")
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    recipient_id: int
    recipient: _resources_pb2.Recipient
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, recipient_id: _Optional[int] = ..., recipient: _Optional[_Union[_resources_pb2.Recipient, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateRecipientResponse(_message.Message):
    __slots__ = ("recipient",)
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    recipient: _resources_pb2.Recipient
    def __init__(self, recipient: _Optional[_Union[_resources_pb2.Recipient, _Mapping]] = ...) -> None: ...

class DeleteRecipientRequest(_message.Message):
    __slots__ = ("recipient_id",)
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    recipient_id: int
    def __init__(self, recipient_id: _Optional[int] = ...) -> None: ...

class DeleteRecipientResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreatePoseRequest(_message.Message):
    __slots__ = ("device_id", "azimuth", "patrol_index")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    AZIMUTH_FIELD_NUMBER: _ClassVar[int]
    PATROL_INDEX_FIELD_NUMBER: _ClassVar[int]
    device_id: int
    azimuth: float
    patrol_index: int
    def __init__(self, device_id: _Optional[int] = ..., azimuth: _Optional[float] = ..., patrol_index: _Optional[int] = ...) -> None: ...

class CreatePoseResponse(_message.Message):
    __slots__ = ("pose",)
    POSE_FIELD_NUMBER: _ClassVar[int]
    pose: _resources_pb2.Pose
    def __init__(self, pose: _Optional[_Union[_resources_pb2.Pose, _Mapping]] = ...) -> None: ...

class GetPoseRequest(_message.Message):
    __slots__ = ("pose_id",)
    POSE_ID_FIELD_NUMBER: _ClassVar[int]
    pose_id: int
    def __init__(self, pose_id: _Optional[int] = ...) -> None: ...

class GetPoseResponse(_message.Message):
    __slots__ = ("pose",)
    POSE_FIELD_NUMBER: _ClassVar[int]
    pose: _resources_pb2.Pose
    def __init__(self, pose: _Optional[_Union[_resources_pb2.Pose, _Mapping]] = ...) -> None: ...

class ListPosesRequest(_message.Message):
    __slots__ = ("device_id", "page_size", "page_token")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    device_id: int
    page_size: int
    page_token: str
    def __init__(self, device_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPosesResponse(_message.Message):
    __slots__ = ("poses", "next_page_token", "total_size")
    POSES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    poses: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Pose]
    next_page_token: str
    total_size: int
    def __init__(self, poses: _Optional[_Iterable[_Union[_resources_pb2.Pose, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdatePoseRequest(_message.Message):
    __slots__ = ("pose_id", "pose", "update_mask")
    POSE_ID_FIELD_NUMBER: _ClassVar[int]
    POSE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    pose_id: int
    pose: _resources_pb2.Pose
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, pose_id: _Optional[int] = ..., pose: _Optional[_Union[_resources_pb2.Pose, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdatePoseResponse(_message.Message):
    __slots__ = ("pose",)
    POSE_FIELD_NUMBER: _ClassVar[int]
    pose: _resources_pb2.Pose
    def __init__(self, pose: _Optional[_Union[_resources_pb2.Pose, _Mapping]] = ...) -> None: ...

class DeletePoseRequest(_message.Message):
    __slots__ = ("pose_id",)
    POSE_ID_FIELD_NUMBER: _ClassVar[int]
    pose_id: int
    def __init__(self, pose_id: _Optional[int] = ...) -> None: ...

class DeletePoseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMyPosesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMyPosesResponse(_message.Message):
    __slots__ = ("poses", "total_size")
    POSES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    poses: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Pose]
    total_size: int
    def __init__(self, poses: _Optional[_Iterable[_Union[_resources_pb2.Pose, _Mapping]]] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateMyPoseImageRequest(_message.Message):
    __slots__ = ("pose_id", "media_id")
    POSE_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    pose_id: int
    media_id: int
    def __init__(self, pose_id: _Optional[int] = ..., media_id: _Optional[int] = ...) -> None: ...

class UpdateMyPoseImageResponse(_message.Message):
    __slots__ = ("pose",)
    POSE_FIELD_NUMBER: _ClassVar[int]
    pose: _resources_pb2.Pose
    def __init__(self, pose: _Optional[_Union[_resources_pb2.Pose, _Mapping]] = ...) -> None: ...

class CreateOcclusionMaskRequest(_message.Message):
    __slots__ = ("pose_id", "box")
    POSE_ID_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    pose_id: int
    box: _resources_pb2.NormalizedBox
    def __init__(self, pose_id: _Optional[int] = ..., box: _Optional[_Union[_resources_pb2.NormalizedBox, _Mapping]] = ...) -> None: ...

class CreateOcclusionMaskResponse(_message.Message):
    __slots__ = ("occlusion_mask",)
    OCCLUSION_MASK_FIELD_NUMBER: _ClassVar[int]
    occlusion_mask: _resources_pb2.OcclusionMask
    def __init__(self, occlusion_mask: _Optional[_Union[_resources_pb2.OcclusionMask, _Mapping]] = ...) -> None: ...

class ListOcclusionMasksRequest(_message.Message):
    __slots__ = ("pose_id", "page_size", "page_token")
    POSE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    pose_id: int
    page_size: int
    page_token: str
    def __init__(self, pose_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListOcclusionMasksResponse(_message.Message):
    __slots__ = ("occlusion_masks", "next_page_token", "total_size")
    OCCLUSION_MASKS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    occlusion_masks: _containers.RepeatedCompositeFieldContainer[_resources_pb2.OcclusionMask]
    next_page_token: str
    total_size: int
    def __init__(self, occlusion_masks: _Optional[_Iterable[_Union[_resources_pb2.OcclusionMask, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class DeleteOcclusionMaskRequest(_message.Message):
    __slots__ = ("occlusion_mask_id",)
    OCCLUSION_MASK_ID_FIELD_NUMBER: _ClassVar[int]
    occlusion_mask_id: int
    def __init__(self, occlusion_mask_id: _Optional[int] = ...) -> None: ...

class DeleteOcclusionMaskResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListMyOcclusionMasksRequest(_message.Message):
    __slots__ = ("pose_id",)
    POSE_ID_FIELD_NUMBER: _ClassVar[int]
    pose_id: int
    def __init__(self, pose_id: _Optional[int] = ...) -> None: ...

class ListMyOcclusionMasksResponse(_message.Message):
    __slots__ = ("occlusion_masks", "total_size")
    OCCLUSION_MASKS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    occlusion_masks: _containers.RepeatedCompositeFieldContainer[_resources_pb2.OcclusionMask]
    total_size: int
    def __init__(self, occlusion_masks: _Optional[_Iterable[_Union[_resources_pb2.OcclusionMask, _Mapping]]] = ..., total_size: _Optional[int] = ...) -> None: ...
