import datetime

from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from pyronear.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateEventRequest(_message.Message):
    __slots__ = ("group_id", "type", "lat", "lon", "start_time", "request_id")
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    group_id: int
    type: _resources_pb2.EventType
    lat: float
    lon: float
    start_time: _timestamp_pb2.Timestamp
    request_id: str
    def __init__(self, group_id: _Optional[int] = ..., type: _Optional[_Union[_resources_pb2.EventType, str]] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateEventResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _resources_pb2.Event
    def __init__(self, event: _Optional[_Union[_resources_pb2.Event, _Mapping]] = ...) -> None: ...

class GetEventRequest(_message.Message):
    __slots__ = ("event_id",)
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    def __init__(self, event_id: _Optional[int] = ...) -> None: ...

class GetEventResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _resources_pb2.Event
    def __init__(self, event: _Optional[_Union[_resources_pb2.Event, _Mapping]] = ...) -> None: ...

class ListEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "created_after", "created_before", "group_id", "label")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    created_after: _timestamp_pb2.Timestamp
    created_before: _timestamp_pb2.Timestamp
    group_id: int
    label: _resources_pb2.EventLabel
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., created_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group_id: _Optional[int] = ..., label: _Optional[_Union[_resources_pb2.EventLabel, str]] = ...) -> None: ...

class ListEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token", "total_size")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Event]
    next_page_token: str
    total_size: int
    def __init__(self, events: _Optional[_Iterable[_Union[_resources_pb2.Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListPastEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPastEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token", "total_size")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Event]
    next_page_token: str
    total_size: int
    def __init__(self, events: _Optional[_Iterable[_Union[_resources_pb2.Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListUnacknowledgedEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUnacknowledgedEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token", "total_size")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Event]
    next_page_token: str
    total_size: int
    def __init__(self, events: _Optional[_Iterable[_Union[_resources_pb2.Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListEventAlertsRequest(_message.Message):
    __slots__ = ("event_id", "page_size", "page_token")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    page_size: int
    page_token: str
    def __init__(self, event_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListEventAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token", "total_size")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Alert]
    next_page_token: str
    total_size: int
    def __init__(self, alerts: _Optional[_Iterable[_Union[_resources_pb2.Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateEventRequest(_message.Message):
    __slots__ = ("event_id", "event", "update_mask")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    event: _resources_pb2.Event
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, event_id: _Optional[int] = ..., event: _Optional[_Union[_resources_pb2.Event, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class UpdateEventResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _resources_pb2.Event
    def __init__(self, event: _Optional[_Union[_resources_pb2.Event, _Mapping]] = ...) -> None: ...

class AcknowledgeEventRequest(_message.Message):
    __slots__ = ("event_id",)
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    def __init__(self, event_id: _Optional[int] = ...) -> None: ...

class AcknowledgeEventResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _resources_pb2.Event
    def __init__(self, event: _Optional[_Union[_resources_pb2.Event, _Mapping]] = ...) -> None: ...

class DeleteEventRequest(_message.Message):
    __slots__ = ("event_id",)
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    def __init__(self, event_id: _Optional[int] = ...) -> None: ...

class DeleteEventResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateMediaRequest(_message.Message):
    __slots__ = ("device_id", "type")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    device_id: int
    type: _resources_pb2.MediaType
    def __init__(self, device_id: _Optional[int] = ..., type: _Optional[_Union[_resources_pb2.MediaType, str]] = ...) -> None: ...

class CreateMediaResponse(_message.Message):
    __slots__ = ("media",)
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    media: _resources_pb2.Media
    def __init__(self, media: _Optional[_Union[_resources_pb2.Media, _Mapping]] = ...) -> None: ...

class CreateMyMediaRequest(_message.Message):
    __slots__ = ("type", "request_id")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    type: _resources_pb2.MediaType
    request_id: str
    def __init__(self, type: _Optional[_Union[_resources_pb2.MediaType, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateMyMediaResponse(_message.Message):
    __slots__ = ("media",)
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    media: _resources_pb2.Media
    def __init__(self, media: _Optional[_Union[_resources_pb2.Media, _Mapping]] = ...) -> None: ...

class UploadMediaRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: UploadMediaHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[UploadMediaHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadMediaHeader(_message.Message):
    __slots__ = ("media_id", "size_bytes", "sha256", "content_type", "request_id")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    size_bytes: int
    sha256: str
    content_type: str
    request_id: str
    def __init__(self, media_id: _Optional[int] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., content_type: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class UploadMediaResponse(_message.Message):
    __slots__ = ("media",)
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    media: _resources_pb2.Media
    def __init__(self, media: _Optional[_Union[_resources_pb2.Media, _Mapping]] = ...) -> None: ...

class DownloadMediaRequest(_message.Message):
    __slots__ = ("media_id",)
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    def __init__(self, media_id: _Optional[int] = ...) -> None: ...

class DownloadMediaResponse(_message.Message):
    __slots__ = ("media", "chunk")
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    media: _resources_pb2.Media
    chunk: bytes
    def __init__(self, media: _Optional[_Union[_resources_pb2.Media, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class GetMediaUrlRequest(_message.Message):
    __slots__ = ("media_id",)
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    def __init__(self, media_id: _Optional[int] = ...) -> None: ...

class GetMediaUrlResponse(_message.Message):
    __slots__ = ("url", "expire_time")
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    url: str
    expire_time: _timestamp_pb2.Timestamp
    def __init__(self, url: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetMediaRequest(_message.Message):
    __slots__ = ("media_id",)
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    def __init__(self, media_id: _Optional[int] = ...) -> None: ...

class GetMediaResponse(_message.Message):
    __slots__ = ("media",)
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    media: _resources_pb2.Media
    def __init__(self, media: _Optional[_Union[_resources_pb2.Media, _Mapping]] = ...) -> None: ...

class ListMediaRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "created_after", "created_before", "group_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    created_after: _timestamp_pb2.Timestamp
    created_before: _timestamp_pb2.Timestamp
    group_id: int
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., created_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group_id: _Optional[int] = ...) -> None: ...

class ListMediaResponse(_message.Message):
    __slots__ = ("media", "next_page_token", "total_size")
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    media: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Media]
    next_page_token: str
    total_size: int
    def __init__(self, media: _Optional[_Iterable[_Union[_resources_pb2.Media, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class DeleteMediaRequest(_message.Message):
    __slots__ = ("media_id",)
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    def __init__(self, media_id: _Optional[int] = ...) -> None: ...

class DeleteMediaResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateAlertRequest(_message.Message):
    __slots__ = ("device_id", "media_id", "event_id", "azimuth", "lat", "lon", "localization", "request_id", "boxes", "pose_id", "capture_time")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    AZIMUTH_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    LOCALIZATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BOXES_FIELD_NUMBER: _ClassVar[int]
    POSE_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_FIELD_NUMBER: _ClassVar[int]
    device_id: int
    media_id: int
    event_id: int
    azimuth: float
    lat: float
    lon: float
    localization: str
    request_id: str
    boxes: _containers.RepeatedCompositeFieldContainer[_resources_pb2.DetectionBox]
    pose_id: int
    capture_time: _timestamp_pb2.Timestamp
    def __init__(self, device_id: _Optional[int] = ..., media_id: _Optional[int] = ..., event_id: _Optional[int] = ..., azimuth: _Optional[float] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., localization: _Optional[str] = ..., request_id: _Optional[str] = ..., boxes: _Optional[_Iterable[_Union[_resources_pb2.DetectionBox, _Mapping]]] = ..., pose_id: _Optional[int] = ..., capture_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: _resources_pb2.Alert
    def __init__(self, alert: _Optional[_Union[_resources_pb2.Alert, _Mapping]] = ...) -> None: ...

class CreateMyAlertRequest(_message.Message):
    __slots__ = ("media_id", "event_id", "azimuth", "lat", "lon", "localization", "request_id", "boxes", "pose_id", "capture_time")
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    AZIMUTH_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    LOCALIZATION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    BOXES_FIELD_NUMBER: _ClassVar[int]
    POSE_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_FIELD_NUMBER: _ClassVar[int]
    media_id: int
    event_id: int
    azimuth: float
    lat: float
    lon: float
    localization: str
    request_id: str
    boxes: _containers.RepeatedCompositeFieldContainer[_resources_pb2.DetectionBox]
    pose_id: int
    capture_time: _timestamp_pb2.Timestamp
    def __init__(self, media_id: _Optional[int] = ..., event_id: _Optional[int] = ..., azimuth: _Optional[float] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., localization: _Optional[str] = ..., request_id: _Optional[str] = ..., boxes: _Optional[_Iterable[_Union[_resources_pb2.DetectionBox, _Mapping]]] = ..., pose_id: _Optional[int] = ..., capture_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateMyAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: _resources_pb2.Alert
    def __init__(self, alert: _Optional[_Union[_resources_pb2.Alert, _Mapping]] = ...) -> None: ...

class GetAlertRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: int
    def __init__(self, alert_id: _Optional[int] = ...) -> None: ...

class GetAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: _resources_pb2.Alert
    def __init__(self, alert: _Optional[_Union[_resources_pb2.Alert, _Mapping]] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "created_after", "created_before", "group_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CREATED_AFTER_FIELD_NUMBER: _ClassVar[int]
    CREATED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    created_after: _timestamp_pb2.Timestamp
    created_before: _timestamp_pb2.Timestamp
    group_id: int
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., created_after: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_before: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., group_id: _Optional[int] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token", "total_size")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Alert]
    next_page_token: str
    total_size: int
    def __init__(self, alerts: _Optional[_Iterable[_Union[_resources_pb2.Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListOngoingAlertsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListOngoingAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token", "total_size")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Alert]
    next_page_token: str
    total_size: int
    def __init__(self, alerts: _Optional[_Iterable[_Union[_resources_pb2.Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class DeleteAlertRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: int
    def __init__(self, alert_id: _Optional[int] = ...) -> None: ...

class DeleteAlertResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchAlertsRequest(_message.Message):
    __slots__ = ("after_alert_id",)
    AFTER_ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    after_alert_id: int
    def __init__(self, after_alert_id: _Optional[int] = ...) -> None: ...

class WatchAlertsResponse(_message.Message):
    __slots__ = ("alert", "heartbeat", "resume_after_alert_id")
    ALERT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert: _resources_pb2.Alert
    heartbeat: WatchAlertsHeartbeat
    resume_after_alert_id: int
    def __init__(self, alert: _Optional[_Union[_resources_pb2.Alert, _Mapping]] = ..., heartbeat: _Optional[_Union[WatchAlertsHeartbeat, _Mapping]] = ..., resume_after_alert_id: _Optional[int] = ...) -> None: ...

class WatchAlertsHeartbeat(_message.Message):
    __slots__ = ("server_time",)
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    server_time: _timestamp_pb2.Timestamp
    def __init__(self, server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SendNotificationRequest(_message.Message):
    __slots__ = ("alert_id", "recipient_id")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: int
    recipient_id: int
    def __init__(self, alert_id: _Optional[int] = ..., recipient_id: _Optional[int] = ...) -> None: ...

class SendNotificationResponse(_message.Message):
    __slots__ = ("notification",)
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    notification: _resources_pb2.Notification
    def __init__(self, notification: _Optional[_Union[_resources_pb2.Notification, _Mapping]] = ...) -> None: ...

class GetNotificationRequest(_message.Message):
    __slots__ = ("notification_id",)
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    notification_id: int
    def __init__(self, notification_id: _Optional[int] = ...) -> None: ...

class GetNotificationResponse(_message.Message):
    __slots__ = ("notification",)
    NOTIFICATION_FIELD_NUMBER: _ClassVar[int]
    notification: _resources_pb2.Notification
    def __init__(self, notification: _Optional[_Union[_resources_pb2.Notification, _Mapping]] = ...) -> None: ...

class ListNotificationsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListNotificationsResponse(_message.Message):
    __slots__ = ("notifications", "next_page_token", "total_size")
    NOTIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    notifications: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Notification]
    next_page_token: str
    total_size: int
    def __init__(self, notifications: _Optional[_Iterable[_Union[_resources_pb2.Notification, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class DeleteNotificationRequest(_message.Message):
    __slots__ = ("notification_id",)
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    notification_id: int
    def __init__(self, notification_id: _Optional[int] = ...) -> None: ...

class DeleteNotificationResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LabelEventRequest(_message.Message):
    __slots__ = ("event_id", "label")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    label: _resources_pb2.EventLabel
    def __init__(self, event_id: _Optional[int] = ..., label: _Optional[_Union[_resources_pb2.EventLabel, str]] = ...) -> None: ...

class LabelEventResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: _resources_pb2.Event
    def __init__(self, event: _Optional[_Union[_resources_pb2.Event, _Mapping]] = ...) -> None: ...

class ListUnlabeledEventsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListUnlabeledEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token", "total_size")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Event]
    next_page_token: str
    total_size: int
    def __init__(self, events: _Optional[_Iterable[_Union[_resources_pb2.Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class SendAlertRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: SendAlertHeader
    chunk: bytes
    def __init__(self, header: _Optional[_Union[SendAlertHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class SendAlertHeader(_message.Message):
    __slots__ = ("alert", "size_bytes", "sha256", "content_type")
    ALERT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    alert: CreateMyAlertRequest
    size_bytes: int
    sha256: str
    content_type: str
    def __init__(self, alert: _Optional[_Union[CreateMyAlertRequest, _Mapping]] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., content_type: _Optional[str] = ...) -> None: ...

class SendAlertResponse(_message.Message):
    __slots__ = ("alert", "media")
    ALERT_FIELD_NUMBER: _ClassVar[int]
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    alert: _resources_pb2.Alert
    media: _resources_pb2.Media
    def __init__(self, alert: _Optional[_Union[_resources_pb2.Alert, _Mapping]] = ..., media: _Optional[_Union[_resources_pb2.Media, _Mapping]] = ...) -> None: ...

class GetIncidentRequest(_message.Message):
    __slots__ = ("incident_id",)
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    def __init__(self, incident_id: _Optional[int] = ...) -> None: ...

class GetIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: _resources_pb2.Incident
    def __init__(self, incident: _Optional[_Union[_resources_pb2.Incident, _Mapping]] = ...) -> None: ...

class ListIncidentsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "start_time", "end_time", "open_only", "group_id")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    OPEN_ONLY_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    open_only: bool
    group_id: int
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., open_only: _Optional[bool] = ..., group_id: _Optional[int] = ...) -> None: ...

class ListIncidentsResponse(_message.Message):
    __slots__ = ("incidents", "next_page_token", "total_size")
    INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    incidents: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Incident]
    next_page_token: str
    total_size: int
    def __init__(self, incidents: _Optional[_Iterable[_Union[_resources_pb2.Incident, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class ListIncidentEventsRequest(_message.Message):
    __slots__ = ("incident_id", "page_size", "page_token")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    page_size: int
    page_token: str
    def __init__(self, incident_id: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIncidentEventsResponse(_message.Message):
    __slots__ = ("events", "next_page_token", "total_size")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Event]
    next_page_token: str
    total_size: int
    def __init__(self, events: _Optional[_Iterable[_Union[_resources_pb2.Event, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class DetachIncidentEventRequest(_message.Message):
    __slots__ = ("incident_id", "event_id")
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    incident_id: int
    event_id: int
    def __init__(self, incident_id: _Optional[int] = ..., event_id: _Optional[int] = ...) -> None: ...

class DetachIncidentEventResponse(_message.Message):
    __slots__ = ("incident", "event_incident")
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    EVENT_INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: _resources_pb2.Incident
    event_incident: _resources_pb2.Incident
    def __init__(self, incident: _Optional[_Union[_resources_pb2.Incident, _Mapping]] = ..., event_incident: _Optional[_Union[_resources_pb2.Incident, _Mapping]] = ...) -> None: ...

class WatchIncidentsRequest(_message.Message):
    __slots__ = ("after_change_id",)
    AFTER_CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    after_change_id: int
    def __init__(self, after_change_id: _Optional[int] = ...) -> None: ...

class WatchIncidentsResponse(_message.Message):
    __slots__ = ("change", "heartbeat", "resume_after_change_id")
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    change: IncidentChange
    heartbeat: WatchIncidentsHeartbeat
    resume_after_change_id: int
    def __init__(self, change: _Optional[_Union[IncidentChange, _Mapping]] = ..., heartbeat: _Optional[_Union[WatchIncidentsHeartbeat, _Mapping]] = ..., resume_after_change_id: _Optional[int] = ...) -> None: ...

class IncidentChange(_message.Message):
    __slots__ = ("change_id", "kind", "incident", "change_time")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[IncidentChange.Kind]
        KIND_OPENED: _ClassVar[IncidentChange.Kind]
        KIND_EVENT_ADDED: _ClassVar[IncidentChange.Kind]
        KIND_POSITIONED: _ClassVar[IncidentChange.Kind]
        KIND_POSITION_CHANGED: _ClassVar[IncidentChange.Kind]
        KIND_EVENT_DETACHED: _ClassVar[IncidentChange.Kind]
        KIND_MERGED: _ClassVar[IncidentChange.Kind]
        KIND_CLOSED: _ClassVar[IncidentChange.Kind]
    KIND_UNSPECIFIED: IncidentChange.Kind
    KIND_OPENED: IncidentChange.Kind
    KIND_EVENT_ADDED: IncidentChange.Kind
    KIND_POSITIONED: IncidentChange.Kind
    KIND_POSITION_CHANGED: IncidentChange.Kind
    KIND_EVENT_DETACHED: IncidentChange.Kind
    KIND_MERGED: IncidentChange.Kind
    KIND_CLOSED: IncidentChange.Kind
    CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    CHANGE_TIME_FIELD_NUMBER: _ClassVar[int]
    change_id: int
    kind: IncidentChange.Kind
    incident: _resources_pb2.Incident
    change_time: _timestamp_pb2.Timestamp
    def __init__(self, change_id: _Optional[int] = ..., kind: _Optional[_Union[IncidentChange.Kind, str]] = ..., incident: _Optional[_Union[_resources_pb2.Incident, _Mapping]] = ..., change_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WatchIncidentsHeartbeat(_message.Message):
    __slots__ = ("server_time",)
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    server_time: _timestamp_pb2.Timestamp
    def __init__(self, server_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
