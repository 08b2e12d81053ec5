"""Whether a camera is online: it sent a heartbeat within the configured window."""

from __future__ import annotations

from datetime import datetime, timedelta


def is_online(last_ping_time: datetime | None, now: datetime, window: timedelta) -> bool:
    """A clock step back (last ping "in the future") still counts as online."""
    return last_ping_time is not None and now - last_ping_time <= window
