"""Event grouping of boxed alerts on known geometry (no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pyrogrpc.domain.geometry import Box, Detection, decode_detections
from pyrogrpc.domain.sequences import OpenEvent, Optics, continued_event, continued_event_values, new_event_values

T0 = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
RELAX = timedelta(minutes=30)
LEFT = Box(0.1, 0.4, 0.3, 0.6)
LEFT_MOVED = Box(0.15, 0.4, 0.35, 0.6)
RIGHT = Box(0.7, 0.4, 0.9, 0.6)


def event(
    id: int, *, pose_id: int | None = 7, seen: datetime = T0, boxes=(LEFT,), confidence: float = 0.5
) -> OpenEvent:
    return OpenEvent(id=id, pose_id=pose_id, last_seen_time=seen, latest_boxes=tuple(boxes), max_confidence=confidence)


def choose(candidates, boxes, *, pose_id=7, when=T0 + timedelta(minutes=1), threshold=0.0):
    detections = [Detection(b, 0.6) for b in boxes]
    return continued_event(
        candidates, detections, pose_id=pose_id, when=when, relaxation=RELAX, iou_threshold=threshold
    )


def test_an_overlapping_box_of_the_same_pose_continues_the_event():
    assert choose([event(1)], [LEFT_MOVED]).id == 1


def test_another_place_in_the_image_opens_a_new_event():
    assert choose([event(1)], [RIGHT]) is None


def test_another_pose_opens_a_new_event():
    assert choose([event(1, pose_id=8)], [LEFT]) is None
    assert choose([event(1, pose_id=None)], [LEFT], pose_id=None).id == 1


def test_outside_the_relaxation_window_opens_a_new_event():
    assert choose([event(1)], [LEFT], when=T0 + RELAX) is None
    assert choose([event(1)], [LEFT], when=T0 + RELAX - timedelta(seconds=1)).id == 1
    # A queued frame captured before the event's last one still belongs to it.
    assert choose([event(1)], [LEFT], when=T0 - timedelta(minutes=5)).id == 1


def test_the_threshold_is_strict_and_configurable():
    # LEFT vs LEFT_MOVED: intersection 0.15*0.2=0.03, union 0.05: IoU 0.6.
    assert choose([event(1)], [LEFT_MOVED], threshold=0.59).id == 1
    assert choose([event(1)], [LEFT_MOVED], threshold=0.61) is None


def test_the_newest_matching_event_wins():
    assert choose([event(1), event(3), event(2, boxes=(RIGHT,))], [LEFT]).id == 3


def test_new_event_takes_the_cone_of_the_most_confident_box():
    detections = [Detection(RIGHT, 0.4), Detection(Box(0.4, 0.0, 0.6, 0.2), 0.9)]
    values = new_event_values(detections, T0, Optics(base_azimuth=100.0, angle_of_view=60.0))
    assert values["max_confidence"] == 0.9
    assert values["azimuth"] == pytest.approx(100.0)
    assert values["cone_angle"] == pytest.approx(12.0)
    assert values["last_seen_time"] == T0
    assert decode_detections(values["latest_boxes"]) == detections
    # Without an angle of view there is no cone.
    assert "azimuth" not in new_event_values(detections, T0, Optics(base_azimuth=100.0, angle_of_view=None))


def test_continuing_keeps_the_best_cone_and_the_newest_boxes():
    optics = Optics(base_azimuth=0.0, angle_of_view=90.0)
    weaker = continued_event_values(
        event(1, confidence=0.8), [Detection(LEFT_MOVED, 0.5)], T0 + timedelta(minutes=1), optics
    )
    assert set(weaker) == {"last_seen_time", "latest_boxes"}  # cone and confidence stay
    stronger = continued_event_values(
        event(1, confidence=0.3), [Detection(RIGHT, 0.7)], T0 + timedelta(minutes=1), optics
    )
    assert stronger["max_confidence"] == 0.7
    assert stronger["azimuth"] == pytest.approx(90.0 * 0.3)
    # An older (queued) frame neither moves last_seen_time nor replaces the latest boxes.
    older = continued_event_values(event(1, confidence=0.9), [Detection(LEFT, 0.5)], T0 - timedelta(minutes=1), optics)
    assert older == {}
