"""Time as the domain reads it: aware UTC datetimes for rows, a monotonic clock for timers."""

from __future__ import annotations

import time
from datetime import UTC, datetime

monotonic = time.monotonic


def utcnow() -> datetime:
    return datetime.now(UTC)
