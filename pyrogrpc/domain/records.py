"""What the domain reads and changes of each resource: record Protocols.

The repositories (domain/ports.py) return objects with these attributes; the SQLAlchemy
adapter's ORM models satisfy them structurally (mypy checks it where db/unit_of_work.py
hands its units of work to the domain). A use case may set attributes of a record it loaded
in a unit of work; `commit()` stores them. Relations are read-only properties.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class GroupRecord(Protocol):
    id: int
    name: str
    create_time: datetime


class AccessRecord(Protocol):
    id: int
    login: str
    hashed_password: str
    scope: str
    group_id: int
    create_time: datetime


class UserRecord(Protocol):
    id: int
    access_id: int
    create_time: datetime

    @property
    def access(self) -> AccessRecord: ...


class DeviceRecord(Protocol):
    id: int
    access_id: int
    owner_id: int | None
    group_id: int
    specs: str
    software_hash: str | None
    angle_of_view: float | None
    elevation: float | None
    lat: float | None
    lon: float | None
    azimuth: float | None
    pitch: float | None
    last_ping_time: datetime | None
    create_time: datetime

    @property
    def access(self) -> AccessRecord: ...


class PoseRecord(Protocol):
    id: int
    device_id: int
    azimuth: float
    patrol_index: int | None
    image_media_id: int | None
    image_update_time: datetime | None
    create_time: datetime


class OcclusionMaskRecord(Protocol):
    id: int
    pose_id: int
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    create_time: datetime


class SiteRecord(Protocol):
    id: int
    name: str
    group_id: int
    lat: float
    lon: float
    country: str
    geocode: str
    type: str
    create_time: datetime


class InstallationRecord(Protocol):
    id: int
    device_id: int
    site_id: int
    start_time: datetime
    end_time: datetime | None
    is_trustworthy: bool
    create_time: datetime


class EventRecord(Protocol):
    id: int
    group_id: int
    type: str
    lat: float
    lon: float
    start_time: datetime
    end_time: datetime | None
    is_acknowledged: bool
    create_time: datetime
    device_id: int | None
    pose_id: int | None
    azimuth: float | None
    cone_angle: float | None
    max_confidence: float | None
    last_seen_time: datetime | None
    latest_boxes: str | None
    label: str | None
    labeled_by_user_id: int | None
    label_time: datetime | None
    incident_id: int | None


class MediaRecord(Protocol):
    id: int
    device_id: int
    group_id: int
    type: str
    bucket_key: str | None
    size_bytes: int | None
    sha256: str | None
    content_type: str | None
    upload_request_id: str | None
    upload_request_digest: str | None
    create_time: datetime
    purge_time: datetime | None


class WebhookRecord(Protocol):
    id: int
    callback: str
    url: str
    create_time: datetime


class RecipientRecord(Protocol):
    id: int
    group_id: int
    notification_type: str
    address: str
    subject_template: str
    message_template: str
    create_time: datetime


class NotificationRecord(Protocol):
    id: int
    alert_id: int
    recipient_id: int | None
    subject: str
    message: str
    create_time: datetime


class IncidentRecord(Protocol):
    id: int
    group_id: int
    status: str
    lat: float | None
    lon: float | None
    uncertainty_m: float | None
    start_time: datetime
    last_seen_time: datetime
    create_time: datetime
    close_time: datetime | None
    positioned_time: datetime | None
    merged_into_id: int | None
