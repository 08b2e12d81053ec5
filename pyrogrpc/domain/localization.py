"""An alert's `localization`: the detection's bounding boxes, as JSON text.

The contract (pyro-api's meaning, kept): empty, or a JSON array of at most MAX_BOXES boxes,
each `[xmin, ymin, xmax, ymax, confidence]` with every number in [0, 1] (coordinates
relative to the picture's width and height) and xmin < xmax, ymin < ymax. The dashboards
draw these boxes on the picture, so anything else is refused when the alert is created.

The text is matched against the grammar of exactly that shape before `json.loads` sees it:
arbitrary JSON could nest deep enough to exhaust the parser's recursion (RecursionError,
INTERNAL), while this grammar has a depth of two and no strings at all.
"""

from __future__ import annotations

import json
import re

from .validation import Violations

MAX_LOCALIZATION_LENGTH = 2_000  # 5 boxes of 5 numbers fit many times over, with spaces and newlines
MAX_BOXES = 5
FORMAT = "[[xmin, ymin, xmax, ymax, confidence], ...]"

_WS = r"[ \t\n\r]*"  # JSON's whitespace
_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"  # JSON's number
_BOX = rf"\[{_WS}{_NUMBER}(?:{_WS},{_WS}{_NUMBER}){{4}}{_WS}\]"
_BOXES = re.compile(rf"{_WS}\[{_WS}(?:{_BOX}(?:{_WS},{_WS}{_BOX})*)?{_WS}\]{_WS}")


def check_localization(v: Violations, text: str, field: str = "localization") -> None:
    """Adds one violation on `field` when `text` is not empty and not a valid box list."""
    if not text:
        return
    problem = _problem(text)
    if problem:
        v.check(False, field, problem)


def _problem(text: str) -> str | None:
    if len(text) > MAX_LOCALIZATION_LENGTH:
        return f"must be at most {MAX_LOCALIZATION_LENGTH} characters"
    if not _BOXES.fullmatch(text):
        return f"must be empty or a JSON array of boxes {FORMAT}, five numbers each"
    try:
        boxes = json.loads(text)  # depth 2 and numbers only, as matched above
    except (ValueError, RecursionError):  # not expected after the match; never INTERNAL
        return f"must be empty or a JSON array of boxes {FORMAT}"
    if len(boxes) > MAX_BOXES:
        return f"must hold at most {MAX_BOXES} boxes"
    for index, box in enumerate(boxes):
        # 1e400 parses as inf and 1e1000 without a dot as an int: both fail the range.
        if not all(0 <= value <= 1 for value in box):
            return f"box {index}: every number must be in [0, 1] (coordinates relative to the picture)"
        xmin, ymin, xmax, ymax, _confidence = box
        if not (xmin < xmax and ymin < ymax):
            return f"box {index}: xmin must be below xmax and ymin below ymax"
    return None
