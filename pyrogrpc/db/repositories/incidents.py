"""Incidents: fusion reads and writes (domain/incidents.py), the closer, lists."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, case, insert, select, update

from ...domain.paging import Page, PageRequest
from ...domain.read_models import IncidentEvent
from ..errors import translated_errors
from ..models import Alert, Device, Event, Group, Incident, IncidentChange, IncidentDetachment, UTCDateTime, table_of
from .base import Repository

_incidents = table_of(Incident)
_events = table_of(Event)
_alerts = table_of(Alert)
_devices = table_of(Device)
_groups = table_of(Group)
_changes = table_of(IncidentChange)
_detachments = table_of(IncidentDetachment)

OPEN = "open"
CLOSED = "closed"

# The event's latest alert's azimuth: the cone of an event without boxes (on ix_alerts_event_id).
_ALERT_AZIMUTH = (
    select(_alerts.c.azimuth)
    .where(_alerts.c.event_id == _events.c.id)
    .order_by(_alerts.c.id.desc())
    .limit(1)
    .scalar_subquery()
)
_EVENT_COLUMNS = select(
    _events.c.id,
    _events.c.group_id,
    _events.c.incident_id,
    _events.c.device_id,
    _events.c.lat,
    _events.c.lon,
    _events.c.azimuth,
    _events.c.cone_angle,
    _devices.c.angle_of_view,
    _ALERT_AZIMUTH.label("alert_azimuth"),
    _events.c.start_time,
    _events.c.last_seen_time,
).outerjoin(_devices, _devices.c.id == _events.c.device_id)
if tuple(_EVENT_COLUMNS.selected_columns.keys()) != IncidentEvent._fields:
    raise RuntimeError("IncidentEvent must list the columns of _EVENT_COLUMNS in order")
_GET_EVENT = _EVENT_COLUMNS.where(_events.c.id == bindparam("p_id"))
# last_seen_time only moves forward, and only on an open incident (the closer may have won).
_SEE_AGAIN = (
    update(_incidents)
    .where(
        _incidents.c.id
        == select(_events.c.incident_id).where(_events.c.id == bindparam("p_event_id")).scalar_subquery(),
        _incidents.c.status == OPEN,
    )
    .values(
        last_seen_time=case(
            (
                _incidents.c.last_seen_time < bindparam("p_when", type_=UTCDateTime),
                bindparam("p_when", type_=UTCDateTime),
            ),
            else_=_incidents.c.last_seen_time,
        )
    )
)
_INSERT_CHANGE = insert(_changes)


class IncidentRepository(Repository[Incident]):
    model = Incident

    async def lock_group(self, group_id: int) -> bool:
        # FOR NO KEY UPDATE on PostgreSQL: it serializes fusions of the group, yet never waits
        # for (nor blocks) the alert transactions, whose inserts take FOR KEY SHARE on the group
        # row through their foreign keys (FOR UPDATE would conflict with those). SQLite already
        # holds the database write lock (BEGIN IMMEDIATE).
        query = select(_groups.c.id).where(_groups.c.id == group_id).with_for_update(key_share=True)
        return (await self.session.execute(query)).first() is not None

    async def event(self, event_id: int) -> IncidentEvent | None:
        row = (await self.session.execute(_GET_EVENT, {"p_id": event_id})).first()
        return None if row is None else IncidentEvent._make(row)

    async def events_of(self, incident_ids: Sequence[int]) -> list[IncidentEvent]:
        if not incident_ids:
            return []
        query = _EVENT_COLUMNS.where(_events.c.incident_id.in_(incident_ids)).order_by(_events.c.id)
        return list(map(IncidentEvent._make, (await self.session.execute(query)).all()))

    async def open_of_group(self, group_id: int, *, seen_since: datetime) -> list[Incident]:
        query = (
            select(Incident)
            .where(Incident.group_id == group_id, Incident.status == OPEN, Incident.last_seen_time >= seen_since)
            .order_by(Incident.id)
        )
        return list((await self.session.execute(query)).scalars().all())

    async def assign(self, event_ids: Sequence[int], incident_id: int | None) -> None:
        if not event_ids:
            return
        async with translated_errors():
            await self.session.execute(
                update(_events).where(_events.c.id.in_(event_ids)).values(incident_id=incident_id)
            )

    async def detach(self, incident_id: int, event_id: int, now: datetime) -> None:
        async with translated_errors():
            await self.session.execute(
                insert(_detachments).values(incident_id=incident_id, event_id=event_id, create_time=now)
            )

    async def detachments(self, event_ids: Sequence[int]) -> set[tuple[int, int]]:
        if not event_ids:
            return set()
        query = select(_detachments.c.event_id, _detachments.c.incident_id).where(
            _detachments.c.event_id.in_(event_ids)
        )
        return {(row.event_id, row.incident_id) for row in await self.session.execute(query)}

    async def record_change(self, incident_id: int, group_id: int, kind: str, now: datetime) -> None:
        # Flush the tracked incidents first: the change row must follow the rows it describes.
        async with translated_errors():
            await self.session.flush()
            await self.session.execute(
                _INSERT_CHANGE, {"incident_id": incident_id, "group_id": group_id, "kind": kind, "change_time": now}
            )

    async def see_again(self, event_id: int, when: datetime) -> bool:
        return bool(await self._execute(_SEE_AGAIN, {"p_event_id": event_id, "p_when": when}))

    async def unfused(self, *, seen_since: datetime, limit: int) -> list[tuple[int, int]]:
        query = (
            select(_events.c.group_id, _events.c.id)
            .where(
                _events.c.incident_id.is_(None),
                _events.c.device_id.is_not(None),
                _events.c.last_seen_time >= seen_since,
            )
            .order_by(_events.c.id)
            .limit(limit)
        )
        return [(row.group_id, row.id) for row in await self.session.execute(query)]

    async def groups_with_overdue(self, cutoff: datetime) -> list[int]:
        query = (
            select(_incidents.c.group_id)
            .where(_incidents.c.status == OPEN, _incidents.c.last_seen_time < cutoff)
            .distinct()
        )
        return list((await self.session.execute(query)).scalars().all())

    async def close_overdue(self, group_id: int, cutoff: datetime, now: datetime) -> list[int]:
        # The WHERE re-checks status: of two replicas closing at once, only one closes a row.
        statement = (
            update(_incidents)
            .where(
                _incidents.c.group_id == group_id,
                _incidents.c.status == OPEN,
                _incidents.c.last_seen_time < cutoff,
            )
            .values(status=CLOSED, close_time=now)
            .returning(_incidents.c.id)
        )
        async with translated_errors():
            return sorted((await self.session.execute(statement)).scalars().all())

    async def list_incidents(
        self,
        page: PageRequest,
        *,
        group_id: int | None,
        only_group_id: int | None = None,
        seen_since: datetime | None = None,
        started_before: datetime | None = None,
        open_only: bool = False,
    ) -> Page[Incident]:
        conditions = []
        if only_group_id is not None:
            conditions.append(Incident.group_id == only_group_id)
        if seen_since is not None:
            conditions.append(Incident.last_seen_time >= seen_since)
        if started_before is not None:
            conditions.append(Incident.start_time < started_before)
        if open_only:
            conditions.append(Incident.status == OPEN)
        return await self._list(page, *conditions, group_id=group_id)
