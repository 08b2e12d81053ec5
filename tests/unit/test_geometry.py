"""Geometry of detections on known cases: IoU, masks, the cone (no server, milliseconds)."""

from __future__ import annotations

import math

import pytest

from pyrogrpc.domain.errors import InvalidArgument
from pyrogrpc.domain.geometry import (
    Box,
    Detection,
    check_detections,
    cone,
    decode_detections,
    encode_detections,
    inside,
    iou,
    most_confident,
    overlaps,
    unmasked,
)
from pyrogrpc.domain.validation import Violations


def test_iou_of_known_boxes():
    a = Box(0.0, 0.0, 0.5, 0.5)
    assert iou(a, a) == 1.0
    assert iou(a, Box(0.5, 0.0, 1.0, 0.5)) == 0.0  # touching edges do not overlap
    assert iou(a, Box(0.6, 0.6, 0.9, 0.9)) == 0.0
    # Half of a overlaps a box of a's size: intersection 0.125, union 0.375.
    assert iou(a, Box(0.25, 0.0, 0.75, 0.5)) == pytest.approx(1 / 3)
    # A box inside another: intersection = the small one's area.
    assert iou(Box(0.0, 0.0, 1.0, 1.0), Box(0.0, 0.0, 0.5, 0.5)) == pytest.approx(0.25)
    assert iou(a, Box(0.25, 0.0, 0.75, 0.5)) == iou(Box(0.25, 0.0, 0.75, 0.5), a)


def test_overlaps_uses_a_strict_threshold():
    a, b = Box(0.0, 0.0, 0.5, 0.5), Box(0.25, 0.0, 0.75, 0.5)
    assert overlaps([a], [b], 0.0)
    assert overlaps([Box(0.9, 0.9, 1.0, 1.0), a], [b], 0.3)
    assert not overlaps([a], [b], 0.4)
    assert not overlaps([a], [Box(0.5, 0.0, 1.0, 0.5)], 0.0)  # touching is no overlap
    assert not overlaps([a], [], 0.0)


def test_masks_discard_boxes_wholly_inside():
    mask = Box(0.0, 0.0, 0.5, 0.5)
    assert inside(Box(0.1, 0.1, 0.5, 0.5), mask)  # edges included
    assert not inside(Box(0.1, 0.1, 0.6, 0.4), mask)  # sticks out: kept
    kept = Detection(Box(0.4, 0.4, 0.6, 0.6), 0.5)
    masked = Detection(Box(0.1, 0.1, 0.2, 0.2), 0.9)
    assert unmasked([masked, kept], [mask]) == [kept]
    assert unmasked([masked], [mask]) == []
    assert unmasked([masked, kept], []) == [masked, kept]


def test_cone_of_known_boxes():
    # A centred box points where the camera faces; its cone is its share of the view.
    centred = cone(90.0, 60.0, Box(0.4, 0.2, 0.6, 0.8))
    assert centred.azimuth == pytest.approx(90.0)
    assert centred.angle == pytest.approx(12.0)
    # Right edge of the image: half the view to the right.
    right = cone(90.0, 60.0, Box(0.9, 0.0, 1.0, 0.1))
    assert right.azimuth == pytest.approx(90.0 + 60.0 * 0.45)
    assert right.angle == pytest.approx(6.0)
    # Wraps around north both ways.
    assert cone(350.0, 60.0, Box(0.9, 0.0, 1.0, 0.1)).azimuth == pytest.approx((350.0 + 27.0) % 360)
    assert cone(10.0, 60.0, Box(0.0, 0.0, 0.1, 0.1)).azimuth == pytest.approx(10.0 - 27.0 + 360.0)
    # A 360-degree camera's whole image is the full circle.
    assert cone(0.0, 360.0, Box(0.0, 0.0, 1.0, 1.0)).angle == pytest.approx(360.0)


def test_most_confident_and_storage_form():
    detections = [Detection(Box(0.1, 0.1, 0.2, 0.2), 0.3), Detection(Box(0.3, 0.3, 0.4, 0.4), 0.8)]
    assert most_confident(detections) == detections[1]
    assert most_confident([]) is None
    assert decode_detections(encode_detections(detections)) == detections
    assert encode_detections([]) is None and decode_detections(None) == []


@pytest.mark.parametrize(
    "box, confidence, fields",
    [
        (Box(-0.1, 0.0, 0.5, 0.5), 0.5, {"boxes[0].box.x_min"}),
        (Box(0.0, 0.0, 1.5, 0.5), 0.5, {"boxes[0].box.x_max"}),
        (Box(0.6, 0.0, 0.5, 0.5), 0.5, {"boxes[0].box.x_max"}),  # inverted
        (Box(0.0, 0.5, 0.5, 0.5), 0.5, {"boxes[0].box.y_max"}),  # empty
        (Box(math.nan, 0.0, 0.5, 0.5), 0.5, {"boxes[0].box.x_min", "boxes[0].box.x_max"}),
        (Box(0.0, 0.0, math.inf, 0.5), 0.5, {"boxes[0].box.x_max"}),
        (Box(0.0, 0.0, 0.5, 0.5), 1.2, {"boxes[0].confidence"}),
        (Box(0.0, 0.0, 0.5, 0.5), math.nan, {"boxes[0].confidence"}),
    ],
)
def test_bad_boxes_are_named(box, confidence, fields):
    v = Violations()
    check_detections(v, [Detection(box, confidence)], max_count=5)
    assert {item.field for item in v.items} == fields
    with pytest.raises(InvalidArgument):
        v.raise_if_any()


def test_too_many_boxes():
    v = Violations()
    check_detections(v, [Detection(Box(0.0, 0.0, 0.5, 0.5), 0.5)] * 3, max_count=2)
    assert [item.field for item in v.items] == ["boxes"]
