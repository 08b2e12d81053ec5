"""DetectionService RPCs of one area (events, alerts and notifications), mixed into DetectionServicer."""

from __future__ import annotations


class EventAlertRpcs:
    pass
