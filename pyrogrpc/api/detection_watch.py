"""DetectionService RPCs of one area (WatchAlerts), mixed into DetectionServicer."""

from __future__ import annotations


class WatchRpcs:
    pass
