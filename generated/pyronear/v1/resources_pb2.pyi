import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Scope(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCOPE_UNSPECIFIED: _ClassVar[Scope]
    SCOPE_ADMIN: _ClassVar[Scope]
    SCOPE_USER: _ClassVar[Scope]
    SCOPE_DEVICE: _ClassVar[Scope]

class SiteType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SITE_TYPE_UNSPECIFIED: _ClassVar[SiteType]
    SITE_TYPE_TOWER: _ClassVar[SiteType]
    SITE_TYPE_STATION: _ClassVar[SiteType]
    SITE_TYPE_NO_ALERT: _ClassVar[SiteType]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_WILDFIRE: _ClassVar[EventType]

class EventLabel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_LABEL_UNSPECIFIED: _ClassVar[EventLabel]
    EVENT_LABEL_WILDFIRE_SMOKE: _ClassVar[EventLabel]
    EVENT_LABEL_OTHER_SMOKE: _ClassVar[EventLabel]
    EVENT_LABEL_OTHER: _ClassVar[EventLabel]

class MediaType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEDIA_TYPE_UNSPECIFIED: _ClassVar[MediaType]
    MEDIA_TYPE_IMAGE: _ClassVar[MediaType]
    MEDIA_TYPE_VIDEO: _ClassVar[MediaType]

class NotificationType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NOTIFICATION_TYPE_UNSPECIFIED: _ClassVar[NotificationType]
    NOTIFICATION_TYPE_TELEGRAM: _ClassVar[NotificationType]

class IncidentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INCIDENT_STATUS_UNSPECIFIED: _ClassVar[IncidentStatus]
    INCIDENT_STATUS_OPEN: _ClassVar[IncidentStatus]
    INCIDENT_STATUS_CLOSED: _ClassVar[IncidentStatus]
SCOPE_UNSPECIFIED: Scope
SCOPE_ADMIN: Scope
SCOPE_USER: Scope
SCOPE_DEVICE: Scope
SITE_TYPE_UNSPECIFIED: SiteType
SITE_TYPE_TOWER: SiteType
SITE_TYPE_STATION: SiteType
SITE_TYPE_NO_ALERT: SiteType
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_WILDFIRE: EventType
EVENT_LABEL_UNSPECIFIED: EventLabel
EVENT_LABEL_WILDFIRE_SMOKE: EventLabel
EVENT_LABEL_OTHER_SMOKE: EventLabel
EVENT_LABEL_OTHER: EventLabel
MEDIA_TYPE_UNSPECIFIED: MediaType
MEDIA_TYPE_IMAGE: MediaType
MEDIA_TYPE_VIDEO: MediaType
NOTIFICATION_TYPE_UNSPECIFIED: NotificationType
NOTIFICATION_TYPE_TELEGRAM: NotificationType
INCIDENT_STATUS_UNSPECIFIED: IncidentStatus
INCIDENT_STATUS_OPEN: IncidentStatus
INCIDENT_STATUS_CLOSED: IncidentStatus

class Group(_message.Message):
    __slots__ = ("id", "name", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Access(_message.Message):
    __slots__ = ("id", "login", "scope", "group_id", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    login: str
    scope: Scope
    group_id: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., login: _Optional[str] = ..., scope: _Optional[_Union[Scope, str]] = ..., group_id: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("id", "access_id", "login", "scope", "group_id", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    access_id: int
    login: str
    scope: Scope
    group_id: int
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., access_id: _Optional[int] = ..., login: _Optional[str] = ..., scope: _Optional[_Union[Scope, str]] = ..., group_id: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ("id", "access_id", "login", "owner_id", "group_id", "specs", "software_hash", "angle_of_view", "elevation", "lat", "lon", "azimuth", "pitch", "last_ping_time", "create_time", "online", "poses")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACCESS_ID_FIELD_NUMBER: _ClassVar[int]
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    OWNER_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    SPECS_FIELD_NUMBER: _ClassVar[int]
    SOFTWARE_HASH_FIELD_NUMBER: _ClassVar[int]
    ANGLE_OF_VIEW_FIELD_NUMBER: _ClassVar[int]
    ELEVATION_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    AZIMUTH_FIELD_NUMBER: _ClassVar[int]
    PITCH_FIELD_NUMBER: _ClassVar[int]
    LAST_PING_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ONLINE_FIELD_NUMBER: _ClassVar[int]
    POSES_FIELD_NUMBER: _ClassVar[int]
    id: int
    access_id: int
    login: str
    owner_id: int
    group_id: int
    specs: str
    software_hash: str
    angle_of_view: float
    elevation: float
    lat: float
    lon: float
    azimuth: float
    pitch: float
    last_ping_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    online: bool
    poses: _containers.RepeatedCompositeFieldContainer[Pose]
    def __init__(self, id: _Optional[int] = ..., access_id: _Optional[int] = ..., login: _Optional[str] = ..., owner_id: _Optional[int] = ..., group_id: _Optional[int] = ..., specs: _Optional[str] = ..., software_hash: _Optional[str] = ..., angle_of_view: _Optional[float] = ..., elevation: _Optional[float] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., azimuth: _Optional[float] = ..., pitch: _Optional[float] = ..., last_ping_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., online: _Optional[bool] = ..., poses: _Optional[_Iterable[_Union[Pose, _Mapping]]] = ...) -> None: ...

class Pose(_message.Message):
    __slots__ = ("id", "device_id", "azimuth", "patrol_index", "image_media_id", "image_update_time", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    AZIMUTH_FIELD_NUMBER: _ClassVar[int]
    PATROL_INDEX_FIELD_NUMBER: _ClassVar[int]
    IMAGE_MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    device_id: int
    azimuth: float
    patrol_index: int
    image_media_id: int
    image_update_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., device_id: _Optional[int] = ..., azimuth: _Optional[float] = ..., patrol_index: _Optional[int] = ..., image_media_id: _Optional[int] = ..., image_update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class NormalizedBox(_message.Message):
    __slots__ = ("x_min", "y_min", "x_max", "y_max")
    X_MIN_FIELD_NUMBER: _ClassVar[int]
    Y_MIN_FIELD_NUMBER: _ClassVar[int]
    X_MAX_FIELD_NUMBER: _ClassVar[int]
    Y_MAX_FIELD_NUMBER: _ClassVar[int]
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    def __init__(self, x_min: _Optional[float] = ..., y_min: _Optional[float] = ..., x_max: _Optional[float] = ..., y_max: _Optional[float] = ...) -> None: ...

class DetectionBox(_message.Message):
    __slots__ = ("box", "confidence")
    BOX_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    box: NormalizedBox
    confidence: float
    def __init__(self, box: _Optional[_Union[NormalizedBox, _Mapping]] = ..., confidence: _Optional[float] = ...) -> None: ...

class OcclusionMask(_message.Message):
    __slots__ = ("id", "pose_id", "box", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    POSE_ID_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    pose_id: int
    box: NormalizedBox
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., pose_id: _Optional[int] = ..., box: _Optional[_Union[NormalizedBox, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Site(_message.Message):
    __slots__ = ("id", "name", "group_id", "lat", "lon", "country", "geocode", "type", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    GEOCODE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    group_id: int
    lat: float
    lon: float
    country: str
    geocode: str
    type: SiteType
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., group_id: _Optional[int] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., country: _Optional[str] = ..., geocode: _Optional[str] = ..., type: _Optional[_Union[SiteType, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Installation(_message.Message):
    __slots__ = ("id", "device_id", "site_id", "start_time", "end_time", "is_trustworthy", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    SITE_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    IS_TRUSTWORTHY_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    device_id: int
    site_id: int
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    is_trustworthy: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., device_id: _Optional[int] = ..., site_id: _Optional[int] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., is_trustworthy: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("id", "group_id", "type", "lat", "lon", "start_time", "end_time", "is_acknowledged", "create_time", "device_id", "pose_id", "azimuth", "cone_angle", "max_confidence", "last_seen_time", "label", "labeled_by_user_id", "label_time", "incident_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    IS_ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    POSE_ID_FIELD_NUMBER: _ClassVar[int]
    AZIMUTH_FIELD_NUMBER: _ClassVar[int]
    CONE_ANGLE_FIELD_NUMBER: _ClassVar[int]
    MAX_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    LABELED_BY_USER_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_TIME_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    id: int
    group_id: int
    type: EventType
    lat: float
    lon: float
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    is_acknowledged: bool
    create_time: _timestamp_pb2.Timestamp
    device_id: int
    pose_id: int
    azimuth: float
    cone_angle: float
    max_confidence: float
    last_seen_time: _timestamp_pb2.Timestamp
    label: EventLabel
    labeled_by_user_id: int
    label_time: _timestamp_pb2.Timestamp
    incident_id: int
    def __init__(self, id: _Optional[int] = ..., group_id: _Optional[int] = ..., type: _Optional[_Union[EventType, str]] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., is_acknowledged: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., device_id: _Optional[int] = ..., pose_id: _Optional[int] = ..., azimuth: _Optional[float] = ..., cone_angle: _Optional[float] = ..., max_confidence: _Optional[float] = ..., last_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., label: _Optional[_Union[EventLabel, str]] = ..., labeled_by_user_id: _Optional[int] = ..., label_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., incident_id: _Optional[int] = ...) -> None: ...

class Media(_message.Message):
    __slots__ = ("id", "device_id", "group_id", "type", "bucket_key", "size_bytes", "sha256", "content_type", "create_time", "width", "height", "purge_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    BUCKET_KEY_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    PURGE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    device_id: int
    group_id: int
    type: MediaType
    bucket_key: str
    size_bytes: int
    sha256: str
    content_type: str
    create_time: _timestamp_pb2.Timestamp
    width: int
    height: int
    purge_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., device_id: _Optional[int] = ..., group_id: _Optional[int] = ..., type: _Optional[_Union[MediaType, str]] = ..., bucket_key: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., content_type: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., purge_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("id", "device_id", "group_id", "event_id", "media_id", "azimuth", "lat", "lon", "localization", "create_time", "boxes", "pose_id", "capture_time", "suppressed")
    ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    MEDIA_ID_FIELD_NUMBER: _ClassVar[int]
    AZIMUTH_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    LOCALIZATION_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    BOXES_FIELD_NUMBER: _ClassVar[int]
    POSE_ID_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_TIME_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    id: int
    device_id: int
    group_id: int
    event_id: int
    media_id: int
    azimuth: float
    lat: float
    lon: float
    localization: str
    create_time: _timestamp_pb2.Timestamp
    boxes: _containers.RepeatedCompositeFieldContainer[DetectionBox]
    pose_id: int
    capture_time: _timestamp_pb2.Timestamp
    suppressed: bool
    def __init__(self, id: _Optional[int] = ..., device_id: _Optional[int] = ..., group_id: _Optional[int] = ..., event_id: _Optional[int] = ..., media_id: _Optional[int] = ..., azimuth: _Optional[float] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., localization: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., boxes: _Optional[_Iterable[_Union[DetectionBox, _Mapping]]] = ..., pose_id: _Optional[int] = ..., capture_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., suppressed: _Optional[bool] = ...) -> None: ...

class Webhook(_message.Message):
    __slots__ = ("id", "callback", "url", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    callback: str
    url: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., callback: _Optional[str] = ..., url: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Recipient(_message.Message):
    __slots__ = ("id", "group_id", "notification_type", "address", "subject_template", "message_template", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_TYPE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    group_id: int
    notification_type: NotificationType
    address: str
    subject_template: str
    message_template: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., group_id: _Optional[int] = ..., notification_type: _Optional[_Union[NotificationType, str]] = ..., address: _Optional[str] = ..., subject_template: _Optional[str] = ..., message_template: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Notification(_message.Message):
    __slots__ = ("id", "alert_id", "recipient_id", "subject", "message", "create_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_ID_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    alert_id: int
    recipient_id: int
    subject: str
    message: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., alert_id: _Optional[int] = ..., recipient_id: _Optional[int] = ..., subject: _Optional[str] = ..., message: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class IncidentCone(_message.Message):
    __slots__ = ("event_id", "device_id", "tower_lat", "tower_lon", "azimuth", "angle")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    TOWER_LAT_FIELD_NUMBER: _ClassVar[int]
    TOWER_LON_FIELD_NUMBER: _ClassVar[int]
    AZIMUTH_FIELD_NUMBER: _ClassVar[int]
    ANGLE_FIELD_NUMBER: _ClassVar[int]
    event_id: int
    device_id: int
    tower_lat: float
    tower_lon: float
    azimuth: float
    angle: float
    def __init__(self, event_id: _Optional[int] = ..., device_id: _Optional[int] = ..., tower_lat: _Optional[float] = ..., tower_lon: _Optional[float] = ..., azimuth: _Optional[float] = ..., angle: _Optional[float] = ...) -> None: ...

class Incident(_message.Message):
    __slots__ = ("id", "group_id", "status", "lat", "lon", "uncertainty_m", "start_time", "last_seen_time", "close_time", "device_ids", "event_ids", "cones", "merged_into_id", "create_time", "positioned_time")
    ID_FIELD_NUMBER: _ClassVar[int]
    GROUP_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    UNCERTAINTY_M_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    CLOSE_TIME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_IDS_FIELD_NUMBER: _ClassVar[int]
    EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    CONES_FIELD_NUMBER: _ClassVar[int]
    MERGED_INTO_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    POSITIONED_TIME_FIELD_NUMBER: _ClassVar[int]
    id: int
    group_id: int
    status: IncidentStatus
    lat: float
    lon: float
    uncertainty_m: float
    start_time: _timestamp_pb2.Timestamp
    last_seen_time: _timestamp_pb2.Timestamp
    close_time: _timestamp_pb2.Timestamp
    device_ids: _containers.RepeatedScalarFieldContainer[int]
    event_ids: _containers.RepeatedScalarFieldContainer[int]
    cones: _containers.RepeatedCompositeFieldContainer[IncidentCone]
    merged_into_id: int
    create_time: _timestamp_pb2.Timestamp
    positioned_time: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[int] = ..., group_id: _Optional[int] = ..., status: _Optional[_Union[IncidentStatus, str]] = ..., lat: _Optional[float] = ..., lon: _Optional[float] = ..., uncertainty_m: _Optional[float] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., close_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., device_ids: _Optional[_Iterable[int]] = ..., event_ids: _Optional[_Iterable[int]] = ..., cones: _Optional[_Iterable[_Union[IncidentCone, _Mapping]]] = ..., merged_into_id: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., positioned_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
