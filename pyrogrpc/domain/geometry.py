"""Geometry of detections: normalized boxes, their overlap, occlusion masks and the cone.

Pure functions on plain values (no database, no protobuf): the rules that decide whether
an alert is masked, which event it continues and where its fire lies, tested on known
geometry in tests/unit/.

Boxes are axis-aligned rectangles normalized to the image ((0, 0) top-left, (1, 1)
bottom-right), so intersection over union is four min/max and two products: a geometry
library (shapely) would cost an import and a polygon per box for the same answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .validation import Violations

BOX_FIELDS = ("x_min", "y_min", "x_max", "y_max")


@dataclass(frozen=True, slots=True)
class Box:
    x_min: float
    y_min: float
    x_max: float
    y_max: float

    @property
    def width(self) -> float:
        return self.x_max - self.x_min

    @property
    def area(self) -> float:
        return (self.x_max - self.x_min) * (self.y_max - self.y_min)

    @property
    def center_x(self) -> float:
        return (self.x_min + self.x_max) / 2


@dataclass(frozen=True, slots=True)
class Detection:
    """One box of a frame and the model's confidence in it."""

    box: Box
    confidence: float


def check_box(v: Violations, box: Box, field: str) -> None:
    """In [0, 1], min < max on both axes; NaN and infinities fail every comparison."""
    for name in BOX_FIELDS:
        value = getattr(box, name)
        v.check(math.isfinite(value) and 0.0 <= value <= 1.0, f"{field}.{name}", "must be in [0, 1]")
    v.check(box.x_min < box.x_max, f"{field}.x_max", "must be greater than x_min")
    v.check(box.y_min < box.y_max, f"{field}.y_max", "must be greater than y_min")


def check_detections(v: Violations, detections: Sequence[Detection], max_count: int, field: str = "boxes") -> None:
    if len(detections) > max_count:
        v.check(False, field, f"must hold at most {max_count} boxes")
        return
    for i, detection in enumerate(detections):
        check_box(v, detection.box, f"{field}[{i}].box")
        c = detection.confidence
        v.check(math.isfinite(c) and 0.0 <= c <= 1.0, f"{field}[{i}].confidence", "must be in [0, 1]")


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes, in [0, 1]."""
    width = min(a.x_max, b.x_max) - max(a.x_min, b.x_min)
    height = min(a.y_max, b.y_max) - max(a.y_min, b.y_min)
    if width <= 0 or height <= 0:
        return 0.0
    intersection = width * height
    return intersection / (a.area + b.area - intersection)


def overlaps(new: Iterable[Box], previous: Iterable[Box], threshold: float) -> bool:
    """Whether any new box overlaps any previous one by an IoU above `threshold`."""
    previous = list(previous)
    return any(iou(a, b) > threshold for a in new for b in previous)


def inside(box: Box, mask: Box) -> bool:
    """Whether `box` lies wholly inside `mask` (edges included)."""
    return mask.x_min <= box.x_min and box.x_max <= mask.x_max and mask.y_min <= box.y_min and box.y_max <= mask.y_max


def unmasked(detections: Iterable[Detection], masks: Sequence[Box]) -> list[Detection]:
    """The detections not wholly inside any mask."""
    return [d for d in detections if not any(inside(d.box, mask) for mask in masks)]


def most_confident(detections: Sequence[Detection]) -> Detection | None:
    """The detection of highest confidence (the first of equals); None for none."""
    return max(detections, key=lambda d: d.confidence, default=None)


@dataclass(frozen=True, slots=True)
class Cone:
    """Where a box points from the camera: centre azimuth (degrees from north) and width."""

    azimuth: float
    angle: float


def cone(base_azimuth: float, angle_of_view: float, box: Box) -> Cone:
    """The cone of `box` seen by a camera facing `base_azimuth` with `angle_of_view`.

    The image spans angle_of_view degrees centred on base_azimuth, so a box centred at x
    looks angle_of_view * (x - 0.5) degrees right of it; its width spans
    angle_of_view * width degrees.
    """
    azimuth = (base_azimuth + angle_of_view * (box.center_x - 0.5)) % 360.0
    return Cone(azimuth=azimuth, angle=angle_of_view * box.width)


# --- storage form: compact JSON [[x_min, y_min, x_max, y_max, confidence], ...] ---------------


def encode_detections(detections: Sequence[Detection]) -> str | None:
    """JSON text of the detections; None for none (the column's "no boxes")."""
    if not detections:
        return None
    return json.dumps(
        [[d.box.x_min, d.box.y_min, d.box.x_max, d.box.y_max, d.confidence] for d in detections], separators=(",", ":")
    )


def decode_detections(text: str | None) -> list[Detection]:
    if not text:
        return []
    return [Detection(Box(x0, y0, x1, y1), c) for x0, y0, x1, y1, c in json.loads(text)]
