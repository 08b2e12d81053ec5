"""Events, media, alerts and notifications."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, Select, String, bindparam, case, delete, insert, or_, select, update

from ...domain import read_models
from ...domain.geometry import decode_detections
from ...domain.paging import Page, PageRequest
from ...domain.sequences import OpenEvent
from ..errors import translated_errors
from ..models import Alert, Device, Event, Media, Notification, UTCDateTime, table_of
from .base import Repository, bound_values

# Core tables: the hot paths (camera workflow, lists) build plain statements on these and get
# Rows back, skipping the ORM's unit of work and identity map (see docs/performance.md).
_alerts = table_of(Alert)
_events = table_of(Event)
_media = table_of(Media)
_devices = table_of(Device)

# Hot-path statements are built once, with bind parameters: a statement object computes its
# cache key once, instead of on every call (~25% of the CPU of executing a short statement).
if tuple(_alerts.c.keys()) != read_models.Alert._fields:  # lists select the table's columns in order
    raise RuntimeError("read_models.Alert must list the alerts table's columns in table order")
_INSERT_MEDIA_OF_DEVICE = (
    insert(_media)
    .from_select(
        ["device_id", "group_id", "type", "create_time"],
        select(
            _devices.c.id, _devices.c.group_id, bindparam("p_type", type_=String), bindparam("p_now", type_=UTCDateTime)
        ).where(_devices.c.access_id == bindparam("p_access_id")),
    )
    .returning(*_media.c)
)
_MEDIA_OF_DEVICE = (
    select(*_media.c)
    .join(_devices, _devices.c.id == _media.c.device_id)
    .where(
        _media.c.id == bindparam("p_media_id"),
        _devices.c.access_id == bindparam("p_access_id"),
        _media.c.group_id == _devices.c.group_id,
    )
)
# What an upload sets (every one given, None for "not known"): one SET clause, compiled once.
_CONTENT_COLUMNS = (
    "bucket_key",
    "size_bytes",
    "sha256",
    "content_type",
    "upload_request_id",
    "upload_request_digest",
    "width",
    "height",
)
_SET_CONTENT = (
    update(_media)
    .where(_media.c.id == bindparam("p_media_id"), _media.c.bucket_key.is_(None))
    .values(bound_values(_media, _CONTENT_COLUMNS))
    .returning(*_media.c)
)
# Columns in the order of read_models.Alert's fields, so a row becomes a value with `_make`.
_ALERT_COLUMNS = select(*(_alerts.c[name] for name in read_models.Alert._fields))
_GET_ALERT = _ALERT_COLUMNS.where(_alerts.c.id == bindparam("p_id"))
_GET_ALERT_OF_GROUP = _GET_ALERT.where(_alerts.c.group_id == bindparam("p_group_id"))
_DELETE_ALERT = delete(_alerts).where(_alerts.c.id == bindparam("p_id"))
_LATEST_OF_DEVICE = (
    select(_alerts.c.create_time, _events.c.id.label("event_id"), _events.c.end_time)
    .join(_events, _events.c.id == _alerts.c.event_id)
    .where(_alerts.c.device_id == bindparam("p_device_id"))
    .order_by(_alerts.c.id.desc())
    .limit(1)
)


# Boxed alerts: the device's open events seen within the relaxation window (few rows, on
# ix_events_device_id_last_seen_time), with what grouping matches against.
_OPEN_OF_DEVICE = select(
    _events.c.id, _events.c.pose_id, _events.c.last_seen_time, _events.c.latest_boxes, _events.c.max_confidence
).where(
    _events.c.device_id == bindparam("p_device_id"),
    _events.c.last_seen_time >= bindparam("p_since", type_=UTCDateTime),
    _events.c.last_seen_time <= bindparam("p_until", type_=UTCDateTime),
    _events.c.end_time.is_(None),
    _events.c.latest_boxes.is_not(None),
)
# An alert without boxes joining an event: last_seen_time only moves forward.
_SEE_AGAIN = (
    update(_events)
    .where(_events.c.id == bindparam("p_event_id"))
    .values(
        last_seen_time=case(
            (
                or_(
                    _events.c.last_seen_time.is_(None),
                    _events.c.last_seen_time < bindparam("p_when", type_=UTCDateTime),
                ),
                bindparam("p_when", type_=UTCDateTime),
            ),
            else_=_events.c.last_seen_time,
        )
    )
)


class EventRepository(Repository[Event]):
    model = Event

    async def open_of_device(self, device_id: int, *, since: datetime, until: datetime) -> list[OpenEvent]:
        params = {"p_device_id": device_id, "p_since": since, "p_until": until}
        rows = await self._all_rows(_OPEN_OF_DEVICE, params)
        return [
            OpenEvent(
                id=row.id,
                pose_id=row.pose_id,
                last_seen_time=row.last_seen_time,
                latest_boxes=tuple(d.box for d in decode_detections(row.latest_boxes)),
                max_confidence=row.max_confidence,
            )
            for row in rows
        ]

    async def update_sequence(self, event_id: int, **values: Any) -> None:
        params = {"p_event_id": event_id, **{f"p_{name}": value for name, value in values.items()}}
        await self._execute(_update_event(frozenset(values)), params)

    async def see_again(self, event_id: int, when: datetime) -> None:
        await self._execute(_SEE_AGAIN, {"p_event_id": event_id, "p_when": when})

    async def list_events(
        self, page: PageRequest, *, group_id: int | None, only_group_id: int | None = None, label: str | None = None
    ) -> Page[Event]:
        conditions = []
        if only_group_id is not None:
            conditions.append(Event.group_id == only_group_id)
        if label is not None:
            conditions.append(Event.label == label)
        return await self._list(page, *conditions, group_id=group_id)

    async def list_unlabeled(self, page: PageRequest, *, group_id: int | None = None) -> Page[Event]:
        return await self._list(page, Event.label.is_(None), group_id=group_id)

    async def insert(self, **values: Any) -> int:
        """Insert one event (Core, no ORM flush); its id."""
        return await self._insert(values)

    async def list_past(self, page: PageRequest, *, group_id: int | None = None) -> Page[Event]:
        return await self._list(page, Event.end_time.is_not(None), group_id=group_id)

    async def list_unacknowledged(self, page: PageRequest, *, group_id: int | None = None) -> Page[Event]:
        return await self._list(page, Event.is_acknowledged.is_(False), group_id=group_id)


class MediaRepository(Repository[Media]):
    model = Media

    async def list_media(
        self, page: PageRequest, *, group_id: int | None, only_group_id: int | None = None
    ) -> Page[Media]:
        """`group_id` is the caller's visibility (None: every group); `only_group_id` the request's
        filter, which can only narrow it."""
        conditions = [] if only_group_id is None else [Media.group_id == only_group_id]
        return await self._list(page, *conditions, group_id=group_id)

    async def add_for_device(self, access_id: int, media_type: str, now: datetime) -> SimpleNamespace | None:
        """A new media of the device of `access_id`, in the device's group, in one statement
        (INSERT ... SELECT ... RETURNING); None when that access has no device."""
        params = {"p_access_id": access_id, "p_type": media_type, "p_now": now}
        async with translated_errors():
            return await self._first_record(_INSERT_MEDIA_OF_DEVICE, params)

    async def get_of_device(self, media_id: int, access_id: int) -> SimpleNamespace | None:
        """The media if it belongs to the device of `access_id` (so to its group too), as a record."""
        params = {"p_media_id": media_id, "p_access_id": access_id}
        return await self._first_record(_MEDIA_OF_DEVICE, params)

    async def set_content(self, media_id: int, **content: Any) -> SimpleNamespace | None:
        """Set the uploaded content's columns if the media is not uploaded yet, locking its row
        until the commit; the updated media, or None when it is missing or already uploaded."""
        params = {"p_media_id": media_id, **{f"p_{name}": content[name] for name in _CONTENT_COLUMNS}}
        async with translated_errors():
            return await self._first_record(_SET_CONTENT, params)


class AlertRepository(Repository[Alert]):
    """Alerts come back as `read_models.Alert` values (never ORM objects): Core statements
    select the columns in the read model's field order and rows become values with `_make`."""

    model = Alert
    list_rows = True  # lists are read-only pages, built from plain rows

    def _row_type(self) -> type[read_models.Alert]:
        return read_models.Alert

    async def get(  # type: ignore[override]
        self, alert_id: int, *, group_id: int | None = None
    ) -> read_models.Alert | None:
        params = {"p_id": alert_id} if group_id is None else {"p_id": alert_id, "p_group_id": group_id}
        rows = await self._all_rows(_GET_ALERT if group_id is None else _GET_ALERT_OF_GROUP, params)
        return read_models.Alert._make(rows[0]) if rows else None

    async def delete(self, alert_id: int) -> None:  # type: ignore[override]
        async with translated_errors():
            await self.session.execute(_DELETE_ALERT, {"p_id": alert_id})

    async def latest_of_device(self, device_id: int) -> read_models.AlertOfDevice | None:
        """The device's latest alert: its create_time, event_id and its event's end_time (one
        join: event grouping needs both)."""
        rows = await self._all_rows(_LATEST_OF_DEVICE, {"p_device_id": device_id})
        return read_models.AlertOfDevice(*rows[0]) if rows else None

    async def first_of_event(self, event_id: int) -> read_models.Alert | None:
        """The alert that opened the event, or None."""
        query = _ALERT_COLUMNS.where(_alerts.c.event_id == event_id).order_by(_alerts.c.id).limit(1)
        row = (await self.session.execute(query)).first()
        return None if row is None else read_models.Alert._make(row)

    async def insert(self, **values: Any) -> int:
        """Insert one alert (Core, no ORM flush); its id."""
        return await self._insert(values)

    async def list_alerts(
        self, page: PageRequest, *, group_id: int | None, only_group_id: int | None = None
    ) -> Page[read_models.Alert]:
        """`group_id` is the caller's visibility (None: every group); `only_group_id` the request's
        filter, which can only narrow it."""
        conditions = [] if only_group_id is None else [_alerts.c.group_id == only_group_id]
        return await self._list(page, *conditions, group_id=group_id)

    async def list_of_event(self, page: PageRequest, event_id: int) -> Page[read_models.Alert]:
        return await self._list(page, _alerts.c.event_id == event_id)

    async def list_ongoing(self, page: PageRequest, *, group_id: int | None = None) -> Page[read_models.Alert]:
        """Alerts whose event has no end_time."""
        ongoing = select(_events.c.id).where(_events.c.end_time.is_(None))
        return await self._list(page, _alerts.c.event_id.in_(ongoing), group_id=group_id)

    # --- WatchAlerts (issue 6) ---------------------------------------------------------

    async def after(
        self, alert_id: int, *, up_to: int | None = None, group_id: int | None = None, limit: int = 500
    ) -> Sequence[read_models.Alert]:
        """Alerts with `alert_id < id <= up_to`, oldest first: the watch hub's wake-up query and replays."""
        # Suppressed alerts are returned too (the hub skips them): leaving them out would
        # look like gaps of uncommitted ids, each held until a pg_locks checkpoint settles it.
        params = {"p_after": alert_id, "p_up_to": up_to, "p_group_id": group_id, "p_limit": limit}
        rows = await self._all_rows(_alerts_after(up_to is not None, group_id is not None), params)
        return list(map(read_models.Alert._make, rows))


@cache
def _update_event(names: frozenset[str]) -> Any:
    """EventRepository.update_sequence's statement, built once per set of columns."""
    return update(_events).where(_events.c.id == bindparam("p_event_id")).values(bound_values(_events, sorted(names)))


@cache
def _alerts_after(up_to: bool, by_group: bool) -> Select[Any]:
    """AlertRepository.after's statement, built once per shape (the watch hub runs it after
    every commit of an alert, on the driver on PostgreSQL)."""
    query = _ALERT_COLUMNS.where(_alerts.c.id > bindparam("p_after"))
    if up_to:
        query = query.where(_alerts.c.id <= bindparam("p_up_to"))
    if by_group:
        query = query.where(_alerts.c.group_id == bindparam("p_group_id"))
    return query.order_by(_alerts.c.id).limit(bindparam("p_limit"))


class NotificationRepository(Repository[Notification]):
    model = Notification

    def _select(self) -> Select[Notification]:
        return select(Notification).join(Alert, Alert.id == Notification.alert_id)

    def _group_condition(self, group_id: int) -> ColumnElement[bool]:
        return Alert.group_id == group_id
