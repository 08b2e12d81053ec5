"""Immutable values the repositories return on the hot paths.

`Alert` is a typed NamedTuple rather than a frozen slotted dataclass: a ListAlerts page
builds up to 1000 of them and a frozen dataclass's __init__ costs ~6x a tuple's `_make`
(one `object.__setattr__` per field; measured 3.9 us vs 0.6 us here). Both are immutable and
typed; the adapter builds it from a row in the order of `Alert._fields` (`Alert._make(row)`).
The one-per-call values below are frozen slotted dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from .geometry import Box


class Alert(NamedTuple):
    id: int
    device_id: int
    group_id: int
    event_id: int | None  # None: a suppressed alert (every box masked)
    media_id: int | None
    azimuth: float
    lat: float
    lon: float
    localization: str
    create_time: datetime
    pose_id: int | None = None
    capture_time: datetime | None = None
    boxes: str | None = None  # encoded detections (geometry.encode_detections)
    suppressed: bool = False


@dataclass(frozen=True, slots=True)
class AlertOfDevice:
    """A device's latest alert, with what event grouping needs of its event."""

    create_time: datetime
    event_id: int
    end_time: datetime | None


@dataclass(frozen=True, slots=True)
class DeviceForAlert:
    """A device locked for an alert, and the media the alert names (all None when that media
    is not in the device's group)."""

    id: int
    group_id: int
    azimuth: float | None
    lat: float | None
    lon: float | None
    media_id: int | None
    media_device_id: int | None
    media_bucket_key: str | None
    angle_of_view: float | None = None  # the cone of a boxed alert


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """An idempotency key's first result, and the digest of the request that made it (None
    for keys stored before digests existed)."""

    resource_id: int
    request_digest: str | None


@dataclass(frozen=True, slots=True)
class PoseOfAlert:
    """What an alert needs of its pose: the azimuth and the mask boxes (read with the device,
    see DeviceRepository.lock_with_pose)."""

    id: int
    azimuth: float
    masks: tuple[Box, ...]


@dataclass(frozen=True, slots=True)
class ExpiredMedia:
    """A media the retention purge deletes the content of (RetentionRepository.expired_media)."""

    id: int
    bucket_key: str
    create_time: datetime


class IncidentEvent(NamedTuple):
    """What incident fusion reads of an event: its incident, its camera and its cone."""

    id: int
    group_id: int
    incident_id: int | None
    device_id: int | None
    lat: float  # where the camera stood (the event's position)
    lon: float
    azimuth: float | None  # the cone of its most confident box (boxed alerts)
    cone_angle: float | None
    angle_of_view: float | None  # the device's lens, for events without a box cone
    alert_azimuth: float | None  # the azimuth of the event's latest alert
    start_time: datetime
    last_seen_time: datetime | None


class IncidentChangeRow(NamedTuple):
    """One row of incident_changes (WatchIncidents): the id is the stream's order and resume point."""

    id: int
    incident_id: int
    group_id: int
    kind: str
    change_time: datetime
