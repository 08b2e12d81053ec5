"""Events as sequences of detections: which open event a boxed alert continues, and what the
event becomes with it. Pure rules on plain values; the alert use case reads the candidates
and writes the result (alerts.py), the repositories run the SQL.

An alert with (unmasked) boxes continues an open event of its device when
- the event was made from the same pose (None matches None),
- the event's last alert is within the relaxation window of this alert's time, and
- one of its boxes overlaps one of the event's latest boxes by an IoU above the threshold
  (a fire moves slowly between frames; a new box elsewhere in the image is another smoke).
The newest such event wins. An event keeps the cone and confidence of its most confident
box so far, and the boxes of its newest frame for the next match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .geometry import Box, Detection, cone, encode_detections, most_confident, overlaps


@dataclass(frozen=True, slots=True)
class OpenEvent:
    """What grouping needs of an open event of the device (read model of the events table)."""

    id: int
    pose_id: int | None
    last_seen_time: datetime | None
    latest_boxes: tuple[Box, ...]
    max_confidence: float | None


@dataclass(frozen=True, slots=True)
class Optics:
    """Where the frame was taken from: the pose's (else the alert's) azimuth and the lens."""

    base_azimuth: float
    angle_of_view: float | None


def continued_event(
    candidates: Sequence[OpenEvent],
    detections: Sequence[Detection],
    *,
    pose_id: int | None,
    when: datetime,
    relaxation: timedelta,
    iou_threshold: float,
) -> OpenEvent | None:
    """The newest candidate the detections continue, or None (a new event opens)."""
    boxes = [d.box for d in detections]
    for event in sorted(candidates, key=lambda e: e.id, reverse=True):
        if event.pose_id != pose_id or event.last_seen_time is None:
            continue
        if abs(when - event.last_seen_time) >= relaxation:
            continue
        if overlaps(boxes, event.latest_boxes, iou_threshold):
            return event
    return None


def new_event_values(detections: Sequence[Detection], when: datetime, optics: Optics) -> dict[str, object]:
    """Sequence columns of an event opened by these detections."""
    values: dict[str, object] = {"last_seen_time": when, "latest_boxes": encode_detections(detections)}
    values.update(_best_box_values(detections, optics))
    return values


def continued_event_values(
    event: OpenEvent, detections: Sequence[Detection], when: datetime, optics: Optics
) -> dict[str, object]:
    """Sequence columns that change when these detections join `event`.

    Frames may arrive out of order (cameras queue them while offline): only a newer frame
    moves last_seen_time and replaces the boxes the next frame is matched against.
    """
    values: dict[str, object] = {}
    if event.last_seen_time is None or when >= event.last_seen_time:
        values["last_seen_time"] = when
        values["latest_boxes"] = encode_detections(detections)
    best = most_confident(detections)
    if best is not None and (event.max_confidence is None or best.confidence > event.max_confidence):
        values.update(_best_box_values(detections, optics))
    return values


def _best_box_values(detections: Sequence[Detection], optics: Optics) -> dict[str, object]:
    best = most_confident(detections)
    if best is None:
        return {}
    values: dict[str, object] = {"max_confidence": best.confidence}
    if optics.angle_of_view is not None:
        c = cone(optics.base_azimuth, optics.angle_of_view, best.box)
        values.update(azimuth=c.azimuth, cone_angle=c.angle)
    return values
